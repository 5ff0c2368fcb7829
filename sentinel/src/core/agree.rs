//! How the sentinels watching one master agree, as pure state: the failure reports of the other
//! sentinels (for ODOWN), whether this sentinel leads the group (only the leader starts a
//! failover), and a failover start waiting to be committed.
//!
//! - **Alone** (no group): this sentinel's own view is the only vote and it always leads — the
//!   single-sentinel deployment Redis allows with quorum 1.
//! - **In a group**: every sentinel reports its SDOWN view of each master to the others about
//!   once a second. ODOWN holds when this sentinel and the peers whose last report is fresh (at
//!   most [`REPORT_FRESH_MS`] old) and says "down" for the *current* master address reach the
//!   quorum. Only the Raft leader starts a failover, and only once the start — a new config
//!   epoch, the fencing token — is committed by a majority; a sentinel cut off with a minority
//!   can neither lead nor commit, so it never acts.

use std::collections::BTreeMap;

/// A peer's report older than this no longer counts (ms); reports arrive every second.
pub const REPORT_FRESH_MS: u64 = 5000;

/// A peer's last report about a master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// When it arrived.
    pub at: u64,
    /// The master address the peer reported about.
    pub addr: String,
    /// Down in the peer's view.
    pub sdown: bool,
}

/// A failover start proposed to the group, not yet committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    /// Its config epoch.
    pub epoch: u64,
    /// When it was proposed.
    pub since: u64,
    /// Graceful (manual, master up): the old master to pause.
    pub graceful: Option<String>,
    /// Asked for by SENTINEL FAILOVER (decided at once, no grace to find a replica).
    pub manual: bool,
}

/// The agreement state of one master.
#[derive(Debug, Clone, Default)]
pub enum Agreement {
    /// No group: this sentinel decides alone.
    #[default]
    Alone,
    /// A member of a sentinel group.
    Group {
        /// This sentinel is the group's Raft leader.
        leader: bool,
        /// The peers' last reports, by peer id.
        reports: BTreeMap<u64, Report>,
        /// A failover start waiting for its commit.
        pending: Option<Pending>,
    },
}

impl Agreement {
    /// A group member that does not lead (yet).
    pub fn group() -> Agreement {
        Agreement::Group { leader: false, reports: BTreeMap::new(), pending: None }
    }

    /// Is this sentinel in a group?
    pub fn in_group(&self) -> bool {
        matches!(self, Agreement::Group { .. })
    }

    /// May this sentinel start a failover (alone, or the group's leader)?
    pub fn leads(&self) -> bool {
        match self {
            Agreement::Alone => true,
            Agreement::Group { leader, .. } => *leader,
        }
    }

    /// Peers that reported `master` down within the freshness window, at `now`.
    pub fn peer_votes(&self, now: u64, master: &str) -> usize {
        match self {
            Agreement::Alone => 0,
            Agreement::Group { reports, .. } => reports
                .values()
                .filter(|r| r.sdown && r.addr == master && now.saturating_sub(r.at) <= REPORT_FRESH_MS)
                .count(),
        }
    }

    /// Peers heard from within the freshness window (for CKQUORUM), at `now`.
    pub fn peers_alive(&self, now: u64) -> usize {
        match self {
            Agreement::Alone => 0,
            Agreement::Group { reports, .. } => {
                reports.values().filter(|r| now.saturating_sub(r.at) <= REPORT_FRESH_MS).count()
            }
        }
    }

    /// Records a peer's report.
    pub fn report(&mut self, from: u64, report: Report) {
        if let Agreement::Group { reports, .. } = self {
            reports.insert(from, report);
        }
    }

    /// Leadership changed.
    pub fn set_leader(&mut self, is_leader: bool) {
        if let Agreement::Group { leader, pending, .. } = self {
            *leader = is_leader;
            if !is_leader {
                *pending = None;
            }
        }
    }

    /// The failover start waiting for its commit, if any.
    pub fn pending(&self) -> Option<&Pending> {
        match self {
            Agreement::Group { pending, .. } => pending.as_ref(),
            Agreement::Alone => None,
        }
    }

    /// Sets or clears the pending start.
    pub fn set_pending(&mut self, p: Option<Pending>) {
        if let Agreement::Group { pending, .. } = self {
            *pending = p;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn down(at: u64, addr: &str) -> Report {
        Report { at, addr: addr.into(), sdown: true }
    }

    #[test]
    fn only_fresh_reports_about_the_current_master_count() {
        let mut a = Agreement::group();
        a.report(1, down(1000, "m:1"));
        a.report(2, down(1000, "old:1"));
        a.report(3, Report { at: 1000, addr: "m:1".into(), sdown: false });
        assert_eq!(a.peer_votes(2000, "m:1"), 1);
        assert_eq!(a.peer_votes(1000 + REPORT_FRESH_MS + 1, "m:1"), 0, "stale");
        assert_eq!(a.peers_alive(2000), 3);
        assert_eq!(Agreement::Alone.peer_votes(2000, "m:1"), 0);
    }

    #[test]
    fn only_the_leader_leads_and_losing_leadership_drops_a_pending_start() {
        let mut a = Agreement::group();
        assert!(!a.leads());
        a.set_leader(true);
        a.set_pending(Some(Pending { epoch: 3, since: 0, graceful: None, manual: false }));
        assert!(a.leads() && a.pending().is_some());
        a.set_leader(false);
        assert!(!a.leads() && a.pending().is_none());
        assert!(Agreement::Alone.leads());
    }
}
