//! The pure control loop: load reading (and the recently observed statement rate) in, adaptive
//! cap and pause out. No clock and no I/O, so every transition is a unit test.

use super::{AdaptiveState, OnCritical};

/// The controller's parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    pub max_load: f64,
    pub critical_load: f64,
    pub min_statements_per_sec: u32,
    pub recover_statements_per_sec: u32,
    pub on_critical: OnCritical,
}

/// What the controller decided for one reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub state: AdaptiveState,
    /// The adaptive statements cap; 0 = none.
    pub cap: u32,
    pub paused: bool,
}

/// The pure control loop: no clock, no I/O.
#[derive(Debug, Clone)]
pub struct Controller {
    limits: Limits,
    state: AdaptiveState,
    cap: u32,
    /// The rate the replay ran at when the load last went too high (0: not known). Recovery
    /// comes straight back to just below it, then probes upwards step by step: the rate before
    /// the overload is where the target was last fine (an external load that went away), and
    /// the step by step above it keeps a replay that is itself the load from swinging between
    /// too much and half of it.
    ceiling: u32,
}

/// Recovery comes back to this share of the ceiling in at most two readings, then goes on by
/// `recover_statements_per_sec` per reading.
const RETURN_TO: f64 = 0.9;

/// A cap the stream runs below this share of does not bind (what went through was not held
/// back by it): it is dropped.
const BINDING: f64 = 0.9;

impl Controller {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: AdaptiveState::Normal,
            cap: 0,
            ceiling: 0,
        }
    }

    /// What went through lately, or the cap when one held it back: the rate of the replay when
    /// the load went too high.
    fn running_rate(&self, observed_rate: f64, operator_cap: u32) -> u32 {
        if self.cap > 0 {
            self.cap
        } else {
            let rate = observed_rate.max(0.0).min(f64::from(u32::MAX)) as u32;
            combine(rate, operator_cap)
        }
    }

    /// Remembers the rate at which the load went too high, when it just did (not while it stays
    /// high: each halving would lower the ceiling to the floor).
    fn overloaded_at(&mut self, observed_rate: f64, operator_cap: u32) {
        if matches!(
            self.state,
            AdaptiveState::Normal | AdaptiveState::Recovering
        ) {
            self.ceiling = self.running_rate(observed_rate, operator_cap);
        }
    }

    /// One reading: `load` is the signal, `observed_rate` the statements per second admitted
    /// since the previous reading, `operator_cap` the operator's statements cap (0 = none).
    pub fn decide(&mut self, load: f64, observed_rate: f64, operator_cap: u32) -> Decision {
        let l = self.limits;
        let min = l.min_statements_per_sec;
        if self.state == AdaptiveState::Aborted {
            // Final: a load that falls again does not undo the halts it caused.
        } else if load >= l.critical_load && l.on_critical == OnCritical::Abort {
            self.cap = 0;
            self.state = AdaptiveState::Aborted;
        } else if load >= l.critical_load
            || (self.state == AdaptiveState::Paused && load >= l.max_load)
        {
            // Stay paused until the load is *below* max_load (hysteresis), so the replay does not
            // flap between paused and running around critical_load.
            self.overloaded_at(observed_rate, operator_cap);
            if self.cap == 0 {
                self.cap = min;
            }
            self.state = AdaptiveState::Paused;
        } else if load > l.max_load {
            // Start from what actually went through recently (a cap far above the real rate
            // would not slow anything down), then halve.
            self.overloaded_at(observed_rate, operator_cap);
            let base = self.running_rate(observed_rate, operator_cap);
            self.cap = (base / 2).max(min);
            self.state = AdaptiveState::BackingOff;
        } else if self.cap > 0 {
            let raised = self.recovered_cap();
            // The cap is dropped once it would no longer bind: it reached the operator's cap, or
            // the stream ran below it anyway (what is left to recover is not held back by it).
            let reached_operator = operator_cap > 0 && raised >= operator_cap;
            let not_binding = observed_rate < f64::from(self.cap) * BINDING;
            if reached_operator || not_binding {
                self.cap = 0;
                self.state = AdaptiveState::Normal;
            } else {
                self.cap = raised;
                self.state = AdaptiveState::Recovering;
            }
        } else {
            self.state = AdaptiveState::Normal;
        }
        self.decision()
    }

    /// The next cap while the load is fine: straight back towards the ceiling (half of it at
    /// once, [`RETURN_TO`] of it the reading after), then `recover_statements_per_sec` at a time.
    /// With no ceiling known (paused before any rate was seen), doubling.
    fn recovered_cap(&self) -> u32 {
        let step = self.limits.recover_statements_per_sec;
        if self.ceiling == 0 {
            return self
                .cap
                .saturating_mul(2)
                .max(self.cap.saturating_add(step));
        }
        let near = (f64::from(self.ceiling) * RETURN_TO) as u32;
        if self.cap < near {
            self.cap.saturating_mul(2).max(self.ceiling / 2).min(near)
        } else {
            self.cap.saturating_add(step)
        }
    }

    /// A reading without a value where not knowing is unsafe (`replica_lag`: a replica that is
    /// unreachable or whose replication stopped may be arbitrarily far behind): pause, as at
    /// `critical_load`. The pause ends at the first reading below `max_load`, as any pause does.
    ///
    /// It pauses even with `on_critical = "abort"`: an abort is irreversible and needs a measured
    /// value at `critical_load`; an unknown one may be a replica restarting, and the pause is the
    /// safe, reversible answer.
    pub fn load_unknown(&mut self) -> Decision {
        if self.state == AdaptiveState::Aborted {
            return self.decision();
        }
        if self.cap == 0 {
            self.cap = self.limits.min_statements_per_sec;
        }
        self.state = AdaptiveState::Paused;
        self.decision()
    }

    fn decision(&self) -> Decision {
        Decision {
            state: self.state,
            cap: self.cap,
            paused: self.state == AdaptiveState::Paused,
        }
    }
}

