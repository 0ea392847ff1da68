//! The process-wide throttle: static rate caps (statements, bytes and transactions per second)
//! and the pause gate, which every session passes before it forwards a statement.
//!
//! It is one object shared by all sessions (through [`crate::session::ProxyContext`]) because the
//! thing being protected — the target — is shared: three sessions at 100 statements/s each are
//! 300 statements/s for the target. The caps are token buckets (`governor`'s GCRA), so a cap
//! spreads statements evenly instead of letting them through in bursts and then stalling.
//! Caps and the pause state change at runtime (admin endpoint); a waiting session notices a change
//! at once instead of finishing a wait computed under the old cap.
//!
//! The gate can also be closed for good: [`Throttle::abort`] (the adaptive controller's
//! `on_critical = "abort"`). From then on every admission, waiting or new, is refused with the
//! [`Abort`] that says why, and each session halts on it.
//!
//! Time comes from tokio's clock, so the limiter is tested with a paused, virtual clock.

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;
use tokio::time::Instant;
use tracing::info;

use crate::sql::StatementKind;

/// governor's clock, read from tokio's (which tests can pause and advance).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioClock;

impl Clock for TokioClock {
    type Instant = std::time::Instant;

    fn now(&self) -> Self::Instant {
        Instant::now().into_std()
    }
}

type Limiter = RateLimiter<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<std::time::Instant>>;

/// The static caps; 0 means no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Caps {
    pub statements_per_sec: u32,
    pub bytes_per_sec: u32,
    pub transactions_per_sec: u32,
}

/// A change of caps: `None` leaves a cap as it is, `Some(0)` removes it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CapsUpdate {
    pub statements_per_sec: Option<u32>,
    pub bytes_per_sec: Option<u32>,
    pub transactions_per_sec: Option<u32>,
}

/// What forwarding one COM_QUERY costs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    pub statements: u32,
    pub bytes: u64,
    pub transactions: u32,
}

/// Why the replay was aborted (`throttle.adaptive.on_critical = "abort"`). Final for the
/// process: nothing lifts it, so no retry of the client can replay past it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Abort {
    /// The load signal (`threads_running`, `query`, `replica_lag`).
    pub signal: String,
    /// The reading that reached `critical_load`.
    pub value: f64,
    pub critical_load: f64,
    /// The three above in words, for ERR messages, logs and `/status`. Short: clients keep only
    /// the first 512 bytes of an error message.
    pub reason: String,
}

impl Abort {
    pub fn new(signal: &str, value: f64, critical_load: f64) -> Self {
        Self {
            signal: signal.to_owned(),
            value,
            critical_load,
            reason: format!(
                "adaptive load signal {signal} = {value} reached critical_load {critical_load} \
                 (on_critical = \"abort\")"
            ),
        }
    }
}

/// The throttle state as the admin endpoint reports it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ThrottleStatus {
    /// Paused by the operator (`POST /pause`).
    pub paused: bool,
    /// How long the current pause has lasted.
    pub paused_for_secs: Option<f64>,
    pub caps: Caps,
    /// Time sessions have spent waiting on caps and pauses, summed over sessions.
    pub throttled_secs: f64,
    /// The adaptive controller's view, when `[throttle.adaptive]` is configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adaptive: Option<crate::adaptive::AdaptiveStatus>,
    /// Why the replay was aborted, once it was: every session refuses its next statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Abort>,
}

/// What a waiting session watches: any change (pause, resume, new caps) re-evaluates its wait.
///
/// The operator's caps and pause and the adaptive controller's are kept apart so that neither
/// undoes the other: the adaptive cap only ever lowers the operator's statements cap (the
/// effective cap is the smaller of the two), and an adaptive resume does not lift an operator's
/// pause.
#[derive(Debug, Clone, Copy, Default)]
struct Control {
    paused: bool,
    caps: Caps,
    adaptive_paused: bool,
    /// The adaptive statements-per-second cap; 0 = none.
    adaptive_cap: u32,
    /// The gate is closed for good ([`Throttle::abort`]).
    aborted: bool,
}

impl Control {
    fn is_paused(&self) -> bool {
        self.paused || self.adaptive_paused
    }

