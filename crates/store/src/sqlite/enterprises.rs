use std::sync::LazyLock;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use shiming_domain::{CredentialKind, Role};

use super::accounts::{account_by_credential, create_account};
use super::codes::take_limits;
use super::rebind::insert_notice;
use super::worker::Tx;
use super::{append_audit, SqliteStore};
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
impl EnterpriseStore for SqliteStore {
    async fn create_enterprise(&self, e: NewEnterprise) -> Result<()> {
        self.db
            .write(move |tx| {
                take_limits(tx, &e.limits)?;
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

    async fn update_enterprise(&self, u: EnterpriseUpdate) -> Result<Changed> {
        self.db
            .write(move |tx| {
                let actor = standing_of(tx, &u.id, &u.actor)?;
                let policy = match members::admin(actor.as_ref(), Changed::ActorNotMember, Changed::Refused) {
                    Ok(admin) => stored_policy(&u.policy.apply(admin.policy)),
                    Err(refused) => return Ok(refused),
                };
                tx.conn
                    .prepare_cached("UPDATE enterprises SET name = coalesce(?, name), policy = ? WHERE id = ?")?
                    .execute(params![u.name, policy, u.id])?;
                for draft in &u.audit {
                    append_audit(tx, draft)?;
                }
                Ok(Changed::Done)
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
        filter: &MemberFilter,
        after: Option<&MemberCursor>,
        limit: u32,
    ) -> Result<Vec<MemberRecord>> {
        static PAGE: LazyLock<String> = LazyLock::new(|| {
            format!(
                "SELECT {MEMBER_COLUMNS} WHERE m.enterprise_id = ?1 AND (m.joined_at, m.account_id) > (?2, ?3) \
                 AND (?4 IS NULL OR m.role = ?4) AND (?5 IS NULL OR {MEMBER_REAL_NAME} = ?5) \
                 AND (?6 IS NULL OR {MEMBER_FLAG}) {MEMBER_ORDER} LIMIT ?7",
                MEMBER_FLAG = MEMBER_FLAG.replace("$6", "?6"),
            )
        });
        let (joined_at, account_id) = MemberCursor::start(after);
        let f = filter.words();
        self.db.read(|conn| {
            let mut stmt = conn.prepare_cached(PAGE.as_str())?;
            let found = stmt.query_map(
                params![enterprise_id, joined_at, account_id, f.role, f.real_name, f.flag, limit],
                |r| Ok(rows::member(r)),
            )?;
            found.map(|r| r?).collect()
        })
    }

    async fn change_member(&self, request: MemberChangeRequest) -> Result<Changed> {
        let target = request.target.clone();
        let (changed, turned_personal) = self
            .db
            .write(move |tx| {
                let read = Read {
                    actor: standing_of(tx, &request.enterprise_id, &request.actor)?,
                    target: standing_of(tx, &request.enterprise_id, &request.target)?,
                };
                let writes = match members::plan(&request, read)? {
                    Ok(writes) => writes,
                    Err(outcome) => return Ok((outcome, false)),
                };
                let mut turned_personal = false;
                match writes {
                    Writes::Delete(account) => {
                        tx.conn
                            .prepare_cached("DELETE FROM memberships WHERE enterprise_id = ? AND account_id = ?")?
                            .execute([&request.enterprise_id, &account])?;
                        turned_personal = tx.conn.prepare_cached(TURN_PERSONAL)?.execute([&account])? == 1;
                        if turned_personal {
                            append_audit(tx, &members::turned_personal(&request))?;
                        }
                    }
                    Writes::Approve(account) => {
                        tx.conn
                            .prepare_cached(APPROVE)?
                            .execute([&request.enterprise_id, &account])?;
                    }
                    Writes::Freeze(account, reason) => {
                        tx.conn.prepare_cached(FREEZE)?.execute(params![
                            reason.is_some(),
                            reason,
                            request.enterprise_id,
                            account
                        ])?;
                    }
                    Writes::Roles(roles) => {
                        for (account, role) in roles {
                            tx.conn
                                .prepare_cached(
                                    "UPDATE memberships SET role = ? WHERE enterprise_id = ? AND account_id = ?",
                                )?
                                .execute(params![role.as_str(), request.enterprise_id, account])?;
                        }
                    }
                }
                append_audit(tx, &request.audit)?;
                Ok((Changed::Done, turned_personal))
            })
            .await?;
        if turned_personal {
            // Its sessions carry the nature.
            self.forget(Some(&target));
        }
        Ok(changed)
    }

    async fn provision_member(&self, m: NewManagedMember) -> Result<Provisioned> {
        self.db
            .write(move |tx| {
                let actor = standing_of(tx, &m.enterprise_id, &m.actor)?;
                if let Some(refused) =
                    refuse_unless_admin(actor.as_ref(), Provisioned::ActorNotMember, Provisioned::Refused)
                {
                    return Ok(refused);
                }
                if account_by_credential(tx.conn, CredentialKind::Phone, &m.phone.lookup_hash)?.is_some() {
                    return Ok(Provisioned::PhoneTaken);
                }
                take_limits(tx, &m.limits)?;
                create_account(tx, &m.account, &m.phone, m.at)?;
                tx.conn
                    .prepare_cached(
                        "INSERT INTO memberships (enterprise_id, account_id, role, joined_at, manages, \
                         display_name_sealed) VALUES (?, ?, 'member', ?, 1, ?)",
                    )?
                    .execute(params![m.enterprise_id, m.account.id, m.at, m.display_name_sealed])?;
                insert_notice(tx, &m.notice, m.at)?;
                append_audit(tx, &m.audit)?;
                Ok(Provisioned::Done)
            })
            .await
    }

    async fn freeze_as_operator(&self, f: OperatorFreeze) -> Result<bool> {
        self.db
            .write(move |tx| {
                let frozen = tx.conn.prepare_cached(FREEZE)?.execute(params![
                    f.reason_sealed.is_some(),
                    f.reason_sealed,
                    f.enterprise_id,
                    f.account_id
                ])? == 1;
                if frozen {
                    append_audit(tx, &f.audit)?;
                }
                Ok(frozen)
            })
            .await
    }
}

/// The account's seat in the enterprise, and its policy; `None` when no
/// member.
pub(super) fn standing_of(tx: &Tx<'_>, enterprise_id: &str, account_id: &str) -> Result<Option<Standing>> {
    static ONE: LazyLock<String> =
        LazyLock::new(|| format!("SELECT {STANDING_COLUMNS} WHERE m.enterprise_id = ? AND m.account_id = ?"));
    tx.conn
        .prepare_cached(ONE.as_str())?
        .query_row([enterprise_id, account_id], |r| Ok(rows::standing(r)))
        .optional()?
        .transpose()
}
