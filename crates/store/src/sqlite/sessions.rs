use std::sync::LazyLock;

use async_trait::async_trait;
use shiming_domain::{AccountState, Nature};
use sqlx::sqlite::SqliteRow;
use sqlx::Row;

use super::accounts::word;
use super::notices::insert_account_notice;
use super::{append_audit, SqliteStore};
use crate::{AuditDraft, NewSession, Result, SessionRecord, SessionStore};

const SESSION_COLUMNS: &str =
    "s.id, s.account_id, a.state, a.nature, s.user_agent, s.created_at, s.last_seen_at, s.expires_at, s.step_up_until \
     FROM sessions s JOIN accounts a ON a.id = s.account_id";

fn session(r: &SqliteRow) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: r.try_get("id")?,
        account_id: r.try_get("account_id")?,
        account_state: word(AccountState::parse, r.try_get("state")?)?,
        account_nature: word(Nature::parse, r.try_get("nature")?)?,
        user_agent: r.try_get("user_agent")?,
        created_at: r.try_get("created_at")?,
        last_seen_at: r.try_get("last_seen_at")?,
        expires_at: r.try_get("expires_at")?,
        step_up_until: r.try_get("step_up_until")?,
    })
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn create_session(&self, s: NewSession, audit: AuditDraft) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("INSERT INTO sessions (id, token_hash, account_id, user_agent, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
            .bind(&s.id)
            .bind(&s.token_hash[..])
            .bind(&s.account_id)
            .bind(&s.user_agent)
            .bind(s.created_at)
            .bind(s.created_at)
            .bind(s.expires_at)
            .execute(&mut *tx)
            .await?;
        if let Some(via) = &s.signed_in_with {
            let first = sqlx::query(
                "UPDATE credentials SET signed_in_at = ? WHERE account_id = ? AND kind = ? AND lookup_hash = ? \
                 AND signed_in_at IS NULL",
            )
            .bind(s.created_at)
            .bind(&s.account_id)
            .bind(via.notice.credential.as_str())
            .bind(&via.lookup_hash)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if first == 1 {
                insert_account_notice(&mut tx, &s.account_id, &via.notice, s.created_at).await?;
            }
        }
        append_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn session_by_token(&self, token_hash: &[u8]) -> Result<Option<SessionRecord>> {
        // The hot path: a statement built once, not per request.
        static BY_TOKEN: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {SESSION_COLUMNS} WHERE s.token_hash = ?"));
        let row = sqlx::query(BY_TOKEN.as_str())
            .bind(token_hash)
            .fetch_optional(&self.reads)
            .await?;
        row.as_ref().map(session).transpose()
    }

    async fn touch_sessions(&self, seen: &[(String, i64)]) -> Result<()> {
        if seen.is_empty() {
            return Ok(());
        }
        let mut tx = self.write().await?;
        for (id, at) in seen {
            // MAX keeps a late, older batch from moving last-seen backwards.
            sqlx::query("UPDATE sessions SET last_seen_at = MAX(last_seen_at, ?) WHERE id = ?")
                .bind(at)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn sessions_of(&self, account_id: &str) -> Result<Vec<SessionRecord>> {
        let rows = sqlx::query(&format!(
            "SELECT {SESSION_COLUMNS} WHERE s.account_id = ? ORDER BY s.created_at DESC, s.id"
        ))
        .bind(account_id)
        .fetch_all(&self.reads)
        .await?;
        rows.iter().map(session).collect()
    }

    async fn step_up(&self, session_id: &str, until: i64, audit: AuditDraft) -> Result<()> {
        let mut tx = self.write().await?;
        sqlx::query("UPDATE sessions SET step_up_until = ? WHERE id = ?")
            .bind(until)
            .bind(session_id)
            .execute(&mut *tx)
            .await?;
        append_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn revoke_session(&self, account_id: &str, session_id: &str, audit: AuditDraft) -> Result<bool> {
        let mut tx = self.write().await?;
        let gone = sqlx::query("DELETE FROM sessions WHERE id = ? AND account_id = ?")
            .bind(session_id)
            .bind(account_id)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if gone == 0 {
            return Ok(false);
        }
        append_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn revoke_other_sessions(&self, account_id: &str, keep: &str, audit: AuditDraft) -> Result<u64> {
        let mut tx = self.write().await?;
        let gone = sqlx::query("DELETE FROM sessions WHERE account_id = ? AND id <> ?")
            .bind(account_id)
            .bind(keep)
            .execute(&mut *tx)
            .await?
            .rows_affected();
        let mut audit = audit;
        if let Some(details) = audit.details.as_object_mut() {
            details.insert("revoked".into(), gone.into());
        }
        append_audit(&mut tx, &audit).await?;
        tx.commit().await?;
        Ok(gone)
    }
}
