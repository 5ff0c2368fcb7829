//! Choosing the replica to promote (Redis Sentinel's `sentinelSelectReplica`).
//!
//! A pure function over what the sentinel knows of each replica, with the time passed in.
//!
//! **Excluded:** replicas that are SDOWN or ODOWN; whose link is disconnected; whose last valid
//! PING reply is older than 5 × the ping period; with priority 0; whose INFO is older than
//! 5 × the ping period while the master is SDOWN (else 3 × the info period); whose own link
//! to the master has been down longer than (time the master has been SDOWN) + 10 × down-after.
//!
//! **Order:** lower priority first, then the larger replication offset, then the
//! lexicographically smaller run id, a missing run id last. The order is total, so every
//! sentinel that sees the same facts picks the same replica.

use std::cmp::Ordering;

/// What the sentinel knows of one replica, at the time of the choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// `ip:port`, for reporting.
    pub addr: String,
    /// The replica is subjectively or objectively down.
    pub down: bool,
    /// The command link is connected.
    pub connected: bool,
    /// Milliseconds since the last valid PING reply.
    pub since_ping_reply_ms: u64,
    /// Milliseconds since the last INFO reply.
    pub since_info_ms: u64,
    /// `slave_priority`.
    pub priority: u32,
    /// `slave_repl_offset`.
    pub offset: u64,
    /// `run_id`, if known.
    pub run_id: Option<String>,
    /// `master_link_down_since_seconds` in ms (0 if the link is up).
    pub master_link_down_ms: u64,
}

/// The timing parameters of the choice.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Ping period (1000 ms).
    pub ping_period_ms: u64,
    /// Info period (10000 ms).
    pub info_period_ms: u64,
    /// The master's down-after-milliseconds.
    pub down_after_ms: u64,
    /// Is the master SDOWN now?
    pub master_sdown: bool,
    /// How long the master has been SDOWN (0 if it is not).
    pub master_down_for_ms: u64,
}

/// Why a replica was not eligible (for logs and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Excluded {
    /// SDOWN or ODOWN.
    Down,
    /// Link disconnected.
    Disconnected,
    /// No valid PING reply recently.
    StalePing,
    /// `replica-priority 0`.
    PriorityZero,
    /// INFO too old.
    StaleInfo,
    /// Disconnected from the master for too long: its data is too old.
    LinkDownTooLong,
}

/// Why `c` may not be promoted, if it may not.
pub fn exclusion(c: &Candidate, l: &Limits) -> Option<Excluded> {
    let info_validity = if l.master_sdown { 5 * l.ping_period_ms } else { 3 * l.info_period_ms };
    let max_link_down = l.master_down_for_ms + 10 * l.down_after_ms;
    if c.down {
        Some(Excluded::Down)
    } else if !c.connected {
        Some(Excluded::Disconnected)
    } else if c.since_ping_reply_ms > 5 * l.ping_period_ms {
        Some(Excluded::StalePing)
    } else if c.priority == 0 {
        Some(Excluded::PriorityZero)
    } else if c.since_info_ms > info_validity {
        Some(Excluded::StaleInfo)
    } else if c.master_link_down_ms > max_link_down {
        Some(Excluded::LinkDownTooLong)
    } else {
        None
    }
}

/// Orders candidates best first.
fn better(a: &Candidate, b: &Candidate) -> Ordering {
    a.priority.cmp(&b.priority).then_with(|| b.offset.cmp(&a.offset)).then_with(|| match (&a.run_id, &b.run_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    })
}

/// The index of the best eligible candidate, if any.
pub fn select(candidates: &[Candidate], limits: &Limits) -> Option<usize> {
    candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| exclusion(c, limits).is_none())
        .min_by(|(_, a), (_, b)| better(a, b))
        .map(|(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(addr: &str, priority: u32, offset: u64, run_id: Option<&str>) -> Candidate {
        Candidate {
            addr: addr.into(),
            down: false,
            connected: true,
            since_ping_reply_ms: 100,
            since_info_ms: 1000,
            priority,
            offset,
            run_id: run_id.map(str::to_string),
            master_link_down_ms: 0,
        }
    }

    const L: Limits = Limits {
        ping_period_ms: 1000,
        info_period_ms: 10_000,
        down_after_ms: 5000,
        master_sdown: true,
        master_down_for_ms: 2000,
    };

    fn pick(cs: &[Candidate]) -> Option<&str> {
        select(cs, &L).map(|i| cs[i].addr.as_str())
    }

    #[test]
    fn lower_priority_wins_before_offset() {
        assert_eq!(pick(&[c("a", 100, 900, Some("a")), c("b", 10, 100, Some("b"))]), Some("b"));
    }

    #[test]
    fn larger_offset_wins_at_equal_priority() {
        assert_eq!(pick(&[c("a", 100, 100, Some("a")), c("b", 100, 200, Some("b"))]), Some("b"));
    }

    #[test]
    fn smaller_run_id_breaks_ties_and_a_missing_one_sorts_last() {
        assert_eq!(pick(&[c("a", 100, 5, Some("bbb")), c("b", 100, 5, Some("aaa"))]), Some("b"));
        assert_eq!(pick(&[c("a", 100, 5, None), c("b", 100, 5, Some("zzz"))]), Some("b"));
    }

    #[test]
    fn priority_zero_is_never_promoted() {
        let mut only = c("a", 0, 999, Some("a"));
        assert_eq!(exclusion(&only, &L), Some(Excluded::PriorityZero));
        assert_eq!(pick(std::slice::from_ref(&only)), None);
        only.priority = 1;
        assert_eq!(pick(&[only]), Some("a"));
    }

    #[test]
    fn down_disconnected_and_stale_replicas_are_excluded() {
        let mut down = c("down", 1, 1, None);
        down.down = true;
        let mut gone = c("gone", 1, 1, None);
        gone.connected = false;
        let mut silent = c("silent", 1, 1, None);
        silent.since_ping_reply_ms = 5001;
        let mut old_info = c("old-info", 1, 1, None);
        old_info.since_info_ms = 5001; // master is SDOWN: INFO must be under 5 s old
        let mut lagging = c("lagging", 1, 1, None);
        lagging.master_link_down_ms = 2000 + 10 * 5000 + 1;
        let excluded = [down, gone, silent, old_info, lagging];
        let why: Vec<_> = excluded.iter().map(|x| exclusion(x, &L)).collect();
        assert_eq!(
            why,
            vec![
                Some(Excluded::Down),
                Some(Excluded::Disconnected),
                Some(Excluded::StalePing),
                Some(Excluded::StaleInfo),
                Some(Excluded::LinkDownTooLong)
            ]
        );
        assert_eq!(pick(&excluded), None);
    }

    #[test]
    fn info_may_be_older_while_the_master_is_not_down() {
        let mut x = c("x", 1, 1, None);
        x.since_info_ms = 29_000;
        let calm = Limits { master_sdown: false, master_down_for_ms: 0, ..L };
        assert_eq!(exclusion(&x, &calm), None);
        assert_eq!(exclusion(&x, &L), Some(Excluded::StaleInfo));
    }
}
