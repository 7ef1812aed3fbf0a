use async_trait::async_trait;
use shiming_vault::ct_eq;

use super::{write, PgStore, Tx};
use crate::{CodeStore, CodeTry, NewCode, RateLimit, RateStore, Result, StoreError, Tried};

/// Checks every limit, then counts a hit in each, by the rules of
/// [`crate::limits`], inside the caller's transaction.
///
/// Each key's count row is locked first (created if missing), keys in one
/// order, so a take on any node waits for another take of the same key to
/// commit: parallel takes cannot both get the last slot, and two takes of
/// the same keys never deadlock.
pub(super) async fn take_limits(tx: &mut Tx<'_>, limits: &[RateLimit]) -> Result<()> {
    let mut ordered: Vec<&RateLimit> = limits.iter().collect();
    ordered.sort_by(|a, b| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
    for l in ordered.iter().copied() {
        // The no-op update locks an existing row and returns its count.
        let mut hits: i32 = sqlx::query_scalar(
            "INSERT INTO rate_counts (bucket, key, hits, newest) VALUES ($1, $2, 0, $3) \
             ON CONFLICT (bucket, key) DO UPDATE SET hits = rate_counts.hits RETURNING hits",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.now)
        .fetch_one(&mut *tx.conn)
        .await?;
        if !l.is_full(hits.into()) {
            continue;
        }
        let left: Option<i64> = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM rate_hits WHERE bucket = $1 AND key = $2 AND at <= $3 RETURNING hits) \
             SELECT SUM(hits)::BIGINT FROM gone",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.expired_through())
        .fetch_one(&mut *tx.conn)
        .await?;
        let left = left.unwrap_or(0) as i32;
        if left > 0 {
            sqlx::query("UPDATE rate_counts SET hits = hits - $1 WHERE bucket = $2 AND key = $3")
                .bind(left)
                .bind(&l.bucket)
                .bind(&l.key)
                .execute(&mut *tx.conn)
                .await?;
            hits -= left;
        }
        if l.is_full(hits.into()) {
            let oldest: Option<i64> =
                sqlx::query_scalar("SELECT MIN(at) FROM rate_hits WHERE bucket = $1 AND key = $2")
                    .bind(&l.bucket)
                    .bind(&l.key)
                    .fetch_one(&mut *tx.conn)
                    .await?;
            return Err(l.refusal(oldest));
        }
    }
    for l in ordered {
        sqlx::query(
            "INSERT INTO rate_hits (bucket, key, at, hits) VALUES ($1, $2, $3, 1) \
             ON CONFLICT (bucket, key, at) DO UPDATE SET hits = rate_hits.hits + 1",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.now)
        .execute(&mut *tx.conn)
        .await?;
        sqlx::query(
            "UPDATE rate_counts SET hits = hits + 1, newest = GREATEST(newest, $3) WHERE bucket = $1 AND key = $2",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.now)
        .execute(&mut *tx.conn)
        .await?;
    }
    Ok(())
}

/// Removes one hit of each limit, counted at the limit's `now`.
async fn give_back_limits(tx: &mut Tx<'_>, limits: &[RateLimit]) -> Result<()> {
    for l in limits {
        let left: Option<i32> = sqlx::query_scalar(
            "UPDATE rate_hits SET hits = hits - 1 WHERE bucket = $1 AND key = $2 AND at = $3 AND hits > 0 RETURNING hits",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.now)
        .fetch_optional(&mut *tx.conn)
        .await?;
        let Some(left) = left else { continue };
        if left == 0 {
            sqlx::query("DELETE FROM rate_hits WHERE bucket = $1 AND key = $2 AND at = $3")
                .bind(&l.bucket)
                .bind(&l.key)
                .bind(l.now)
                .execute(&mut *tx.conn)
                .await?;
        }
        sqlx::query("UPDATE rate_counts SET hits = hits - 1 WHERE bucket = $1 AND key = $2")
            .bind(&l.bucket)
            .bind(&l.key)
            .execute(&mut *tx.conn)
            .await?;
    }
    Ok(())
}

#[async_trait]
impl RateStore for PgStore {
    async fn take(&self, limits: &[RateLimit]) -> Result<()> {
        write!(self, |tx| take_limits(tx, limits).await?)
    }
}

