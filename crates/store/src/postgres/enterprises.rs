use std::sync::LazyLock;

use async_trait::async_trait;
use shiming_domain::Role;

use super::{write, PgStore};
use crate::error::word;
use crate::rows::{self, MEMBERSHIP_COLUMNS, MEMBER_COLUMNS, MEMBER_ORDER};
use crate::{AuditDraft, EnterpriseStore, Left, MemberCursor, MemberRecord, Membership, NewEnterprise, Result};

#[async_trait]
impl EnterpriseStore for PgStore {
    async fn create_enterprise(&self, e: NewEnterprise) -> Result<()> {
        let e = &e;
        write!(self, |tx| {
            sqlx::query("INSERT INTO enterprises (id, name, created_at) VALUES ($1, $2, $3)")
                .bind(&e.id)
                .bind(&e.name)
                .bind(e.at)
                .execute(&mut *tx.conn)
                .await?;
            sqlx::query("INSERT INTO memberships (enterprise_id, account_id, role, joined_at) VALUES ($1, $2, $3, $4)")
                .bind(&e.id)
                .bind(&e.owner)
                .bind(Role::Owner.as_str())
                .bind(e.at)
                .execute(&mut *tx.conn)
                .await?;
            tx.audit(&e.audit);
        })
    }

    async fn rename_enterprise(&self, id: &str, actor: &str, name: &str, audit: AuditDraft) -> Result<bool> {
        let audit = &audit;
        write!(self, |tx| {
            let renamed = sqlx::query(
                "UPDATE enterprises SET name = $1 WHERE id = $2 AND EXISTS (SELECT 1 FROM memberships \
                 WHERE enterprise_id = $2 AND account_id = $3 AND role IN ('owner', 'admin'))",
            )
            .bind(name)
            .bind(id)
            .bind(actor)
            .execute(&mut *tx.conn)
            .await?
            .rows_affected();
            if renamed == 1 {
                tx.audit(audit);
            }
            renamed == 1
        })
    }

    async fn membership(&self, enterprise_id: &str, account_id: &str) -> Result<Option<Membership>> {
        static ONE: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {MEMBERSHIP_COLUMNS} WHERE m.enterprise_id = $1 AND m.account_id = $2"));
        let row = sqlx::query(ONE.as_str())
            .bind(enterprise_id)
            .bind(account_id)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(rows::membership).transpose()
    }

    async fn memberships_of(&self, account_id: &str) -> Result<Vec<Membership>> {
        static OF: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {MEMBERSHIP_COLUMNS} WHERE m.account_id = $1 ORDER BY m.joined_at, e.id"));
        let found = sqlx::query(OF.as_str()).bind(account_id).fetch_all(&self.pool).await?;
        found.iter().map(rows::membership).collect()
    }

    async fn members(
        &self,
        enterprise_id: &str,
        after: Option<&MemberCursor>,
        limit: u32,
    ) -> Result<Vec<MemberRecord>> {
        static PAGE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {MEMBER_COLUMNS} WHERE m.enterprise_id = $1 AND (m.joined_at, m.account_id) > ($2, $3) \
                 {MEMBER_ORDER} LIMIT $4"
            )
        });
        let (joined_at, account_id) = MemberCursor::start(after);
        let found = sqlx::query(PAGE.as_str())
            .bind(enterprise_id)
            .bind(joined_at)
            .bind(account_id)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::member).collect()
    }

    async fn leave_enterprise(&self, enterprise_id: &str, account_id: &str, audit: AuditDraft) -> Result<Left> {
        let audit = &audit;
        write!(self, |tx| {
            let role: Option<String> = sqlx::query_scalar(
                "SELECT role FROM memberships WHERE enterprise_id = $1 AND account_id = $2 FOR UPDATE",
            )
            .bind(enterprise_id)
            .bind(account_id)
            .fetch_optional(&mut *tx.conn)
            .await?;
            match role.map(|r| word(Role::parse, r)).transpose()? {
                None => Left::NotMember,
                Some(role) if role.may_leave().is_err() => Left::OwnerMustTransfer,
                Some(_) => {
                    sqlx::query("DELETE FROM memberships WHERE enterprise_id = $1 AND account_id = $2")
                        .bind(enterprise_id)
                        .bind(account_id)
                        .execute(&mut *tx.conn)
                        .await?;
                    tx.audit(audit);
                    Left::Left
                }
            }
        })
    }
}
