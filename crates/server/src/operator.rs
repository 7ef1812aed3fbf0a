//! `shiming enterprise …`: what an enterprise's owner and admins see and do
//! through the API (its members, freezing one, its own log), for the
//! platform's operators, straight on the database. No session and no role:
//! whoever runs it holds the service's configuration and secrets. It
//! answers the JSON the API answers an admin, masked the same way.

use std::sync::Arc;

use anyhow::{bail, Context};
use serde_json::{json, Value};
use shiming_domain::{Reason, Role};
use shiming_store::{AuditDraft, MemberFilter, OperatorFreeze, Store};
use shiming_vault::Vault;

use crate::bootstrap;
use crate::clock::Clock;
use crate::config::Config;
use crate::flows::members;
use crate::flows::security::FROZEN_REASON;
use crate::state::rfc3339;

/// Members or events per page, at most.
pub const MAX_PAGE: u32 = 200;

pub struct Operator {
    store: Arc<dyn Store>,
    vault: Vault,
    clock: Clock,
}

/// The filters of a members list, parsed from their words.
pub fn filter(role: Option<&str>, real_name: Option<&str>, flag: Option<&str>) -> anyhow::Result<MemberFilter> {
    Ok(members::filter(role, real_name, flag)?)
}

fn page(limit: u32) -> anyhow::Result<u32> {
    if !(1..=MAX_PAGE).contains(&limit) {
        bail!("--limit is a number from 1 to {MAX_PAGE}");
    }
    Ok(limit)
}

impl Operator {
    /// Loads the secrets and opens (and migrates) the database, as `serve`
    /// does.
    pub async fn open(config: &Config) -> anyhow::Result<Operator> {
        let (store, vault) = bootstrap::open_data(config).await?;
        Ok(Operator {
            store,
            vault,
            clock: Clock::system(),
        })
    }

    /// The enterprise's owner; an error when there is no such enterprise.
    async fn owner(&self, id: &str) -> anyhow::Result<String> {
        let owners = MemberFilter {
            role: Some(Role::Owner),
            ..MemberFilter::default()
        };
        let found = self.store.members(id, &owners, None, 1).await?;
        match found.into_iter().next() {
            Some(owner) => Ok(owner.account_id),
            None => bail!("there is no enterprise {id}"),
        }
    }

    /// The enterprise: its name, policy and owner.
    pub async fn show(&self, id: &str) -> anyhow::Result<Value> {
        let owner = self.owner(id).await?;
        let m = self
            .store
            .membership(id, &owner)
            .await?
            .with_context(|| format!("there is no enterprise {id}"))?;
        Ok(json!({
            "id": m.enterprise_id,
            "name": m.name,
            "created_at": rfc3339(m.created_at),
            "policy": m.policy,
            "owner": owner,
        }))
    }

    /// A page of the enterprise's members, as its admins see them.
    pub async fn members(
        &self,
        id: &str,
        filter: &MemberFilter,
        after: Option<&str>,
        limit: u32,
    ) -> anyhow::Result<Value> {
        self.owner(id).await?;
        let limit = page(limit)?;
        let after = after.map(members::cursor).transpose()?;
        let found = self.store.members(id, filter, after.as_ref(), limit).await?;
        Ok(members::members(&self.vault, true, &found, limit)?)
    }

    /// Freezes the member with `reason`, or lifts the freeze (`None`):
    /// audited `enterprise.member_frozen` or `…_unfrozen` in the member's
    /// log, `by` the operator.
    pub async fn freeze(&self, id: &str, account_id: &str, reason: Option<&str>) -> anyhow::Result<()> {
        let reason = reason
            .map(|r| Reason::parse(r).map_err(|e| anyhow::anyhow!("--reason: {e}")))
            .transpose()?;
        let kind = match reason {
            Some(_) => "enterprise.member_frozen",
            None => "enterprise.member_unfrozen",
        };
        let at = self.clock.now();
        let details = json!({ "enterprise_id": id, "member": account_id, "by": "operator" });
        let freeze = OperatorFreeze {
            enterprise_id: id.to_owned(),
            account_id: account_id.to_owned(),
            reason_sealed: reason.map(|r| self.vault.seal(FROZEN_REASON, r.as_str().as_bytes())),
            audit: AuditDraft::new(kind, account_id, at, details),
        };
        if !self.store.freeze_as_operator(freeze).await? {
            bail!("{account_id} is no member of enterprise {id}");
        }
        Ok(())
    }

    /// A page of the enterprise's own events, newest first, before `before`.
    pub async fn audit(&self, id: &str, before: Option<i64>, limit: u32) -> anyhow::Result<Value> {
        self.owner(id).await?;
        let limit = page(limit)?;
        let found = self.store.enterprise_audit(id, before, limit).await?;
        Ok(members::events(&found, limit))
    }
}
