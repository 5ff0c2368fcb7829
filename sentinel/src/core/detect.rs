//! Subjective failure detection (SDOWN) of one instance, as a pure state machine.
//!
//! The driver reports what happens on the instance's link — a PING sent, a reply, an INFO role —
//! and calls [`Detector::tick`] with the current time; the detector never reads a clock. It
//! answers with the transition, if any, so the driver can emit `+sdown` / `-sdown`.
//!
//! An instance is SDOWN when:
//! - (a) it gave no valid reply (`PONG`, `LOADING`, `MASTERDOWN`) for more than
//!   `down-after-milliseconds`, counted from the oldest unanswered PING — reconnecting does not
//!   reset it — or, with no PING pending, from the last valid reply while disconnected;
//! - (b) we think it is a master but its INFO has said `role:slave` for more than
//!   down-after + 2 × the info period;
//! - (c) it rebooted (its run id changed) and, with `master-reboot-down-after-period` set, has
//!   answered no plain `PONG` (only `LOADING`) for longer than that period.

/// A reply to PING.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PingReply {
    /// `+PONG`.
    Pong,
    /// `-LOADING ...`: alive, loading its dataset.
    Loading,
    /// `-MASTERDOWN ...`: alive, a replica whose link is down.
    MasterDown,
    /// Anything else (an error such as `-NOAUTH`): not a sign of life.
    Other,
}

/// A change of the SDOWN state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// Entered SDOWN (`+sdown`).
    Down,
    /// Left SDOWN (`-sdown`).
    Up,
}

/// Timing parameters (ms).
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// down-after-milliseconds.
    pub down_after_ms: u64,
    /// The INFO period.
    pub info_period_ms: u64,
    /// master-reboot-down-after-period (0: off).
    pub reboot_down_after_ms: u64,
}

/// SDOWN state of one instance.
#[derive(Debug, Clone)]
pub struct Detector {
    params: Params,
    /// When the oldest PING still unanswered was sent.
    pending_since: Option<u64>,
    /// When the last valid reply arrived (or the detector started).
    last_valid: u64,
    /// When the last plain PONG arrived.
    last_pong: u64,
    /// Since when INFO has reported `role:slave` for what we think is a master.
    wrong_role_since: Option<u64>,
    /// When a reboot was seen, if the reboot rule applies.
    rebooted_at: Option<u64>,
    connected: bool,
    sdown_since: Option<u64>,
}

impl Detector {
    /// A detector started at `now`, counting the start as a sign of life.
    pub fn new(params: Params, now: u64) -> Detector {
        Detector {
            params,
            pending_since: None,
            last_valid: now,
            last_pong: now,
            wrong_role_since: None,
            rebooted_at: None,
            connected: false,
            sdown_since: None,
        }
    }

    /// Changes the timing (`SENTINEL SET down-after-milliseconds`, ...).
    pub fn set_params(&mut self, params: Params) {
        self.params = params;
    }

    /// The link came up or went down. An unanswered PING stays unanswered across reconnections,
    /// as in Redis: an address that accepts connections and never answers (a port proxy whose
    /// backend is gone, a blackholed link the sentinel keeps reconnecting) must not look alive
    /// each time the connection is re-established.
    pub fn link(&mut self, connected: bool) {
        self.connected = connected;
    }

    /// A PING was sent at `now`.
    pub fn ping_sent(&mut self, now: u64) {
        self.pending_since.get_or_insert(now);
    }

    /// A PING reply arrived at `now`.
    pub fn ping_reply(&mut self, reply: PingReply, now: u64) {
        if reply == PingReply::Other {
            return;
        }
        self.pending_since = None;
        self.last_valid = now;
        if reply == PingReply::Pong {
            self.last_pong = now;
            self.rebooted_at = None;
        }
    }

    /// INFO arrived: whether an instance we think is a master says it is a replica.
    pub fn role_mismatch(&mut self, mismatch: bool, now: u64) {
        if mismatch {
            self.wrong_role_since.get_or_insert(now);
        } else {
            self.wrong_role_since = None;
        }
    }

    /// The instance's run id changed (it restarted).
    pub fn rebooted(&mut self, now: u64) {
        if self.params.reboot_down_after_ms > 0 {
            self.rebooted_at = Some(now);
        }
    }

    /// How long the oldest unanswered PING has been pending at `now` (0 if none).
    pub fn ping_pending_for(&self, now: u64) -> u64 {
        self.pending_since.map_or(0, |t| now.saturating_sub(t))
    }

    /// True while SDOWN.
    pub fn is_down(&self) -> bool {
        self.sdown_since.is_some()
    }