#[async_trait]
impl CodeStore for PgStore {
    async fn issue_code(&self, code: NewCode, limits: &[RateLimit]) -> Result<i64> {
        let code = &code;
        write!(self, |tx| {
            take_limits(tx, limits).await?;
            // A code of an account (a step-up, a phone change) locks it in
            // the order every commit does: before its codes and changes.
            if let Some(account_id) = &code.account_id {
                super::accounts::lock_account(tx.conn, account_id).await?;
            }
            // Only the newest code of a phone, purpose and holder works.
            sqlx::query(
                "UPDATE sms_codes SET consumed_at = $1 WHERE phone_hash = $2 AND purpose = $3 \
                 AND account_id IS NOT DISTINCT FROM $4 AND session_id IS NOT DISTINCT FROM $5 AND consumed_at IS NULL",
            )
            .bind(code.created_at)
            .bind(&code.phone_hash)
            .bind(code.purpose.as_str())
            .bind(&code.account_id)
            .bind(&code.session_id)
            .execute(&mut *tx.conn)
            .await?;
            if let Some(message) = &code.outbox {
                super::outbox::push(tx.conn, message).await?;
            }
            if let Some(change) = &code.opens {
                super::rebind::open(tx, change).await?;
            }
            let id: i64 = sqlx::query_scalar(
                "INSERT INTO sms_codes (account_id, session_id, phone_hash, purpose, code_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
            )
            .bind(&code.account_id)
            .bind(&code.session_id)
            .bind(&code.phone_hash)
            .bind(code.purpose.as_str())
            .bind(&code.code_hash)
            .bind(code.created_at)
            .bind(code.expires_at)
            .fetch_one(&mut *tx.conn)
            .await?;
            id
        })
    }

    async fn discard_code(&self, id: i64, limits: &[RateLimit]) -> Result<()> {
        write!(self, |tx| {
            sqlx::query("DELETE FROM sms_codes WHERE id = $1")
                .bind(id)
                .execute(&mut *tx.conn)
                .await?;
            give_back_limits(tx, limits).await?;
        })
    }

    async fn take_try(&self, t: CodeTry) -> Result<Tried> {
        let t = &t;
        write!(self, |tx| try_code(tx, t).await?)
    }
}

/// Counts a try on the live code, compares, and uses a match up (see
/// [`CodeStore::take_try`]), in the caller's transaction.
pub(super) async fn try_code(tx: &mut Tx<'_>, t: &CodeTry) -> Result<Tried> {
    take_limits(tx, &t.limits).await?;
    let (account_id, session_id) = match &t.holder {
        Some(h) => (Some(h.account_id.as_str()), Some(h.session_id.as_str())),
        None => (None, None),
    };
    // One statement finds the newest live code, locks it and counts the try
    // on it. A try that waited for another's lock sees that try's count (and
    // its use) before it counts its own, so no more than `max_attempts`
    // guesses are ever compared with a code, whichever nodes they reach.
    let row: Option<(i64, Vec<u8>, i32)> = sqlx::query_as(
        "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = (\
             SELECT id FROM sms_codes WHERE phone_hash = $1 AND purpose = $2 AND account_id IS NOT DISTINCT FROM $3 \
             AND session_id IS NOT DISTINCT FROM $6 AND consumed_at IS NULL AND expires_at > $4 AND attempts < $5 \
             ORDER BY id DESC LIMIT 1 FOR UPDATE) \
         AND consumed_at IS NULL AND attempts < $5 RETURNING id, code_hash, attempts",
    )
    .bind(&t.phone_hash)
    .bind(t.purpose.as_str())
    .bind(account_id)
    .bind(t.now)
    .bind(i64::from(t.max_attempts))
    .bind(session_id)
    .fetch_optional(&mut *tx.conn)
    .await?;
    let Some((id, code_hash, attempts)) = row else {
        return Ok(Tried::NoCode);
    };
    if !ct_eq(&t.typed_hash, &code_hash) {
        return Ok(Tried::Wrong {
            attempts: attempts as u32,
        });
    }
    // Locked a statement ago, in this transaction: it is used up now.
    consume_code(tx, id, t.now, &t.limits).await?;
    let then = match take_limits(tx, &t.then).await {
        Ok(()) => Ok(()),
        Err(e @ StoreError::RateLimited { .. }) => Err(e),
        Err(e) => return Err(e),
    };
    Ok(Tried::UsedUp { then })
}

/// Tries the code of a commit it proves: `None` when it was used up and
/// the commit goes on, the refusal otherwise (only the try is counted).
pub(super) async fn prove(tx: &mut Tx<'_>, t: &CodeTry) -> Result<Option<Tried>> {
    Ok(match try_code(tx, t).await? {
        Tried::UsedUp { then: Ok(()) } => None,
        refused => Some(refused),
    })
}

/// Uses up a live code and gives back `give_back`.
async fn consume_code(tx: &mut Tx<'_>, id: i64, at: i64, give_back: &[RateLimit]) -> Result<()> {
    let done =
        sqlx::query("UPDATE sms_codes SET consumed_at = $1 WHERE id = $2 AND consumed_at IS NULL AND expires_at > $1")
            .bind(at)
            .bind(id)
            .execute(&mut *tx.conn)
            .await?
            .rows_affected();
    if done == 1 {
        give_back_limits(tx, give_back).await?;
    }
    Ok(())
}
