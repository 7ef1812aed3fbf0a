use async_trait::async_trait;
use shiming_vault::ct_eq;

use super::{write, PgStore, Tx};
use crate::{CodeStore, CodeTry, NewCode, RateLimit, RateStore, Result, StoreError, Tried};

/// Checks every limit, then counts a hit in each one `counted`, by the rules
/// of [`crate::limits`], inside the caller's transaction: called by
/// [`write!`] at the end of every transaction, for the limits it queued
/// ([`Tx::limit`], [`Tx::check`]), so that they are decided with everything
/// else the transaction does, committed whole or refused whole.
///
/// Each key's count row is locked (created if missing), keys in one order,
/// so a take on any node waits for another take of the same key to commit:
/// parallel takes cannot both get the last slot, and two takes of the same
/// keys never deadlock. Taken last, a key's row is held only for these
/// statements and the commit: a key every request shares (one client
/// address behind a NAT) would otherwise hold every transaction of it
/// behind the one before, for all of its round trips.
pub(super) async fn take_limits(tx: &mut Tx<'_>, limits: &[(RateLimit, bool)]) -> Result<()> {
    let mut ordered: Vec<&(RateLimit, bool)> = limits.iter().collect();
    ordered.sort_by(|(a, _), (b, _)| (&a.bucket, &a.key).cmp(&(&b.bucket, &b.key)));
    // A refusal rolls back the transaction (or the savepoint of
    // [`take_now`]): the hits counted before it in other limits go too.
    for (l, counted) in ordered.iter().copied() {
        // One statement in the common case: lock the key's row (made if
        // missing) and, when it has room, count the hit in it and in its
        // second. `NULL` when it is full: then see what left the window.
        let room: Option<i32> = sqlx::query_scalar(
            "WITH counted AS (\
                 INSERT INTO rate_counts (bucket, key, hits, newest) SELECT $1, $2, $5::INTEGER, $3 WHERE $4 > 0 \
                 ON CONFLICT (bucket, key) DO UPDATE \
                 SET hits = rate_counts.hits + $5::INTEGER, newest = GREATEST(rate_counts.newest, $3) \
                 WHERE rate_counts.hits < $4 RETURNING hits), \
             second AS (\
                 INSERT INTO rate_hits (bucket, key, at, hits) SELECT $1, $2, $3, 1 \
                 WHERE $5 = 1 AND EXISTS (SELECT 1 FROM counted) \
                 ON CONFLICT (bucket, key, at) DO UPDATE SET hits = rate_hits.hits + 1) \
             SELECT hits FROM counted",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.now)
        .bind(i64::from(l.limit))
        .bind(i32::from(*counted))
        .fetch_optional(&mut *tx.conn)
        .await?;
        if room.is_some() {
            continue;
        }
        // Full as counted: the seconds that left the window go, then look again.
        let left: Option<i64> = sqlx::query_scalar(
            "WITH gone AS (DELETE FROM rate_hits WHERE bucket = $1 AND key = $2 AND at <= $3 RETURNING hits) \
             SELECT SUM(hits)::BIGINT FROM gone",
        )
        .bind(&l.bucket)
        .bind(&l.key)
        .bind(l.expired_through())
        .fetch_one(&mut *tx.conn)
        .await?;
        // No row: a limit of 0 on a key never counted.
        let hits: i32 =
            sqlx::query_scalar("UPDATE rate_counts SET hits = hits - $1 WHERE bucket = $2 AND key = $3 RETURNING hits")
                .bind(left.unwrap_or(0) as i32)
                .bind(&l.bucket)
                .bind(&l.key)
                .fetch_optional(&mut *tx.conn)
                .await?
                .unwrap_or(0);
        if l.is_full(hits.into()) {
            let oldest: Option<i64> =
                sqlx::query_scalar("SELECT MIN(at) FROM rate_hits WHERE bucket = $1 AND key = $2")
                    .bind(&l.bucket)
                    .bind(&l.key)
                    .fetch_one(&mut *tx.conn)
                    .await?;
            return Err(l.refusal(oldest));
        }
        if *counted {
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
        write!(self, |tx| tx.limit(limits))
    }
}

#[async_trait]
impl CodeStore for PgStore {
    async fn issue_code(&self, code: NewCode, limits: &[RateLimit]) -> Result<i64> {
        let code = &code;
        write!(self, |tx| {
            tx.limit(limits);
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
/// [`CodeStore::take_try`]), in the caller's transaction. The try's limits
/// are decided at the transaction's end ([`take_limits`]): a try that finds
/// them full is rolled back whole, counted nowhere, as if they had been
/// taken first; a match needs room in them but counts nothing (a match
/// gives its hit back).
pub(super) async fn try_code(tx: &mut Tx<'_>, t: &CodeTry) -> Result<Tried> {
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
        tx.limit(&t.limits);
        return Ok(Tried::NoCode);
    };
    if !ct_eq(&t.typed_hash, &code_hash) {
        tx.limit(&t.limits);
        return Ok(Tried::Wrong {
            attempts: attempts as u32,
        });
    }
    tx.check(&t.limits);
    // Locked a statement ago, in this transaction: it is used up now.
    sqlx::query("UPDATE sms_codes SET consumed_at = $1 WHERE id = $2")
        .bind(t.now)
        .bind(id)
        .execute(&mut *tx.conn)
        .await?;
    // Decided here, not at the end: its refusal is an answer, and the code
    // stays used up.
    let then = match take_now(tx, &t.then).await {
        Ok(()) => Ok(()),
        Err(e @ StoreError::RateLimited { .. }) => Err(e),
        Err(e) => return Err(e),
    };
    Ok(Tried::UsedUp { then })
}

/// Takes `limits` at once, within the transaction, in a savepoint: a
/// refusal counts nothing and leaves the transaction to go on.
pub(super) async fn take_now(tx: &mut Tx<'_>, limits: &[RateLimit]) -> Result<()> {
    let counted: Vec<(RateLimit, bool)> = limits.iter().map(|l| (l.clone(), true)).collect();
    sqlx::query("SAVEPOINT limits").execute(&mut *tx.conn).await?;
    let taken = take_limits(tx, &counted).await;
    if taken.is_err() {
        sqlx::query("ROLLBACK TO SAVEPOINT limits")
            .execute(&mut *tx.conn)
            .await?;
    }
    sqlx::query("RELEASE SAVEPOINT limits").execute(&mut *tx.conn).await?;
    taken
}

/// Tries the code of a commit it proves: `None` when it was used up and
/// the commit goes on, the refusal otherwise (only the try is counted).
pub(super) async fn prove(tx: &mut Tx<'_>, t: &CodeTry) -> Result<Option<Tried>> {
    Ok(match try_code(tx, t).await? {
        Tried::UsedUp { then: Ok(()) } => None,
        refused => Some(refused),
    })
}
