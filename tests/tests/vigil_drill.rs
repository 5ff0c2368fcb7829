//! `vigil drill` against the local group of `vigil up` (vigil-node + vigil-sentinel): every
//! scenario under a writing client, and the drill's numbers are consistent; with `--wait 1` no
//! acknowledged write is lost. Three groups, so the three tests can run at once.

use vigil_tests::{VigilUp, drill, drill_num};

/// Runs `scenarios` one after the other on one `vigil up` group (each drill leaves it whole),
/// with `extra` drill options; returns each drill's JSON line.
fn run_all(tag: &str, scenarios: &[(&str, &[&str])]) -> Vec<String> {
    let up = VigilUp::start(std::env::temp_dir().join(format!("vigil-drill-{tag}-{}", std::process::id())));
    let dir = up.dir.to_str().expect("utf-8 dir");
    scenarios
        .iter()
        .map(|(s, extra)| {
            let r = drill(s, &[&["--dir", dir], *extra].concat());
            eprintln!("{s}: {r}");
            r
        })
        .collect()
}

/// Failover scenarios: with `WAIT 1` no acknowledged write is lost, detection comes before the
/// switch, exactly one failover happens, and nothing is acknowledged by two masters at once.
#[test]
fn failover_drills_with_wait_1_lose_no_acknowledged_write() {
    let wait1: &[&str] = &["--wait", "1"];
    let scenarios =
        [("kill-master", wait1), ("pause-master", wait1), ("partition-master", wait1), ("kill-leader", wait1)];
    for r in run_all("failover", &scenarios) {
        assert!(drill_num(&r, "acknowledged") > 0, "{r}");
        assert_eq!(drill_num(&r, "lost"), 0, "acknowledged writes lost with WAIT 1: {r}");
        assert_eq!(drill_num(&r, "failovers"), 1, "exactly one failover: {r}");
        let (sdown, odown, switch) = (drill_num(&r, "sdown_ms"), drill_num(&r, "odown_ms"), drill_num(&r, "switch_ms"));
        assert!(sdown <= odown && odown <= switch, "detection before the switch: {r}");
        assert_eq!(drill_num(&r, "split_brain_ms"), 0, "{r}");
    }
}

/// The old master comes back (restarted, or healed) and must rejoin as a replica; a killed
/// replica and slow links cause no failover.
#[test]
fn rejoin_and_no_failover_drills() {
    let wait1: &[&str] = &["--wait", "1"];
    let scenarios = [("restart-master", wait1), ("kill-replica", wait1), ("slow-links", wait1)];
    let r = run_all("rejoin", &scenarios);
    assert_eq!(drill_num(&r[0], "lost"), 0, "{}", r[0]);
    assert_eq!(drill_num(&r[0], "failovers"), 1, "{}", r[0]);
    assert!(drill_num(&r[0], "rejoin_ms") >= 0, "the restarted master rejoined: {}", r[0]);
    for r in &r[1..] {
        assert_eq!(drill_num(r, "failovers"), 0, "no failover: {r}");
        assert_eq!(drill_num(r, "lost"), 0, "{r}");
        assert!(drill_num(r, "acknowledged") > 0, "{r}");
    }
    assert!(drill_num(&r[1], "rejoin_ms") >= 0, "the replica came back: {}", r[1]);
}

/// A master cut off from the sentinels only keeps its clients: without acknowledgement by the
/// replicas, what it accepts after the failover is lost (the drill must see it); with `WAIT 2`
/// (every replica, so the promoted one too) nothing acknowledged is lost.
#[test]
fn partition_from_the_sentinels_loses_writes_only_without_wait() {
    let scenarios: [(&str, &[&str]); 2] =
        [("partition-master-from-sentinels", &["--wait", "0"]), ("partition-master-from-sentinels", &["--wait", "2"])];
    let r = run_all("sentinels", &scenarios);
    assert!(drill_num(&r[0], "lost") > 0, "the old master's acknowledged writes after the switch are lost: {}", r[0]);
    assert_eq!(drill_num(&r[1], "lost"), 0, "{}", r[1]);
    for r in &r {
        assert_eq!(drill_num(r, "failovers"), 1, "{r}");
        assert!(drill_num(r, "rejoin_ms") >= 0, "the old master rejoined after the heal: {r}");
    }
}
