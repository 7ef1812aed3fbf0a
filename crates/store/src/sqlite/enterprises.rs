use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use shiming_domain::Role;

use super::{append_audit, SqliteStore};
use crate::error::word;
use crate::rows::{self, MEMBERSHIP_COLUMNS, MEMBER_COLUMNS, MEMBER_ORDER};
use crate::{AuditDraft, EnterpriseStore, Left, MemberCursor, MemberRecord, Membership, NewEnterprise, Result};

#[async_trait]
impl EnterpriseStore for SqliteStore {
    async fn create_enterprise(&self, e: NewEnterprise) -> Result<()> {
        self.db
            .write(move |tx| {
                tx.conn
                    .prepare_cached("INSERT INTO enterprises (id, name, created_at) VALUES (?, ?, ?)")?
                    .execute(params![e.id, e.name, e.at])?;
                tx.conn
                    .prepare_cached(
                        "INSERT INTO memberships (enterprise_id, account_id, role, joined_at) VALUES (?, ?, ?, ?)",
                    )?
                    .execute(params![e.id, e.owner, Role::Owner.as_str(), e.at])?;
                append_audit(tx, &e.audit)
            })
            .await
    }

    async fn rename_enterprise(&self, id: &str, actor: &str, name: &str, audit: AuditDraft) -> Result<bool> {
        let (id, actor, name) = (id.to_owned(), actor.to_owned(), name.to_owned());
        self.db
            .write(move |tx| {
                let renamed = tx
                    .conn
                    .prepare_cached(
                        "UPDATE enterprises SET name = ? WHERE id = ? AND EXISTS (SELECT 1 FROM memberships \
                         WHERE enterprise_id = ? AND account_id = ? AND role IN ('owner', 'admin'))",
                    )?
                    .execute(params![name, id, id, actor])?;
                if renamed == 1 {
                    append_audit(tx, &audit)?;
                }
                Ok(renamed == 1)
            })
            .await
    }

    async fn membership(&self, enterprise_id: &str, account_id: &str) -> Result<Option<Membership>> {
        static ONE: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {MEMBERSHIP_COLUMNS} WHERE m.enterprise_id = ? AND m.account_id = ?"));
        self.db.read(|conn| {
            conn.prepare_cached(ONE.as_str())?
                .query_row([enterprise_id, account_id], |r| Ok(rows::membership(r)))
                .optional()?
                .transpose()
        })
    }

    async fn memberships_of(&self, account_id: &str) -> Result<Vec<Membership>> {
        static OF: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {MEMBERSHIP_COLUMNS} WHERE m.account_id = ? ORDER BY m.joined_at, e.id"));
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(OF.as_str())?;
            let found = stmt.query_map([account_id], |r| Ok(rows::membership(r)))?;
            found.map(|r| r?).collect()
        })
    }

    async fn members(
        &self,
        enterprise_id: &str,
        after: Option<&MemberCursor>,
        limit: u32,
    ) -> Result<Vec<MemberRecord>> {
        static PAGE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {MEMBER_COLUMNS} WHERE m.enterprise_id = ? AND (m.joined_at, m.account_id) > (?, ?) \
                 {MEMBER_ORDER} LIMIT ?"
            )
        });
        let (joined_at, account_id) = MemberCursor::start(after);
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(PAGE.as_str())?;
            let found = stmt.query_map(params![enterprise_id, joined_at, account_id, limit], |r| {
                Ok(rows::member(r))
            })?;
            found.map(|r| r?).collect()
        })
    }

    async fn leave_enterprise(&self, enterprise_id: &str, account_id: &str, audit: AuditDraft) -> Result<Left> {
        let (enterprise_id, account_id) = (enterprise_id.to_owned(), account_id.to_owned());
        self.db
            .write(move |tx| {
                let role: Option<String> = tx
                    .conn
                    .prepare_cached("SELECT role FROM memberships WHERE enterprise_id = ? AND account_id = ?")?
                    .query_row([&enterprise_id, &account_id], |r| r.get(0))
                    .optional()?;
                let Some(role) = role else {
                    return Ok(Left::NotMember);
                };
                if word(Role::parse, role)?.may_leave().is_err() {
                    return Ok(Left::OwnerMustTransfer);
                }
                tx.conn
                    .prepare_cached("DELETE FROM memberships WHERE enterprise_id = ? AND account_id = ?")?
                    .execute([&enterprise_id, &account_id])?;
                append_audit(tx, &audit)?;
                Ok(Left::Left)
            })
            .await
    }
}
