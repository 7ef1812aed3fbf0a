//! Seeding: many personal accounts written straight through the store, for
//! benchmarks (`shiming dev seed`).
//!
//! The database and the secrets are opened as `serve` opens them (the same
//! code), and each account is what a first phone sign-in creates: a personal
//! account holding one phone credential, its number sealed and its lookup
//! hash keyed with the service's own helpers, and its `account.created`
//! audit event (`"via": "seed"`, so the log tells seeded accounts from
//! sign-ups). No session is opened.
//!
//! Speed comes from the store's group commit: many `create_account` calls
//! are in flight at once, so the writer commits them hundreds to a
//! transaction instead of one.

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use shiming_domain::{Nature, Phone};
use shiming_store::{Store, StoreError};
use shiming_vault::Vault;
use tokio::task::JoinSet;

use crate::bootstrap;
use crate::clock::Clock;
use crate::config::Config;
use crate::flows::{accounts, security};

/// How many phones the seeding numbers: `+8619` and nine digits.
pub const MAX_ACCOUNTS: u64 = 1_000_000_000;

/// Accounts in flight by default: two of the writer's batches (256 jobs), so
/// that the next batch is queued while one commits. Seeding 200 000 accounts
/// (one run each): 256 in flight 9 400/s, 512 11 000/s, 1 024 10 800/s,
/// 2 048 10 400/s.
pub const DEFAULT_IN_FLIGHT: usize = 512;

/// The phone of seeded account `i`: `+8619` and `i` in nine digits
/// (`+8619000000000`, `+8619000000001`, …). The benchmark's own sign-ins
/// use `+8613…`, the tests and the development carrier `+86137…`–`+86139…`.
///
/// # Panics
/// When `i` is not below [`MAX_ACCOUNTS`].
pub fn phone(i: u64) -> Phone {
    assert!(i < MAX_ACCOUNTS, "seeded phones are numbered below {MAX_ACCOUNTS}");
    Phone::parse(&format!("+8619{i:09}")).expect("+8619 and nine digits is a mainland mobile number")
}

/// What a seeding did.
#[derive(Debug, Clone, PartialEq)]
pub struct Seeded {
    /// Accounts created now.
    pub created: u64,
    /// Phones of the range that were bound already (an earlier seeding, or a
    /// sign-in): left as they are.
    pub existing: u64,
    pub elapsed: Duration,
}

/// The configured database and secrets, opened (and migrated) as `serve`
/// opens them, ready to seed.
pub struct Seeder {
    store: Arc<dyn Store>,
    vault: Arc<Vault>,
    clock: Clock,
}

impl Seeder {
    /// Creates the data folder if missing, loads the secrets (generated into
    /// the data folder in dev, as `serve --dev` does) and opens and migrates
    /// the database.
    pub async fn open(config: &Config) -> anyhow::Result<Seeder> {
        let (store, vault) = bootstrap::open_data(config).await?;
        Ok(Seeder {
            store,
            vault: Arc::new(vault),
            clock: Clock::system(),
        })
    }

    /// Creates an account for each phone of `range` (see [`phone`]) that no
    /// account holds yet, `in_flight` at a time; `progress` is called with
    /// the count of phones done after each one. Stops at the first error
    /// other than a phone already bound.
    pub async fn seed(
        &self,
        range: Range<u64>,
        in_flight: usize,
        mut progress: impl FnMut(u64),
    ) -> anyhow::Result<Seeded> {
        if range.end > MAX_ACCOUNTS {
            bail!("at most {MAX_ACCOUNTS} seeded accounts (phones +8619 and nine digits)");
        }
        let started = Instant::now();
        let (mut created, mut existing) = (0, 0);
        let mut running = JoinSet::new();
        let mut next = range.start;
        loop {
            while next < range.end && running.len() < in_flight.max(1) {
                let (store, vault, now) = (self.store.clone(), self.vault.clone(), self.clock.now());
                let i = next;
                running.spawn(async move { create(&*store, &vault, i, now).await.map_err(|e| (i, e)) });
                next += 1;
            }
            let Some(done) = running.join_next().await else { break };
            match done.context("a seeding task failed")? {
                Ok(true) => created += 1,
                Ok(false) => existing += 1,
                Err((i, e)) => return Err(e).with_context(|| format!("seeding the account of {}", phone(i).e164())),
            }
            progress(created + existing);
        }
        Ok(Seeded {
            created,
            existing,
            elapsed: started.elapsed(),
        })
    }
}

/// Creates seeded account `i` as a first phone sign-in would; false when
/// its phone is bound already.
async fn create(store: &dyn Store, vault: &Vault, i: u64, now: i64) -> Result<bool, StoreError> {
    let phone = phone(i);
    // As a first phone sign-in creates its account, but `via` the seeding.
    let credential = security::phone_credential(vault, &phone);
    let account = accounts::new_account(&credential, "seed", Nature::Personal, now);
    match store.create_account(account, credential, now).await {
        Ok(()) => Ok(true),
        Err(StoreError::CredentialInUse) => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use shiming_domain::{CredentialKind, Nature};
    use shiming_store::ChainReport;

    use super::*;

    #[test]
    fn seeded_phones_are_distinct_mainland_numbers_outside_the_bench_s() {
        assert_eq!(phone(0).e164(), "+8619000000000");
        assert_eq!(phone(1_234_567).e164(), "+8619001234567");
        assert_eq!(phone(MAX_ACCOUNTS - 1).e164(), "+8619999999999");
        assert!(std::panic::catch_unwind(|| phone(MAX_ACCOUNTS)).is_err());
    }

    #[tokio::test]
    async fn seeded_accounts_are_found_by_their_phone_and_a_second_seeding_adds_only_the_new() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::development();
        config.data_dir = dir.path().join("data");
        let seeder = Seeder::open(&config).await.unwrap();
        // The secrets were generated into the data folder, as `serve --dev` does.
        assert!(config.data_dir.join(crate::secrets::FILE).exists());

        let mut calls = Vec::new();
        let seeded = seeder.seed(0..20, 4, |done| calls.push(done)).await.unwrap();
        assert_eq!((seeded.created, seeded.existing), (20, 0));
        assert_eq!(calls, (1..=20).collect::<Vec<_>>());

        let mut accounts = std::collections::BTreeSet::new();
        for i in 0..20 {
            let hash = security::phone_hash(&seeder.vault, &phone(i));
            let id = seeder
                .store
                .account_by_credential(CredentialKind::Phone, &hash)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("no account holds seeded phone {i}"));
            let view = seeder.store.account_view(&id).await.unwrap().unwrap();
            assert_eq!(view.nature, Nature::Personal);
            assert_eq!(view.credentials.len(), 1);
            let sealed = &view.credentials[0].value_sealed;
            assert_eq!(security::open_phone(&seeder.vault, sealed).unwrap(), phone(i));
            accounts.insert(id);
        }
        assert_eq!(accounts.len(), 20);

        // Again over a larger range: the first 20 are left as they are.
        let seeded = seeder.seed(0..25, 64, |_| {}).await.unwrap();
        assert_eq!((seeded.created, seeded.existing), (5, 20));
        match seeder.store.verify_chain(None).await.unwrap() {
            // The switch to the keyed chain, then one account.created each.
            ChainReport::Intact { head } => assert_eq!(head.seq, 26),
            broken => panic!("{broken:?}"),
        }
        assert!(seeder.seed(0..MAX_ACCOUNTS + 1, 1, |_| {}).await.is_err());
    }
}