    fn unthrottled(&self) -> bool {
        !self.is_paused() && !self.aborted && self.caps == Caps::default() && self.adaptive_cap == 0
    }

    fn effective_statements_cap(&self) -> u32 {
        combine_caps(self.caps.statements_per_sec, self.adaptive_cap)
    }
}

/// The stricter of two caps where 0 means no cap.
pub fn combine_caps(operator: u32, adaptive: u32) -> u32 {
    match (operator, adaptive) {
        (0, a) => a,
        (o, 0) => o,
        (o, a) => o.min(a),
    }
}

/// How far behind its schedule a cap may fall and catch up. A session that waited for its turn
/// wakes late (timers fire on millisecond ticks, a busy vCPU adds more) and its next statement
/// arrives a round trip after the last: with no credit for that lost time a statements cap
/// delivered only 31-62% of its rate, measured against a real server. With it, statements stay
/// evenly spaced except for the short catch-up runs that make the lost time good, and the rate
/// over a second is the cap. Also the burst of the bytes cap: a larger one (it was a second's
/// worth) lets the first seconds of a replay through at well above the cap.
const CATCH_UP: Duration = Duration::from_millis(50);

/// A bucket's burst: [`CATCH_UP`]'s worth, at least 2 (so a statement or transaction that came
/// a little late can always be made good).
fn catch_up_burst(rate: NonZeroU32) -> NonZeroU32 {
    let tokens = (f64::from(rate.get()) * CATCH_UP.as_secs_f64()).ceil() as u32;
    NonZeroU32::new(tokens.max(2)).unwrap_or(NonZeroU32::MIN)
}

/// One cap's bucket, with a burst of [`catch_up_burst`]. A statement costing more bytes than
/// the burst is taken in burst-sized steps, at the cap's rate.
#[derive(Debug, Default)]
struct Bucket {
    limiter: RwLock<Option<Arc<Limiter>>>,
}

impl Bucket {
    fn set(&self, per_sec: u32) {
        let limiter = NonZeroU32::new(per_sec).map(|rate| {
            let quota = Quota::per_second(rate).allow_burst(catch_up_burst(rate));
            Arc::new(RateLimiter::direct_with_clock(quota, TokioClock))
        });
        *self.limiter.write().unwrap_or_else(|e| e.into_inner()) = limiter;
    }

    fn current(&self) -> Option<Arc<Limiter>> {
        self.limiter
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Takes `n` tokens now, or says how long until they could be taken. Costs larger than the
    /// bucket are taken in bucket-sized steps (the average rate is what a cap promises).
    fn try_take(&self, n: &mut u64) -> Option<Duration> {
        let limiter = self.current()?;
        while *n > 0 {
            let step = u32::try_from(*n).unwrap_or(u32::MAX);
            let step = NonZeroU32::new(step).unwrap_or(NonZeroU32::MIN);
            match limiter.check_n(step) {
                Ok(Ok(())) => *n -= u64::from(step.get()),
                Ok(Err(not_until)) => return Some(not_until.wait_time_from(TokioClock.now())),
                Err(governor::InsufficientCapacity(capacity)) => {
                    let capacity = NonZeroU32::new(capacity).unwrap_or(NonZeroU32::MIN);
                    match limiter.check_n(capacity) {
                        Ok(Ok(())) => *n -= u64::from(capacity.get()),
                        Ok(Err(not_until)) => {
                            return Some(not_until.wait_time_from(TokioClock.now()));
                        }
                        // A bucket always holds its own capacity.
                        Err(_) => *n = 0,
                    }
                }
            }
        }
        None
    }
}

/// The process-wide throttle. Cheap to share (`Arc`); every method takes `&self`.
#[derive(Debug)]
pub struct Throttle {
    statements: Bucket,
    bytes: Bucket,
    transactions: Bucket,
    control: watch::Sender<Control>,
    paused_since: Mutex<Option<Instant>>,
    throttled: Mutex<Duration>,
    /// Statements admitted since start; the adaptive controller derives the recent rate from it.
    admitted: AtomicU64,
    adaptive: Mutex<Option<crate::adaptive::AdaptiveStatus>>,
    aborted: Mutex<Option<Abort>>,
}

impl Throttle {
    pub fn new(caps: Caps) -> Self {
        let throttle = Self {
            statements: Bucket::default(),
            bytes: Bucket::default(),
            transactions: Bucket::default(),
            control: watch::Sender::new(Control::default()),
            paused_since: Mutex::new(None),
            throttled: Mutex::new(Duration::ZERO),
            admitted: AtomicU64::new(0),
            adaptive: Mutex::new(None),
            aborted: Mutex::new(None),
        };
        throttle.set_caps(CapsUpdate {
            statements_per_sec: Some(caps.statements_per_sec),
            bytes_per_sec: Some(caps.bytes_per_sec),
            transactions_per_sec: Some(caps.transactions_per_sec),
        });
        metrics::gauge!("replaygate_throttle_paused").set(0.0);
        throttle
    }

