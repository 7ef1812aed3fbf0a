use std::sync::LazyLock;

use async_trait::async_trait;
use shiming_domain::{CredentialKind, Role};

use super::accounts::{account_by_credential, create_account};
use super::rebind::insert_notice;
use super::{write, PgStore, Tx};
use crate::members::{
    self, refuse_unless_admin, stored_policy, Read, Standing, Writes, APPROVE, FREEZE, TURN_PERSONAL,
};
use crate::rows::{
    self, MEMBERSHIP_COLUMNS, MEMBER_COLUMNS, MEMBER_FLAG, MEMBER_ORDER, MEMBER_REAL_NAME, STANDING_COLUMNS,
};
use crate::{
    Changed, EnterpriseStore, EnterpriseUpdate, MemberChangeRequest, MemberCursor, MemberFilter, MemberRecord,
    Membership, NewEnterprise, NewManagedMember, OperatorFreeze, Provisioned, Result,
};

#[async_trait]
impl EnterpriseStore for PgStore {
    async fn create_enterprise(&self, e: NewEnterprise) -> Result<()> {
        let e = &e;
        write!(self, |tx| {
            tx.limit(&e.limits);
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

    async fn update_enterprise(&self, u: EnterpriseUpdate) -> Result<Changed> {
        let u = &u;
        write!(self, |tx| {
            lock_enterprise(tx, &u.id).await?;
            let actor = standing_of(tx, &u.id, &u.actor).await?;
            match members::admin(actor.as_ref(), Changed::ActorNotMember, Changed::Refused) {
                Err(refused) => refused,
                Ok(admin) => {
                    sqlx::query("UPDATE enterprises SET name = coalesce($1, name), policy = $2 WHERE id = $3")
                        .bind(&u.name)
                        .bind(stored_policy(&u.policy.apply(admin.policy)))
                        .bind(&u.id)
                        .execute(&mut *tx.conn)
                        .await?;
                    for draft in &u.audit {
                        tx.audit(draft);
                    }
                    Changed::Done
                }
            }
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
        filter: &MemberFilter,
        after: Option<&MemberCursor>,
        limit: u32,
    ) -> Result<Vec<MemberRecord>> {
        static PAGE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {MEMBER_COLUMNS} WHERE m.enterprise_id = $1 AND (m.joined_at, m.account_id) > ($2, $3) \
                 AND ($4::text IS NULL OR m.role = $4) AND ($5::text IS NULL OR {MEMBER_REAL_NAME} = $5) \
                 AND ($6::text IS NULL OR {MEMBER_FLAG}) {MEMBER_ORDER} LIMIT $7"
            )
        });
        let (joined_at, account_id) = MemberCursor::start(after);
        let f = filter.words();
        let found = sqlx::query(PAGE.as_str())
            .bind(enterprise_id)
            .bind(joined_at)
            .bind(account_id)
            .bind(f.role)
            .bind(f.real_name)
            .bind(f.flag)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?;
        found.iter().map(rows::member).collect()
    }

    async fn change_member(&self, request: MemberChangeRequest) -> Result<Changed> {
        let request = &request;
        let id = &request.enterprise_id;
        let (changed, turned_personal) = write!(self, |tx| {
            // One change at a time, so that two cannot each pass the rules
            // the other breaks.
            lock_enterprise(tx, id).await?;
            let read = Read {
                actor: standing_of(tx, id, &request.actor).await?,
                target: standing_of(tx, id, &request.target).await?,
            };
            match members::plan(request, read)? {
                Err(outcome) => (outcome, false),
                Ok(writes) => {
                    let mut turned_personal = false;
                    match writes {
                        Writes::Delete(account) => {
                            sqlx::query("DELETE FROM memberships WHERE enterprise_id = $1 AND account_id = $2")
                                .bind(id)
                                .bind(&account)
                                .execute(&mut *tx.conn)
                                .await?;
                            let turned = sqlx::query(TURN_PERSONAL)
                                .bind(&account)
                                .execute(&mut *tx.conn)
                                .await?
                                .rows_affected();
                            turned_personal = turned == 1;
                            if turned_personal {
                                tx.audit(&members::turned_personal(request));
                            }
                        }
                        Writes::Approve(account) => {
                            sqlx::query(APPROVE)
                                .bind(id)
                                .bind(account)
                                .execute(&mut *tx.conn)
                                .await?;
                        }
                        Writes::Freeze(account, reason) => {
                            sqlx::query(FREEZE)
                                .bind(reason.is_some())
                                .bind(reason)
                                .bind(id)
                                .bind(account)
                                .execute(&mut *tx.conn)
                                .await?;
                        }
                        Writes::Roles(roles) => {
                            for (account, role) in roles {
                                sqlx::query(
                                    "UPDATE memberships SET role = $1 WHERE enterprise_id = $2 AND account_id = $3",
                                )
                                .bind(role.as_str())
                                .bind(id)
                                .bind(account)
                                .execute(&mut *tx.conn)
                                .await?;
                            }
                        }
                    }
                    tx.audit(&request.audit);
                    (Changed::Done, turned_personal)
                }
            }
        })?;
        if turned_personal {
            // Its sessions carry the nature, on every node.
            self.settle(Some(&request.target)).await;
        }
        Ok(changed)
    }

    async fn provision_member(&self, m: NewManagedMember) -> Result<Provisioned> {
        let m = &m;
        write!(self, |tx| provision(tx, m).await?)
    }

    async fn freeze_as_operator(&self, f: OperatorFreeze) -> Result<bool> {
        let f = &f;
        write!(self, |tx| {
            lock_enterprise(tx, &f.enterprise_id).await?;
            let frozen = sqlx::query(FREEZE)
                .bind(f.reason_sealed.is_some())
                .bind(&f.reason_sealed)
                .bind(&f.enterprise_id)
                .bind(&f.account_id)
                .execute(&mut *tx.conn)
                .await?
                .rows_affected()
                == 1;
            if frozen {
                tx.audit(&f.audit);
            }
            frozen
        })
    }
}

/// Locks the enterprise, so that its changes (members, invitations, the
/// enterprise itself) are made one at a time.
pub(super) async fn lock_enterprise(tx: &mut Tx<'_>, enterprise_id: &str) -> Result<()> {
    sqlx::query("SELECT 1 FROM enterprises WHERE id = $1 FOR UPDATE")
        .bind(enterprise_id)
        .execute(&mut *tx.conn)
        .await?;
    Ok(())
}

/// The account's seat in the enterprise, and its policy; `None` when no
/// member.
pub(super) async fn standing_of(tx: &mut Tx<'_>, enterprise_id: &str, account_id: &str) -> Result<Option<Standing>> {
    static ONE: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {STANDING_COLUMNS} WHERE m.enterprise_id = $1 AND m.account_id = $2"));
    let row = sqlx::query(ONE.as_str())
        .bind(enterprise_id)
        .bind(account_id)
        .fetch_optional(&mut *tx.conn)
        .await?;
    row.as_ref().map(rows::standing).transpose()
}

async fn provision(tx: &mut Tx<'_>, m: &NewManagedMember) -> Result<Provisioned> {
    lock_enterprise(tx, &m.enterprise_id).await?;
    let actor = standing_of(tx, &m.enterprise_id, &m.actor).await?;
    if let Some(refused) = refuse_unless_admin(actor.as_ref(), Provisioned::ActorNotMember, Provisioned::Refused) {
        return Ok(refused);
    }
    if account_by_credential(tx.conn, CredentialKind::Phone, &m.phone.lookup_hash)
        .await?
        .is_some()
    {
        return Ok(Provisioned::PhoneTaken);
    }
    tx.limit(&m.limits);
    create_account(tx, &m.account, &m.phone, m.at).await?;
    sqlx::query(
        "INSERT INTO memberships (enterprise_id, account_id, role, joined_at, manages, display_name_sealed) \
         VALUES ($1, $2, 'member', $3, TRUE, $4)",
    )
    .bind(&m.enterprise_id)
    .bind(&m.account.id)
    .bind(m.at)
    .bind(&m.display_name_sealed)
    .execute(&mut *tx.conn)
    .await?;
    insert_notice(tx, &m.notice, m.at).await?;
    tx.audit(&m.audit);
    Ok(Provisioned::Done)
}