/// The smaller of a rate and a cap (0 = no cap); a rate of 0 stays 0.
fn combine(rate: u32, cap: u32) -> u32 {
    if cap > 0 { rate.min(cap) } else { rate }
}

#[cfg(test)]
mod tests {
    use super::*;
    use AdaptiveState::*;

    fn controller() -> Controller {
        Controller::new(Limits {
            max_load: 3.0,
            critical_load: 6.0,
            min_statements_per_sec: 10,
            recover_statements_per_sec: 50,
            on_critical: OnCritical::Pause,
        })
    }

    #[test]
    fn low_load_changes_nothing() {
        let mut c = controller();
        for load in [0.0, 1.0, 3.0] {
            let d = c.decide(load, 5000.0, 0);
            assert_eq!((d.state, d.cap, d.paused), (Normal, 0, false));
        }
    }

    #[test]
    fn high_load_halves_from_the_observed_rate_down_to_the_floor() {
        let mut c = controller();
        assert_eq!(c.decide(4.0, 1000.0, 0).cap, 500);
        assert_eq!(c.decide(4.0, 500.0, 0).cap, 250);
        let d = c.decide(5.0, 250.0, 0);
        assert_eq!((d.state, d.cap, d.paused), (BackingOff, 125, false));
        for _ in 0..10 {
            c.decide(4.0, 10.0, 0);
        }
        assert_eq!(c.decide(4.0, 10.0, 0).cap, 10, "floor");
    }

    #[test]
    fn back_off_starts_from_the_operator_cap_when_it_is_lower() {
        let mut c = controller();
        assert_eq!(c.decide(4.0, 1000.0, 200).cap, 100);
    }

    #[test]
    fn recovery_comes_straight_back_below_the_rate_before_the_overload_then_steps() {
        let mut c = controller();
        // The replay ran at 5041/s when an external load came; it backs off to the floor.
        let mut observed = 5041.0;
        for _ in 0..12 {
            observed = f64::from(c.decide(4.0, observed, 0).cap);
        }
        assert_eq!(c.decide(4.0, observed, 0).cap, 10, "floor");
        // The load goes away: half the old rate at once, 90% of it the reading after.
        let d = c.decide(1.0, 10.0, 0);
        assert_eq!((d.state, d.cap), (Recovering, 2520));
        assert_eq!(c.decide(1.0, 2520.0, 0).cap, 4536);
        // Then step by step, and dropped once the stream no longer needs it.
        assert_eq!(c.decide(1.0, 4536.0, 0).cap, 4586);
        let d = c.decide(1.0, 4100.0, 0);
        assert_eq!((d.state, d.cap), (Normal, 0), "4100/s under a 4586 cap");
    }