    /// The caps in force.
    pub fn caps(&self) -> Caps {
        self.control.borrow().caps
    }

    /// Changes the caps given; returns the caps now in force.
    pub fn set_caps(&self, update: CapsUpdate) -> Caps {
        let mut caps = self.caps();
        if let Some(v) = update.statements_per_sec {
            caps.statements_per_sec = v;
            let adaptive = self.control.borrow().adaptive_cap;
            self.statements.set(combine_caps(v, adaptive));
        }
        if let Some(v) = update.bytes_per_sec {
            caps.bytes_per_sec = v;
            self.bytes.set(v);
        }
        if let Some(v) = update.transactions_per_sec {
            caps.transactions_per_sec = v;
            self.transactions.set(v);
        }
        self.control.send_modify(|c| c.caps = caps);
        info!(
            statements_per_sec = caps.statements_per_sec,
            bytes_per_sec = caps.bytes_per_sec,
            transactions_per_sec = caps.transactions_per_sec,
            "throttle caps (0 = no cap)"
        );
        caps
    }

    pub fn is_paused(&self) -> bool {
        self.control.borrow().paused
    }

    /// Paused by the operator or by the adaptive controller.
    pub fn is_held(&self) -> bool {
        self.control.borrow().is_paused()
    }

    /// Statements admitted since start.
    pub fn admitted_statements(&self) -> u64 {
        self.admitted.load(Ordering::Relaxed)
    }

    /// Sets the adaptive statements cap (0 = none). It combines with the operator's cap by taking
    /// the smaller, so it can never raise what the operator configured.
    pub fn set_adaptive_cap(&self, cap: u32) {
        let changed = self.control.send_if_modified(|c| {
            let changed = c.adaptive_cap != cap;
            c.adaptive_cap = cap;
            changed
        });
        if changed {
            let effective = self.control.borrow().effective_statements_cap();
            self.statements.set(effective);
        }
    }

    /// Holds (or releases) every session before its next statement for the adaptive controller,
    /// independently of the operator's pause.
    pub fn set_adaptive_pause(&self, paused: bool) {
        self.control.send_if_modified(|c| {
            let changed = c.adaptive_paused != paused;
            c.adaptive_paused = paused;
            changed
        });
    }

    /// Publishes the adaptive controller's state for `/status`.
    pub fn set_adaptive_status(&self, status: crate::adaptive::AdaptiveStatus) {
        *self.adaptive.lock().unwrap_or_else(|e| e.into_inner()) = Some(status);
    }

    /// Closes the gate for good: every admission from now on, and every one waiting, is refused
    /// with `abort`. Returns false if the replay was already aborted (the first reason stays).
    pub fn abort(&self, abort: Abort) -> bool {
        {
            let mut aborted = self.aborted.lock().unwrap_or_else(|e| e.into_inner());
            if aborted.is_some() {
                return false;
            }
            *aborted = Some(abort);
        }
        // After the reason is stored, so a session woken by the change finds it.
        self.control.send_modify(|c| c.aborted = true);
        metrics::gauge!("replaygate_throttle_aborted").set(1.0);
        true
    }

