//! The sentinel's runtime state on disk: what a restarted sentinel resumes from.
//!
//! The user's command line (or config file) is only read; the state the sentinel learns — the
//! current master of each group after failovers, the epochs, the replicas known — is written to
//! `vigil-sentinel.state` in `--dir` on every change: to a temporary file, synced, then renamed
//! over the old one, so a crash leaves the old state or the new one, never a mix.
//!
//! Format: one record per line, space-separated: `master <name> <ip:port> <config-epoch>
//! <current-epoch>` and `replica <name> <ip:port>`.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The saved view of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Saved {
    /// Current master.
    pub master: String,
    /// Its config epoch.
    pub config_epoch: u64,
    /// The sentinel's current epoch.
    pub current_epoch: u64,
    /// Known replicas.
    pub replicas: Vec<String>,
}

fn path(dir: &Path) -> PathBuf {
    dir.join("vigil-sentinel.state")
}

/// Reads the saved state (empty if there is none). A malformed line is an error naming it.
pub fn load(dir: &Path) -> Result<std::collections::BTreeMap<String, Saved>, String> {
    let p = path(dir);
    let mut out = std::collections::BTreeMap::new();
    let Ok(text) = std::fs::read_to_string(&p) else { return Ok(out) };
    for (n, line) in text.lines().enumerate() {
        let f: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            format!(
                "{}: line {}: expected 'master NAME ADDR EPOCH EPOCH' or 'replica NAME ADDR', got '{line}'",
                p.display(),
                n + 1
            )
        };
        match f.as_slice() {
            [] => {}
            ["master", name, addr, ce, cur] => {
                let s: &mut Saved = out.entry(name.to_string()).or_default();
                s.master = addr.to_string();
                s.config_epoch = ce.parse().map_err(|_| bad())?;
                s.current_epoch = cur.parse().map_err(|_| bad())?;
            }
            ["replica", name, addr] => out.entry(name.to_string()).or_default().replicas.push(addr.to_string()),
            _ => return Err(bad()),
        }
    }
    Ok(out)
}

/// Writes the state atomically.
pub fn save<'a>(dir: &Path, groups: impl Iterator<Item = (&'a str, Saved)>) -> std::io::Result<()> {
    let mut text = String::new();
    for (name, s) in groups {
        text.push_str(&format!("master {name} {} {} {}\n", s.master, s.config_epoch, s.current_epoch));
        for r in &s.replicas {
            text.push_str(&format!("replica {name} {r}\n"));
        }
    }
    let p = path(dir);
    let tmp = p.with_extension("state.tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.sync_all()?;
    std::fs::rename(&tmp, &p)?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_and_names_a_bad_line() {
        let dir = std::env::temp_dir().join(format!("vigil-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let s = Saved {
            master: "10.0.0.3:6379".into(),
            config_epoch: 2,
            current_epoch: 3,
            replicas: vec!["10.0.0.1:6379".into()],
        };
        save(&dir, [("mymaster", s.clone())].into_iter()).expect("save");
        assert_eq!(load(&dir).expect("load").get("mymaster"), Some(&s));
        std::fs::write(path(&dir), "master mymaster x\n").expect("write");
        let e = load(&dir).expect_err("bad");
        assert!(e.contains("line 1") && e.contains("vigil-sentinel.state"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
