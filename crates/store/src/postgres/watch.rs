//! Keeping every node's cache of validated sessions true, when several
//! nodes share one database.
//!
//! **What tells the nodes.** Triggers (migration 0003) name the account of
//! every change to what a session check answers on the channel
//! [`CHANNEL`], whichever build or tool writes it. PostgreSQL delivers the
//! notification at commit, in commit order, to every node listening. Each
//! node listens on a connection of its own and forgets the account's cached
//! sessions when it hears of it.
//!
//! **Serving from the cache needs a lease.** Every [`BEAT`] a node sends a
//! heartbeat on the channel. Hearing its own heartbeat back proves it has
//! heard everything committed before that heartbeat was sent, and lets it
//! serve cached sessions for [`LEASE`] from the sending. A node whose
//! listener is lost or stalls, or that cannot send, so stops serving from
//! its cache within [`LEASE`] and reads the database instead; it forgets its
//! whole cache whenever it starts listening again.
//!
//! **A change holds on every node before it is answered.** After a write
//! that changes a session's answer, the writing node sends a barrier on the
//! channel and waits ([`Watch::fence`]) until every node it knows of has
//! acknowledged it (a node acknowledges a barrier after handling everything
//! before it), or until that node's lease, as long as it can last, has run
//! out. It knows the nodes it has heard a heartbeat from, and those
//! listening when it connected (`pg_stat_activity`, by the listener
//! connections' application name). It never waits longer than
//! `LEASE + SLACK`: by then a node still serving from its cache holds a
//! lease from a heartbeat sent after the change, so it has heard of it.
//!
//! Changes written by other tools (plain SQL) reach the nodes the same way,
//! but nothing waits for the nodes to hear of them.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use tokio::sync::Notify;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::SessionCache;

/// The channel of session changes, heartbeats, barriers and their
/// acknowledgements (named in migration 0003 too).
pub(super) const CHANNEL: &str = "shiming_sessions";
/// How long the echo of a node's own heartbeat lets it serve from its cache.
const LEASE: Duration = Duration::from_millis(1000);
/// Between two heartbeats of a node: a few per lease, so that one lost or
/// slow heartbeat does not end the lease.
const BEAT: Duration = Duration::from_millis(250);
/// Added to another node's lease before it is taken to have run out: for
/// the two clocks' rates and for scheduling.
const SLACK: Duration = Duration::from_millis(200);
/// The application name of a listener's connection, before its node's id.
const LISTENER: &str = "shiming-watch";

/// A node's watch: its listener and its heartbeats, which end with it.
pub(super) struct Watch {
    shared: Arc<Shared>,
    tasks: [JoinHandle<()>; 2],
}

struct Shared {
    node: String,
    /// The watch's own connections: the listener's and one that sends, so
    /// that heartbeats never queue behind requests for the store's pool.
    pool: PgPool,
    cache: Arc<SessionCache>,
    state: Mutex<State>,
    /// Until when the cache may answer, in nanoseconds after `since` (0:
    /// not now): the state's lease, published so that the session check
    /// every request makes reads an atomic instead of taking the lock.
    serving_until: AtomicU64,
    since: Instant,
    /// Wakes the fences when an echo or an acknowledgement comes.
    changed: Notify,
    /// Asks the listener to connect again: its heartbeats stopped coming back.
    restart: Notify,
}

impl Watch {
    /// Starts watching for `cache`, on connections made with `options`.
    pub fn start(options: &PgConnectOptions, cache: Arc<SessionCache>) -> Watch {
        let node = shiming_vault::random_hex(8);
        let pool = PgPoolOptions::new()
            .max_connections(2)
            .min_connections(0)
            // A send that cannot get its connection soon is of no use: a
            // fence gives up on it after the longest lease anyway.
            .acquire_timeout(LEASE)
            .connect_lazy_with(options.clone().application_name(&format!("{LISTENER} {node}")));
        let shared = Arc::new(Shared {
            node,
            pool,
            cache,
            state: Mutex::default(),
            serving_until: AtomicU64::new(0),
            since: Instant::now(),
            changed: Notify::new(),
            restart: Notify::new(),
        });
        let tasks = [
            tokio::spawn(Arc::clone(&shared).listen()),
            tokio::spawn(Arc::clone(&shared).beat()),
        ];
        Watch { shared, tasks }
    }

