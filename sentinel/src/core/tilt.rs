//! TILT: when the sentinel's own timer misbehaves, it stops trusting its observations.
//!
//! The core ticks every 100 ms and reports the wall clock each time. If the clock moved
//! backwards, or more than `tilt-trigger` (2 s) passed between two ticks — the process was
//! stopped (SIGSTOP, a VM pause, swapping) or the clock jumped — every PING deadline it measured
//! is meaningless: instances would look down only because *we* did not look. The sentinel then
//! enters TILT for `tilt-period` (30 s): it keeps its links, PINGs and INFOs, but judges nothing
//! down and acts on nothing. Every new trigger restarts the period and is announced again with
//! `+tilt`; `-tilt` announces the exit. This is Redis Sentinel's rule, kept as is.

/// A change of the TILT state, to announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// `+tilt #tilt mode entered` (also on a new trigger while in TILT).
    Entered,
    /// `-tilt #tilt mode exited`.
    Exited,
}

/// TILT state: pure, fed with the wall clock.
#[derive(Debug, Clone)]
pub struct Tilt {
    /// A gap longer than this between ticks triggers TILT (ms).
    pub trigger_ms: u64,
    /// TILT lasts this long after the last trigger (ms).
    pub period_ms: u64,
    last: Option<i64>,
    since: Option<i64>,
    /// How many times TILT was entered.
    pub total: u64,
}

impl Tilt {
    /// Redis's defaults: trigger 2 s, period 30 s.
    pub fn new() -> Tilt {
        Tilt { trigger_ms: 2000, period_ms: 30_000, last: None, since: None, total: 0 }
    }

    /// In TILT now?
    pub fn active(&self) -> bool {
        self.since.is_some()
    }

    /// Seconds since TILT was (last) entered, if in TILT.
    pub fn since_seconds(&self, wall_ms: i64) -> Option<i64> {
        self.since.map(|s| (wall_ms - s).max(0) / 1000)
    }

    /// One timer tick at wall-clock time `wall_ms`.
    pub fn tick(&mut self, wall_ms: i64) -> Option<Change> {
        let delta = self.last.map(|l| wall_ms - l);
        self.last = Some(wall_ms);
        if delta.is_some_and(|d| d < 0 || d > self.trigger_ms as i64) {
            if self.since.is_none() {
                self.total += 1;
            }
            self.since = Some(wall_ms);
            return Some(Change::Entered);
        }
        match self.since {
            Some(s) if wall_ms - s > self.period_ms as i64 => {
                self.since = None;
                Some(Change::Exited)
            }
            _ => None,
        }
    }
}

impl Default for Tilt {
    fn default() -> Tilt {
        Tilt::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stall_enters_tilt_and_a_quiet_period_leaves_it() {
        let mut t = Tilt::new();
        assert_eq!(t.tick(1_000), None);
        assert_eq!(t.tick(1_100), None);
        assert_eq!(t.tick(3_100), None, "exactly the trigger is not a stall");
        assert_eq!(t.tick(5_200), Some(Change::Entered));
        assert!(t.active());
        assert_eq!(t.since_seconds(7_300), Some(2));
        let mut now = 5_200;
        while now < 5_200 + 30_000 {
            now += 100;
            assert_eq!(t.tick(now), None, "still in TILT at {now}");
        }
        assert_eq!(t.tick(now + 100), Some(Change::Exited));
        assert!(!t.active());
        assert_eq!(t.total, 1);
    }

    #[test]
    fn a_clock_going_backwards_triggers_and_a_new_trigger_restarts_the_period() {
        let mut t = Tilt::new();
        t.tick(10_000);
        assert_eq!(t.tick(9_000), Some(Change::Entered));
        assert_eq!(t.tick(25_000), Some(Change::Entered), "a jump inside TILT restarts it");
        assert_eq!(t.total, 1, "one TILT, triggered twice");
        let mut now = 25_000;
        for _ in 0..300 {
            now += 100;
            assert_eq!(t.tick(now), None);
        }
        assert_eq!(t.tick(now + 100), Some(Change::Exited));
    }
}