    /// Why the replay was aborted, once it was.
    pub fn aborted(&self) -> Option<Abort> {
        self.aborted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Stops every session before its next statement; clients stay connected and wait.
    /// Returns false if the replay was already paused.
    pub fn pause(&self) -> bool {
        let changed = self
            .control
            .send_if_modified(|c| !std::mem::replace(&mut c.paused, true));
        if changed {
            *self.paused_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            metrics::gauge!("replaygate_throttle_paused").set(1.0);
            info!(
                "replay paused: sessions wait before their next statement; clients stay connected"
            );
        }
        changed
    }

    /// Lets the sessions go on. Returns false if the replay was not paused.
    pub fn resume(&self) -> bool {
        let changed = self
            .control
            .send_if_modified(|c| std::mem::replace(&mut c.paused, false));
        if changed {
            let since = self
                .paused_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let paused_secs = since.map_or(0.0, |s| s.elapsed().as_secs_f64());
            metrics::gauge!("replaygate_throttle_paused").set(0.0);
            info!(paused_secs, "replay resumed");
        }
        changed
    }

    pub fn status(&self) -> ThrottleStatus {
        let since = *self.paused_since.lock().unwrap_or_else(|e| e.into_inner());
        let control = *self.control.borrow();
        ThrottleStatus {
            paused: control.paused,
            paused_for_secs: since
                .filter(|_| control.paused)
                .map(|s| s.elapsed().as_secs_f64()),
            caps: control.caps,
            adaptive: self
                .adaptive
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
            throttled_secs: self
                .throttled
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .as_secs_f64(),
            aborted: self.aborted(),
        }
    }

    /// Admits `cost` at once when nothing throttles the replay (no pause, cap or abort): the
    /// fast path of [`admit`](Self::admit), for a caller that has work to do before it waits.
    pub fn admit_unthrottled(&self, cost: Cost) -> bool {
        if !self.control.borrow().unthrottled() {
            return false;
        }
        self.admitted
            .fetch_add(u64::from(cost.statements), Ordering::Relaxed);
        true
    }

    /// Waits until the replay is not paused and the caps admit `cost`, then takes it from the
    /// buckets. Returns how long it waited, or why the replay was aborted (before or while it
    /// waited): then nothing may be forwarded.
    pub async fn admit(&self, cost: Cost) -> Result<Duration, Abort> {
        if self.admit_unthrottled(cost) {
            return Ok(Duration::ZERO);
        }
        self.admitted
            .fetch_add(u64::from(cost.statements), Ordering::Relaxed);
        let mut control = self.control.subscribe();
        let started = Instant::now();
        let mut statements = u64::from(cost.statements);
        let mut bytes = cost.bytes;
        let mut transactions = u64::from(cost.transactions);
        let refused = loop {
            let now = *control.borrow_and_update();
            if now.aborted {
                break self.aborted();
            }
            let wait = if now.is_paused() {
                None
            } else {
                let wait = self
                    .statements
                    .try_take(&mut statements)
                    .or_else(|| self.bytes.try_take(&mut bytes))
                    .or_else(|| self.transactions.try_take(&mut transactions));
                match wait {
                    Some(wait) => Some(wait),
                    None => break None,
                }
            };
            // Wake on the wait's end, or on any change of caps or pause state.
            let sleep = async {
                match wait {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = sleep => {}
                changed = control.changed() => {
                    if changed.is_err() {
                        break None;
                    }
                }
            }
        };
        let waited = started.elapsed();
        if !waited.is_zero() {
            *self.throttled.lock().unwrap_or_else(|e| e.into_inner()) += waited;
            metrics::gauge!("replaygate_throttled_seconds_total").increment(waited.as_secs_f64());
        }
        refused.map_or(Ok(waited), Err)
    }
}

/// Whether a statement of `kind` ends a transaction on the target, for the transactions cap: a
/// COMMIT, or a statement that does work outside a transaction under autocommit. Tracks
/// BEGIN / COMMIT / ROLLBACK within a multi-statement query in `in_transaction`.
pub fn ends_transaction(kind: StatementKind, in_transaction: &mut bool) -> bool {
    use StatementKind::*;
    match kind {
        Begin => {
            *in_transaction = true;
            false
        }
        Commit => std::mem::replace(in_transaction, false),
        Rollback => {
            *in_transaction = false;
            false
        }
        // A BINLOG statement outside a transaction is a format description (each file's text
        // starts with one): row events come between BEGIN and COMMIT.
        SetSession | Use | Select | BinlogEvent => false,
        _ => !*in_transaction,
    }
}

#[cfg(test)]
#[path = "throttle_tests.rs"]
mod tests;
