use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::worker::Tx;
use super::SqliteStore;
use shiming_vault::ct_eq;

use crate::{CodeStore, CodeTry, NewCode, RateLimit, RateStore, Result, StoreError, Tried};

/// Checks every limit, then counts a hit in each, by the rules of
/// [`crate::limits`]; inside the caller's write transaction, so parallel
/// callers cannot both take the last slot.
///
/// Each key's count is one row (`rate_counts`, always the sum of the key's
/// hits in `rate_hits`, which holds one row per key and second), so a take
/// costs the same whatever the limit and however busy the key. A key never
/// holds more rows than its limit.
pub(super) fn take_limits(tx: &Tx<'_>, limits: &[RateLimit]) -> Result<()> {
    for l in limits {
        let mut hits: i64 = tx
            .conn
            .prepare_cached("SELECT hits FROM rate_counts WHERE bucket = ? AND key = ?")?
            .query_row(params![l.bucket, l.key], |r| r.get(0))
            .optional()?
            .unwrap_or(0);
        if !l.is_full(hits) {
            continue;
        }
        let left: i64 = tx
            .conn
            .prepare_cached("DELETE FROM rate_hits WHERE bucket = ? AND key = ? AND at <= ? RETURNING hits")?
            .query_map(params![l.bucket, l.key, l.expired_through()], |r| r.get::<_, i64>(0))?
            .sum::<rusqlite::Result<i64>>()?;
        if left > 0 {
            tx.conn
                .prepare_cached("UPDATE rate_counts SET hits = hits - ? WHERE bucket = ? AND key = ?")?
                .execute(params![left, l.bucket, l.key])?;
            hits -= left;
        }
        if l.is_full(hits) {
            let oldest: Option<i64> = tx
                .conn
                .prepare_cached("SELECT at FROM rate_hits WHERE bucket = ? AND key = ? ORDER BY at LIMIT 1")?
                .query_row(params![l.bucket, l.key], |r| r.get(0))
                .optional()?;
            return Err(l.refusal(oldest));
        }
    }
    for l in limits {
        tx.conn
            .prepare_cached(
                "INSERT INTO rate_hits (bucket, key, at, hits) VALUES (?, ?, ?, 1) \
                 ON CONFLICT (bucket, key, at) DO UPDATE SET hits = hits + 1",
            )?
            .execute(params![l.bucket, l.key, l.now])?;
        tx.conn
            .prepare_cached(
                "INSERT INTO rate_counts (bucket, key, hits, newest) VALUES (?1, ?2, 1, ?3) \
                 ON CONFLICT (bucket, key) DO UPDATE SET hits = hits + 1, newest = MAX(newest, ?3)",
            )?
            .execute(params![l.bucket, l.key, l.now])?;
    }
    Ok(())
}

/// Removes one hit of each limit, counted at the limit's `now`.
fn give_back_limits(tx: &Tx<'_>, limits: &[RateLimit]) -> Result<()> {
    for l in limits {
        let left: Option<i64> = tx
            .conn
            .prepare_cached(
                "UPDATE rate_hits SET hits = hits - 1 WHERE bucket = ? AND key = ? AND at = ? AND hits > 0 RETURNING hits",
            )?
            .query_row(params![l.bucket, l.key, l.now], |r| r.get(0))
            .optional()?;
        let Some(left) = left else { continue };
        if left == 0 {
            tx.conn
                .prepare_cached("DELETE FROM rate_hits WHERE bucket = ? AND key = ? AND at = ?")?
                .execute(params![l.bucket, l.key, l.now])?;
        }
        tx.conn
            .prepare_cached("UPDATE rate_counts SET hits = hits - 1 WHERE bucket = ? AND key = ?")?
            .execute(params![l.bucket, l.key])?;
    }
    Ok(())
}

#[async_trait]
impl RateStore for SqliteStore {
    async fn take(&self, limits: &[RateLimit]) -> Result<()> {
        let limits = limits.to_vec();
        self.db.write(move |tx| take_limits(tx, &limits)).await
    }
}

