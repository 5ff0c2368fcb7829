//! What a drill measured, and how it is printed (a Markdown table row, or one JSON line).

use std::collections::BTreeMap;
use std::time::Duration;

use super::client::Ack;

/// The drill's measurements.
#[derive(Debug, Default)]
pub struct Report {
    pub(super) scenario: String,
    pub(super) old_master: String,
    pub(super) new_master: Option<String>,
    pub(super) sdown_ms: Option<u128>,
    pub(super) odown_ms: Option<u128>,
    pub(super) switch_ms: Option<u128>,
    pub(super) failovers: usize,
    pub(super) unavailable_ms: u128,
    pub(super) acknowledged: usize,
    pub(super) lost: Option<usize>,
    pub(super) split_brain_ms: u128,
    pub(super) rejoin_ms: Option<u128>,
    pub(super) wait_replicas: u32,
    pub(super) min_replicas_to_write: u32,
}

/// The longest time two nodes both acknowledged writes: for each pair of nodes, the overlap of
/// the spans between their first and last acknowledgement.
pub(super) fn split_brain(acks: &[&Ack]) -> Duration {
    let mut spans: BTreeMap<&str, (Duration, Duration)> = BTreeMap::new();
    for a in acks {
        let e = spans.entry(a.node.as_str()).or_insert((a.at, a.at));
        e.1 = a.at;
    }
    let spans: Vec<_> = spans.values().collect();
    let mut worst = Duration::ZERO;
    for (i, x) in spans.iter().enumerate() {
        for y in &spans[i + 1..] {
            worst = worst.max(x.1.min(y.1).saturating_sub(x.0.max(y.0)));
        }
    }
    worst
}

pub(super) fn print(r: &Report, json: bool) {
    let opt = |v: Option<u128>| v.map_or("null".to_string(), |v| v.to_string());
    let quoted = |v: &Option<String>| v.as_ref().map_or("null".to_string(), |v| format!("\"{v}\""));
    let fields = [
        ("scenario", format!("\"{}\"", kebab(&r.scenario))),
        ("old_master", format!("\"{}\"", r.old_master)),
        ("new_master", quoted(&r.new_master)),
        ("sdown_ms", opt(r.sdown_ms)),
        ("odown_ms", opt(r.odown_ms)),
        ("switch_ms", opt(r.switch_ms)),
        ("failovers", r.failovers.to_string()),
        ("unavailable_ms", r.unavailable_ms.to_string()),
        ("acknowledged", r.acknowledged.to_string()),
        ("lost", r.lost.map_or("null".to_string(), |l| l.to_string())),
        ("split_brain_ms", r.split_brain_ms.to_string()),
        ("rejoin_ms", opt(r.rejoin_ms)),
        ("wait_replicas", r.wait_replicas.to_string()),
        ("min_replicas_to_write", r.min_replicas_to_write.to_string()),
    ];
    if json {
        let body: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
        println!("{{{}}}", body.join(", "));
    } else {
        println!("| {} |", fields.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(" | "));
        println!("|{}|", fields.iter().map(|_| "---").collect::<Vec<_>>().join("|"));
        println!("| {} |", fields.iter().map(|(_, v)| v.trim_matches('"')).collect::<Vec<_>>().join(" | "));
    }
}

/// `KillMaster` -> `kill-master`.
fn kebab(name: &str) -> String {
    let mut out = String::new();
    for (i, ch) in name.chars().enumerate() {
        if ch.is_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(ch.to_ascii_lowercase());
    }
    out
}