    /// How long the instance has been SDOWN at `now` (0 if it is not).
    pub fn down_for(&self, now: u64) -> u64 {
        self.sdown_since.map_or(0, |t| now.saturating_sub(t))
    }

    /// Re-evaluates the rules at `now`.
    pub fn tick(&mut self, now: u64) -> Option<Transition> {
        let p = &self.params;
        let silent_since = match (self.pending_since, self.connected) {
            (Some(t), _) => Some(t),
            (None, true) => None,
            (None, false) => Some(self.last_valid),
        };
        let no_reply = silent_since.is_some_and(|t| now.saturating_sub(t) > p.down_after_ms);
        let wrong_role =
            self.wrong_role_since.is_some_and(|t| now.saturating_sub(t) > p.down_after_ms + 2 * p.info_period_ms);
        let stuck_loading = self.rebooted_at.is_some() && now.saturating_sub(self.last_pong) > p.reboot_down_after_ms;
        let down = no_reply || wrong_role || stuck_loading;
        match (down, self.sdown_since) {
            (true, None) => {
                self.sdown_since = Some(now);
                Some(Transition::Down)
            }
            (false, Some(_)) => {
                self.sdown_since = None;
                Some(Transition::Up)
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: Params = Params { down_after_ms: 1000, info_period_ms: 10_000, reboot_down_after_ms: 0 };

    fn connected(now: u64) -> Detector {
        let mut d = Detector::new(P, now);
        d.link(true);
        d
    }

    #[test]
    fn an_unanswered_ping_counts_from_when_it_was_sent() {
        let mut d = connected(0);
        d.ping_sent(100);
        assert_eq!(d.tick(1100), None, "exactly down-after is not yet down");
        d.ping_sent(600); // a later PING does not restart the clock
        assert_eq!(d.tick(1101), Some(Transition::Down));
        assert!(d.is_down());
        assert_eq!(d.down_for(1601), 500);
        d.ping_reply(PingReply::Pong, 1700);
        assert_eq!(d.tick(1700), Some(Transition::Up));
    }

    #[test]
    fn loading_and_masterdown_are_signs_of_life_but_errors_are_not() {
        let mut d = connected(0);
        d.ping_sent(0);
        d.ping_reply(PingReply::Loading, 900);
        d.ping_sent(1000);
        d.ping_reply(PingReply::MasterDown, 1900);
        d.ping_sent(2000);
        d.ping_reply(PingReply::Other, 2100);
        assert_eq!(d.tick(2900), None);
        assert_eq!(d.tick(3001), Some(Transition::Down), "-NOAUTH does not answer the PING");
    }

    #[test]
    fn a_disconnected_instance_is_down_after_down_after_since_its_last_reply() {
        let mut d = connected(0);
        d.ping_sent(0);
        d.ping_reply(PingReply::Pong, 10);
        d.link(false);
        assert_eq!(d.tick(1010), None);
        assert_eq!(d.tick(1011), Some(Transition::Down));
    }

    #[test]
    fn reconnecting_to_an_address_that_never_answers_does_not_look_alive() {
        let mut d = connected(0);
        d.ping_sent(100);
        assert_eq!(d.tick(1101), Some(Transition::Down));
        // The link times out and is re-established (the address accepts connections), and a
        // new PING goes out: the first unanswered one still counts.
        d.link(false);
        d.link(true);
        d.ping_sent(1200);
        assert_eq!(d.tick(1300), None, "no -sdown on reconnection");
        assert!(d.is_down());
        d.ping_reply(PingReply::Pong, 1400);
        assert_eq!(d.tick(1400), Some(Transition::Up));
    }

    #[test]
    fn a_master_claiming_to_be_a_replica_goes_down_after_the_grace_period() {
        let mut d = connected(0);
        d.role_mismatch(true, 0);
        d.ping_reply(PingReply::Pong, 21_000);
        assert_eq!(d.tick(21_000), None);
        d.ping_reply(PingReply::Pong, 21_001);
        assert_eq!(d.tick(21_001), Some(Transition::Down));
        d.role_mismatch(false, 22_000);
        assert_eq!(d.tick(22_000), Some(Transition::Up));
    }

    #[test]
    fn a_rebooted_master_stuck_loading_goes_down_when_the_rule_is_on() {
        let mut d = Detector::new(Params { reboot_down_after_ms: 5000, ..P }, 0);
        d.link(true);
        d.rebooted(100);
        for t in (500..=6000).step_by(500) {
            d.ping_sent(t);
            d.ping_reply(PingReply::Loading, t + 1);
        }
        assert_eq!(d.tick(6001), Some(Transition::Down), "LOADING for 6 s after a reboot");
        d.ping_reply(PingReply::Pong, 6100);
        assert_eq!(d.tick(6100), Some(Transition::Up));
    }
}