#[async_trait]
impl CodeStore for SqliteStore {
    async fn issue_code(&self, code: NewCode, limits: &[RateLimit]) -> Result<i64> {
        let limits = limits.to_vec();
        self.db
            .write(move |tx| {
                take_limits(tx, &limits)?;
                // Only the newest code of a phone, purpose and holder works.
                tx.conn
                    .prepare_cached(
                        "UPDATE sms_codes SET consumed_at = ? WHERE phone_hash = ? AND purpose = ? AND account_id IS ? \
                         AND session_id IS ? AND consumed_at IS NULL",
                    )?
                    .execute(params![
                        code.created_at,
                        code.phone_hash,
                        code.purpose.as_str(),
                        code.account_id,
                        code.session_id
                    ])?;
                if let Some(message) = &code.outbox {
                    super::outbox::push(tx, message)?;
                }
                if let Some(change) = &code.opens {
                    super::rebind::open(tx, change)?;
                }
                Ok(tx
                    .conn
                    .prepare_cached(
                        "INSERT INTO sms_codes (account_id, session_id, phone_hash, purpose, code_hash, created_at, expires_at) \
                         VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING id",
                    )?
                    .query_row(
                        params![
                            code.account_id,
                            code.session_id,
                            code.phone_hash,
                            code.purpose.as_str(),
                            code.code_hash,
                            code.created_at,
                            code.expires_at
                        ],
                        |r| r.get(0),
                    )?)
            })
            .await
    }

    async fn discard_code(&self, id: i64, limits: &[RateLimit]) -> Result<()> {
        let limits = limits.to_vec();
        self.db
            .write(move |tx| {
                tx.conn
                    .prepare_cached("DELETE FROM sms_codes WHERE id = ?")?
                    .execute([id])?;
                give_back_limits(tx, &limits)
            })
            .await
    }

    async fn take_try(&self, t: CodeTry) -> Result<Tried> {
        self.db.write(move |tx| try_code(tx, &t)).await
    }
}

/// Counts a try on the live code, compares, and uses a match up (see
/// [`CodeStore::take_try`]), in the caller's transaction.
pub(super) fn try_code(tx: &Tx<'_>, t: &CodeTry) -> Result<Tried> {
    take_limits(tx, &t.limits)?;
    let (account_id, session_id) = match &t.holder {
        Some(h) => (Some(h.account_id.as_str()), Some(h.session_id.as_str())),
        None => (None, None),
    };
    // One statement finds the newest live code and counts the try on it, so
    // no more than `max_attempts` guesses are ever compared with it, however
    // many arrive at once.
    let row: Option<(i64, Vec<u8>, u32)> = tx
        .conn
        .prepare_cached(
            "UPDATE sms_codes SET attempts = attempts + 1 WHERE id = (\
                 SELECT id FROM sms_codes WHERE phone_hash = ?1 AND purpose = ?2 AND account_id IS ?3 \
                 AND session_id IS ?6 AND consumed_at IS NULL AND expires_at > ?4 AND attempts < ?5 \
                 ORDER BY id DESC LIMIT 1) \
             AND attempts < ?5 RETURNING id, code_hash, attempts",
        )?
        .query_row(
            params![
                t.phone_hash,
                t.purpose.as_str(),
                account_id,
                t.now,
                t.max_attempts,
                session_id
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, code_hash, attempts)) = row else {
        return Ok(Tried::NoCode);
    };
    if !ct_eq(&t.typed_hash, &code_hash) {
        return Ok(Tried::Wrong { attempts });
    }
    // Live a statement ago, in this transaction: it is used up now.
    consume_code(tx, id, t.now, &t.limits)?;
    let then = match take_limits(tx, &t.then) {
        Ok(()) => Ok(()),
        Err(e @ StoreError::RateLimited { .. }) => Err(e),
        Err(e) => return Err(e),
    };
    Ok(Tried::UsedUp { then })
}

/// Tries the code of a commit it proves: `None` when it was used up and
/// the commit goes on, the refusal otherwise (only the try is counted).
pub(super) fn prove(tx: &Tx<'_>, t: &CodeTry) -> Result<Option<Tried>> {
    Ok(match try_code(tx, t)? {
        Tried::UsedUp { then: Ok(()) } => None,
        refused => Some(refused),
    })
}

/// Uses up a live code and gives back `give_back`; false when it was used or
/// expired.
fn consume_code(tx: &Tx<'_>, id: i64, at: i64, give_back: &[RateLimit]) -> Result<bool> {
    let done = tx
        .conn
        .prepare_cached(
            "UPDATE sms_codes SET consumed_at = ?1 WHERE id = ?2 AND consumed_at IS NULL AND expires_at > ?1",
        )?
        .execute(params![at, id])?;
    if done == 1 {
        give_back_limits(tx, give_back)?;
    }
    Ok(done == 1)
}