    /// Whether the cache may answer a session check now.
    pub fn serving(&self) -> bool {
        let s = &self.shared;
        let now = Instant::now().saturating_duration_since(s.since).as_nanos();
        now < u128::from(s.serving_until.load(Ordering::Acquire))
    }

    /// Returns once every node has heard of what this node committed
    /// before the call (or can no longer serve from its cache without
    /// hearing of it): at most `LEASE + SLACK` later.
    pub async fn fence(&self) {
        let s = &self.shared;
        let start = Instant::now();
        // The barrier must be heard on a listening connection to tell whom
        // to wait for: a node that is not listening yet (it just started)
        // or any more first waits for its listener, within the longest wait.
        loop {
            let woken = s.changed.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if s.lock().link.is_some() || Instant::now() >= start + LEASE + SLACK {
                break;
            }
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep_until(start + LEASE + SLACK) => {}
            }
        }
        let seq = s.lock().barrier(Instant::now());
        let sent = tokio::time::timeout_at(start + LEASE + SLACK, s.send(&format!("b {} {seq}", s.node))).await;
        if !matches!(sent, Ok(Ok(()))) {
            // Nothing to hear back: the wait runs until every lease that
            // predates the change has run out.
            tracing::debug!("a session barrier was not sent");
        }
        loop {
            let woken = s.changed.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let Some(until) = s.lock().fence(seq, start, Instant::now()) else {
                break;
            };
            tokio::select! {
                () = woken => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
        s.lock().fence_done(seq);
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves a consistent state: keep on.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Publishes the lease of `state` (held locked by the caller, so that
    /// two publications never cross) for [`Watch::serving`].
    fn publish(&self, state: &State) {
        let until = state
            .lease()
            .map_or(0, |until| until.saturating_duration_since(self.since).as_nanos());
        self.serving_until
            .store(u64::try_from(until).unwrap_or(u64::MAX), Ordering::Release);
    }

    async fn send(&self, payload: &str) -> sqlx::Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    /// The listener's task: listens, and listens again whenever it lost its
    /// connection, for as long as the watch lives.
    async fn listen(self: Arc<Self>) {
        let mut pause = Duration::from_millis(50);
        loop {
            match self.connect().await {
                Ok(listener) => {
                    pause = Duration::from_millis(50);
                    self.hear(listener).await;
                }
                Err(e) => tracing::warn!(
                    error = %e,
                    "cannot listen for session changes; session checks read the database meanwhile"
                ),
            }
            {
                let mut state = self.lock();
                state.lost();
                self.publish(&state);
            }
            self.changed.notify_waiters();
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
        }
    }

    async fn connect(&self) -> sqlx::Result<PgListener> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        // A lost connection ends this listener; the next one starts afresh.
        listener.eager_reconnect(false);
        listener.listen(CHANNEL).await?;
        // Of this database only: notifications do not cross databases, so a
        // node of another database would never acknowledge.
        let others: Vec<String> = sqlx::query_scalar(
            "SELECT application_name FROM pg_stat_activity \
             WHERE application_name LIKE $1 AND datname = current_database()",
        )
        .bind(format!("{LISTENER} %"))
        .fetch_all(&mut listener)
        .await?;
        // Whatever was committed before the LISTEN went unheard.
        self.cache.forget_all();
        let others = others
            .iter()
            .filter_map(|name| name.strip_prefix(LISTENER))
            .map(str::trim)
            .filter(|node| *node != self.node);
        {
            let mut state = self.lock();
            state.connected(Instant::now(), others);
            self.publish(&state);
        }
        self.changed.notify_waiters();
        Ok(listener)
    }

    async fn hear(&self, mut listener: PgListener) {
        loop {
            tokio::select! {
                heard = listener.try_recv() => match heard {
                    Ok(Some(n)) => self.heard(n.payload()),
                    Ok(None) => {
                        tracing::warn!("the connection listening for session changes was lost");
                        return;
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "listening for session changes failed");
                        return;
                    }
                },
                () = self.restart.notified() => {
                    tracing::warn!("this node's heartbeats stopped coming back; listening again");
                    return;
                }
            }
        }
    }

    fn heard(&self, payload: &str) {
        let Some(message) = Message::parse(payload) else {
            tracing::debug!(payload, "an unknown message on the session channel");
            return;
        };
        if let Message::Changed(account) = message {
            self.cache.forget_account(account);
            return;
        }
        let heard = {
            let mut state = self.lock();
            let heard = state.heard(&self.node, message, Instant::now());
            self.publish(&state);
            heard
        };
        match heard {
            Heard::Nothing => {}
            Heard::Woke => self.changed.notify_waiters(),
            Heard::Barrier(origin, seq) => {
                let ack = format!("k {origin} {seq} {}", self.node);
                let pool = self.pool.clone();
                tokio::spawn(async move {
                    let sent = sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(CHANNEL)
                        .bind(ack)
                        .execute(&pool)
                        .await;
                    if let Err(e) = sent {
                        tracing::debug!(error = %e, "a session barrier was not acknowledged");
                    }
                });
            }
        }
    }

    /// The heartbeats' task.
    async fn beat(self: Arc<Self>) {
        let mut tick = tokio::time::interval(BEAT);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tick.tick().await;
            let now = Instant::now();
            let (seq, stalled) = {
                let mut state = self.lock();
                (state.send(now), state.stalled(now))
            };
            if stalled {
                self.restart.notify_one();
            }
            if let Err(e) = self.send(&format!("h {} {seq}", self.node)).await {
                tracing::debug!(error = %e, "a heartbeat was not sent");
            }
        }
    }
}