    #[test]
    fn recovery_stops_at_the_operator_cap() {
        let mut c = controller();
        c.decide(4.0, 400.0, 300);
        assert_eq!(c.ceiling, 300, "the operator's cap held the rate");
        let d = c.decide(1.0, 150.0, 300);
        assert_eq!((d.state, d.cap), (Recovering, 270));
        let d = c.decide(1.0, 270.0, 300);
        assert_eq!((d.state, d.cap), (Normal, 0), "reached the operator's cap");
    }

    #[test]
    fn the_cap_is_dropped_once_the_stream_is_below_it() {
        let mut c = controller();
        c.decide(4.0, 1000.0, 0);
        let d = c.decide(1.0, 400.0, 0);
        assert_eq!((d.state, d.cap), (Normal, 0), "400/s under a 500 cap");
    }

    /// A replay that is itself the load (the target takes 4000/s, the stream could do 5000/s)
    /// settles just below what the target takes instead of swinging: a probe above it now and
    /// then (one reading, never two in a row), never a pause, most of the capacity used.
    #[test]
    fn a_replay_that_is_the_load_settles_without_swinging() {
        let mut c = controller();
        let (capacity, stream) = (4000.0, 5000.0);
        let (mut overloads, mut in_a_row, mut total) = (0, 0, 0.0);
        let mut cap = 0u32;
        for i in 0..300 {
            let rate = if cap == 0 {
                stream
            } else {
                f64::from(cap).min(stream)
            };
            let overloaded = rate > capacity;
            if overloaded {
                overloads += 1;
                in_a_row += 1;
                assert!(
                    in_a_row == 1 || i < 6,
                    "overloaded {in_a_row} readings in a row"
                );
            } else {
                in_a_row = 0;
            }
            total += rate.min(capacity);
            let d = c.decide(if overloaded { 4.0 } else { 1.0 }, rate, 0);
            assert!(!d.paused);
            cap = d.cap;
        }
        assert!(
            overloads <= 300 / 8,
            "{overloads} of 300 readings overloaded"
        );
        let average = total / 300.0;
        assert!(average >= 0.85 * capacity, "{average} on average");
    }

    #[test]
    fn an_unknown_load_pauses_until_a_reading_below_max_load() {
        let mut c = controller();
        c.decide(4.0, 1000.0, 0);
        let d = c.load_unknown();
        assert_eq!((d.state, d.paused, d.cap), (Paused, true, 500));
        assert!(
            c.decide(4.0, 0.0, 0).paused,
            "known again but above max_load"
        );
        assert!(c.load_unknown().paused);
        let d = c.decide(1.0, 0.0, 0);
        assert!(!d.paused);
        assert_ne!(d.state, Paused);
        let mut fresh = controller();
        assert_eq!(fresh.load_unknown().cap, 10, "the floor while paused");
    }

    #[test]
    fn with_on_critical_abort_critical_load_aborts_for_good_but_unknown_only_pauses() {
        let mut c = Controller::new(Limits {
            on_critical: OnCritical::Abort,
            ..controller().limits
        });
        c.decide(4.0, 1000.0, 0);
        let d = c.load_unknown();
        assert_eq!(
            (d.state, d.paused),
            (Paused, true),
            "unknown is not a reading"
        );
        assert_eq!(c.decide(5.0, 0.0, 0).state, Paused, "hysteresis as usual");
        let d = c.decide(6.0, 0.0, 0);
        assert_eq!((d.state, d.paused, d.cap), (Aborted, false, 0));
        for load in [0.0, 1.0, 7.0] {
            assert_eq!(c.decide(load, 0.0, 0).state, Aborted, "final");
        }
        assert_eq!(c.load_unknown().state, Aborted);
    }

    #[test]
    fn critical_load_pauses_until_below_max_load() {
        let mut c = controller();
        let d = c.decide(6.0, 1000.0, 0);
        assert_eq!((d.state, d.paused), (Paused, true));
        // Between max and critical: still paused (hysteresis).
        assert!(c.decide(4.0, 0.0, 0).paused);
        assert!(c.decide(3.0, 0.0, 0).paused, "at max_load: not below it");
        let d = c.decide(2.0, 0.0, 0);
        assert!(!d.paused);
        assert_ne!(d.state, Paused);
    }
}
