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
}

impl Controller {
    pub fn new(limits: Limits) -> Self {
        Self {
            limits,
            state: AdaptiveState::Normal,
            cap: 0,
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
            if self.cap == 0 {
                self.cap = min;
            }
            self.state = AdaptiveState::Paused;
        } else if load > l.max_load {
            // Start from what actually went through recently (a cap far above the real rate
            // would not slow anything down), then halve.
            let base = if self.cap > 0 {
                self.cap
            } else {
                let rate = observed_rate.max(0.0).min(f64::from(u32::MAX)) as u32;
                combine(rate, operator_cap)
            };
            self.cap = (base / 2).max(min);
            self.state = AdaptiveState::BackingOff;
        } else if self.cap > 0 {
            let raised = self.cap.saturating_add(l.recover_statements_per_sec);
            // The cap is dropped once it would no longer bind: it reached the operator's cap, or
            // the stream is well below it anyway (nothing left to recover).
            let reached_operator = operator_cap > 0 && raised >= operator_cap;
            let not_binding = observed_rate < f64::from(self.cap) / 2.0;
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
    fn recovery_is_additive_and_stops_at_the_operator_cap() {
        let mut c = controller();
        c.decide(4.0, 400.0, 300);
        assert_eq!(c.decide(1.0, 150.0, 300).cap, 200);
        let d = c.decide(1.0, 200.0, 300);
        assert_eq!((d.state, d.cap), (Recovering, 250));
        let d = c.decide(1.0, 250.0, 300);
        assert_eq!((d.state, d.cap), (Normal, 0), "reached the operator's cap");
    }

    #[test]
    fn the_cap_is_dropped_once_the_stream_is_well_below_it() {
        let mut c = controller();
        c.decide(4.0, 1000.0, 0);
        let d = c.decide(1.0, 100.0, 0);
        assert_eq!((d.state, d.cap), (Normal, 0));
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