/// What is said on the channel.
#[derive(Debug, PartialEq, Eq)]
enum Message<'a> {
    /// `a <account>`: the account's sessions changed (from the triggers).
    Changed(&'a str),
    /// `h <node> <seq>`: a heartbeat.
    Beat(&'a str, u64),
    /// `b <node> <seq>`: a barrier, to be acknowledged.
    Barrier(&'a str, u64),
    /// `k <origin> <seq> <node>`: `node` has heard `origin`'s barrier.
    Ack { origin: &'a str, seq: u64, from: &'a str },
}

impl<'a> Message<'a> {
    fn parse(payload: &'a str) -> Option<Message<'a>> {
        let mut words = payload.split(' ');
        let kind = words.next()?;
        let message = match kind {
            "a" => Message::Changed(words.next()?),
            "h" | "b" => {
                let (node, seq) = (words.next()?, words.next()?.parse().ok()?);
                if kind == "h" {
                    Message::Beat(node, seq)
                } else {
                    Message::Barrier(node, seq)
                }
            }
            "k" => Message::Ack {
                origin: words.next()?,
                seq: words.next()?.parse().ok()?,
                from: words.next()?,
            },
            _ => return None,
        };
        words.next().is_none().then_some(message)
    }
}

/// What hearing a message asks of the node.
#[derive(Debug, PartialEq, Eq)]
enum Heard {
    Nothing,
    /// Fences may be done.
    Woke,
    /// Acknowledge this barrier.
    Barrier(String, u64),
}

/// What a node knows of the channel: the pure part of the watch.
#[derive(Default)]
struct State {
    /// The listener's connection: its number and since when; none while down.
    link: Option<(u64, Instant)>,
    links: u64,
    lease_until: Option<Instant>,
    echoed_at: Option<Instant>,
    /// Heartbeats and barriers sent: their sequence numbers, and when.
    next: u64,
    sent: BTreeMap<u64, Instant>,
    peers: HashMap<String, Peer>,
    fences: HashMap<u64, Fence>,
}

struct Peer {
    heard: Instant,
    /// The newest of this node's barriers that the peer acknowledged.
    acked: u64,
}

struct Fence {
    /// The listener's connection when the barrier was sent.
    link: Option<u64>,
    /// At the barrier's echo on that same connection: the peers to hear
    /// from, each with the moment its lease has run out at the latest.
    waits_for: Option<Vec<(String, Instant)>>,
}

impl State {
    fn connected<'a>(&mut self, now: Instant, others: impl Iterator<Item = &'a str>) {
        self.links += 1;
        self.link = Some((self.links, now));
        for node in others {
            self.peer(node).heard = now;
        }
    }

    fn lost(&mut self) {
        self.link = None;
        self.lease_until = None;
    }

    /// Until when the cache may answer: a lease, and a listener to keep
    /// it true.
    fn lease(&self) -> Option<Instant> {
        self.link.and(self.lease_until)
    }

    /// Whether the listener has heard none of this node's heartbeats for
    /// a while although connected: it may be stuck on a dead connection.
    fn stalled(&self, now: Instant) -> bool {
        self.link.is_some_and(|(_, since)| {
            let last = self.echoed_at.map_or(since, |echo| echo.max(since));
            now.saturating_duration_since(last) > 3 * LEASE
        })
    }

    /// Numbers a heartbeat or a barrier about to be sent.
    fn send(&mut self, now: Instant) -> u64 {
        // An echo later than a lease gives no lease: forget those sends.
        self.sent.retain(|_, at| now.saturating_duration_since(*at) < LEASE);
        self.next += 1;
        self.sent.insert(self.next, now);
        self.next
    }

    fn barrier(&mut self, now: Instant) -> u64 {
        let seq = self.send(now);
        let link = self.link.map(|(number, _)| number);
        self.fences.insert(seq, Fence { link, waits_for: None });
        seq
    }

    fn peer(&mut self, node: &str) -> &mut Peer {
        self.peers.entry(node.to_owned()).or_insert(Peer {
            heard: Instant::now(),
            acked: 0,
        })
    }

    fn heard(&mut self, me: &str, message: Message<'_>, now: Instant) -> Heard {
        match message {
            Message::Changed(_) => Heard::Nothing,
            Message::Beat(node, seq) | Message::Barrier(node, seq) if node == me => {
                if let Some(at) = self.sent.get(&seq).copied() {
                    let until = at + LEASE;
                    self.lease_until = Some(self.lease_until.map_or(until, |t| t.max(until)));
                    // Older sends never echoed are lost: they give no lease.
                    self.sent = self.sent.split_off(&(seq + 1));
                }
                self.echoed_at = Some(now);
                let link = self.link.map(|(number, _)| number);
                let Some(fence) = self.fences.get_mut(&seq).filter(|f| f.link.is_some() && f.link == link) else {
                    return Heard::Nothing;
                };
                let peers = self
                    .peers
                    .iter()
                    .map(|(node, p)| (node.clone(), p.heard + LEASE + SLACK));
                fence.waits_for = Some(peers.filter(|(_, until)| *until > now).collect());
                Heard::Woke
            }
            Message::Beat(node, _) => {
                self.peer(node).heard = now;
                self.peers
                    .retain(|_, p| now.saturating_duration_since(p.heard) < 2 * (LEASE + SLACK));
                Heard::Nothing
            }
            Message::Barrier(node, seq) => {
                self.peer(node).heard = now;
                Heard::Barrier(node.to_owned(), seq)
            }
            Message::Ack { origin, seq, from } if origin == me => {
                let peer = self.peer(from);
                peer.acked = peer.acked.max(seq);
                Heard::Woke
            }
            Message::Ack { .. } => Heard::Nothing,
        }
    }

    /// When the fence of barrier `seq`, begun at `start`, should look again
    /// (it is woken sooner by an echo or an acknowledgement); `None` once
    /// it is done.
    fn fence(&self, seq: u64, start: Instant, now: Instant) -> Option<Instant> {
        let fallback = start + LEASE + SLACK;
        if now >= fallback {
            return None;
        }
        let Some(waits_for) = self.fences.get(&seq).and_then(|f| f.waits_for.as_ref()) else {
            return Some(fallback);
        };
        waits_for
            .iter()
            .filter(|(node, until)| *until > now && self.peers.get(node).is_none_or(|p| p.acked < seq))
            .map(|(_, until)| (*until).min(fallback))
            .min()
    }

    fn fence_done(&mut self, seq: u64) {
        self.fences.remove(&seq);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "me";

    fn serving(s: &State, now: Instant) -> bool {
        s.lease().is_some_and(|until| now < until)
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn messages_read_as_written_and_nothing_else() {
        assert_eq!(Message::parse("a acct_1"), Some(Message::Changed("acct_1")));
        assert_eq!(Message::parse("h n1 7"), Some(Message::Beat("n1", 7)));
        assert_eq!(Message::parse("b n1 8"), Some(Message::Barrier("n1", 8)));
        assert_eq!(
            Message::parse("k n1 8 n2"),
            Some(Message::Ack {
                origin: "n1",
                seq: 8,
                from: "n2"
            })
        );
        for bad in ["", "a", "h n1", "h n1 x", "b n1 1 extra", "k n1 1", "z n1 1"] {
            assert_eq!(Message::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn only_an_echo_of_its_own_heartbeat_gives_a_lease_from_its_sending() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.connected(t0, std::iter::empty());
        assert!(!serving(&s, t0), "connected, but nothing heard back yet");
        let seq = s.send(t0);
        s.heard(ME, Message::Beat("other", seq), t0 + ms(5));
        assert!(!serving(&s, t0 + ms(5)), "another node's heartbeat is not an echo");
        s.heard(ME, Message::Beat(ME, seq), t0 + ms(300));
        assert!(serving(&s, t0 + ms(300)));
        assert!(serving(&s, t0 + LEASE - ms(1)));
        assert!(
            !serving(&s, t0 + LEASE),
            "the lease runs from the sending, not the echo"
        );
        s.lost();
        assert!(!serving(&s, t0 + ms(301)), "no lease without the listener");
    }

    #[test]
    fn a_fence_waits_for_every_peer_known_at_its_echo_until_it_acknowledges() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.connected(t0, ["p1"].into_iter());
        s.heard(ME, Message::Beat("p2", 1), t0 + ms(10));
        let seq = s.barrier(t0 + ms(20));
        let fallback = t0 + ms(20) + LEASE + SLACK;
        assert_eq!(s.fence(seq, t0 + ms(20), t0 + ms(21)), Some(fallback), "not echoed yet");
        assert_eq!(s.heard(ME, Message::Barrier(ME, seq), t0 + ms(22)), Heard::Woke);
        assert!(s.fence(seq, t0 + ms(20), t0 + ms(22)).is_some());
        // A peer heard only after the echo is not waited for.
        s.heard(ME, Message::Beat("p3", 1), t0 + ms(23));
        let ack = |from| Message::Ack { origin: ME, seq, from };
        s.heard(ME, ack("p1"), t0 + ms(24));
        assert!(
            s.fence(seq, t0 + ms(20), t0 + ms(24)).is_some(),
            "p2 has not acknowledged"
        );
        // An acknowledgement of another node's barrier is not one of ours.
        s.heard(
            ME,
            Message::Ack {
                origin: "p1",
                seq,
                from: "p2",
            },
            t0 + ms(25),
        );
        assert!(s.fence(seq, t0 + ms(20), t0 + ms(25)).is_some());
        s.heard(ME, ack("p2"), t0 + ms(26));
        assert_eq!(s.fence(seq, t0 + ms(20), t0 + ms(26)), None);
    }

    #[test]
    fn a_silent_peer_is_waited_for_until_its_lease_has_run_out() {
        let t0 = Instant::now();
        let mut s = State::default();
        s.connected(t0, std::iter::empty());
        s.heard(ME, Message::Beat("p1", 1), t0 + ms(100));
        let seq = s.barrier(t0 + ms(200));
        s.heard(ME, Message::Barrier(ME, seq), t0 + ms(201));
        let lease_out = t0 + ms(100) + LEASE + SLACK;
        assert_eq!(s.fence(seq, t0 + ms(200), t0 + ms(201)), Some(lease_out));
        assert_eq!(s.fence(seq, t0 + ms(200), lease_out), None);
    }

    #[test]
    fn a_fence_whose_listener_reconnected_or_was_down_waits_every_lease_out() {
        let t0 = Instant::now();
        let mut s = State::default();
        let seq = s.barrier(t0);
        s.connected(t0 + ms(1), std::iter::empty());
        s.heard(ME, Message::Barrier(ME, seq), t0 + ms(2));
        assert_eq!(
            s.fence(seq, t0, t0 + ms(2)),
            Some(t0 + LEASE + SLACK),
            "sent while down: the peers known at its echo may not be all"
        );
        let again = s.barrier(t0 + ms(3));
        s.lost();
        s.connected(t0 + ms(4), std::iter::empty());
        s.heard(ME, Message::Barrier(ME, again), t0 + ms(5));
        assert_eq!(s.fence(again, t0 + ms(3), t0 + ms(5)), Some(t0 + ms(3) + LEASE + SLACK));
        assert_eq!(s.fence(again, t0 + ms(3), t0 + ms(3) + LEASE + SLACK), None);
    }

    #[test]
    fn a_listener_that_hears_none_of_its_heartbeats_is_stalled() {
        let t0 = Instant::now();
        let mut s = State::default();
        assert!(!s.stalled(t0 + 10 * LEASE), "not connected: nothing to restart");
        s.connected(t0, std::iter::empty());
        assert!(!s.stalled(t0 + 3 * LEASE));
        assert!(s.stalled(t0 + 3 * LEASE + ms(1)));
        let seq = s.send(t0 + 3 * LEASE);
        s.heard(ME, Message::Beat(ME, seq), t0 + 3 * LEASE + ms(1));
        assert!(!s.stalled(t0 + 4 * LEASE));
    }
}
