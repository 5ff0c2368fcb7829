//! The sentinel's runtime state on disk: what a restarted sentinel resumes from.
//!
//! The user's config file (or command line) is only read — it may be read-only. Everything the
//! sentinel learns or is told at run time goes to `vigil-sentinel.state` (YAML) in `--dir`,
//! written on every change to a temporary file, synced, then renamed over the old one, so a
//! crash leaves the old state or the new one, never a mix:
//! - per master: the current master address after failovers, the epochs, the known replicas;
//! - what `SENTINEL MONITOR`, `SET`, `REMOVE` and `CONFIG SET` changed: a master added at run
//!   time with its whole definition, the options set on configured masters, the names of
//!   configured masters removed, the global settings changed.
//!
//! On start the file's state is laid over the configuration: an option set at run time wins over
//! the file (as Redis Sentinel's rewritten config does), an option never set at run time follows
//! the config file, so editing the file and restarting still works.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// A master added with `SENTINEL MONITOR`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Added {
    /// The address given to MONITOR.
    pub addr: String,
    /// The quorum given to MONITOR.
    pub quorum: usize,
}

/// The saved view of one group.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct Saved {
    /// Set when the group was added at run time.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<Added>,
    /// Options set at run time (`SENTINEL SET` names), applied over the configuration.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub options: BTreeMap<String, String>,
    /// Current master.
    pub master: String,
    /// Its config epoch.
    pub config_epoch: u64,
    /// The sentinel's current epoch.
    pub current_epoch: u64,
    /// Known replicas.
    pub replicas: Vec<String>,
}

/// The whole state file.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case")]
pub struct State {
    /// Global settings changed with `SENTINEL CONFIG SET`.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, String>,
    /// Configured masters removed with `SENTINEL REMOVE`.
    #[serde(skip_serializing_if = "BTreeSet::is_empty")]
    pub removed: BTreeSet<String>,
    /// Every monitored group.
    pub masters: BTreeMap<String, Saved>,
}

/// The state file's path in `dir`.
pub fn path(dir: &Path) -> PathBuf {
    dir.join("vigil-sentinel.state")
}

/// Reads the saved state (empty if there is none); a malformed file is an error naming it.
pub fn load(dir: &Path) -> Result<State, String> {
    let p = path(dir);
    let Ok(text) = std::fs::read_to_string(&p) else { return Ok(State::default()) };
    serde_yaml_ng::from_str(&text).map_err(|e| format!("{}: not a valid state file: {e}", p.display()))
}

/// Writes the state atomically (readable by the owner only: it may hold `auth-pass`).
pub fn save(dir: &Path, state: &State) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let text = serde_yaml_ng::to_string(state).map_err(std::io::Error::other)?;
    let p = path(dir);
    let tmp = p.with_extension("state.tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(b"# vigil-sentinel runtime state: written by the sentinel, do not edit while it runs\n")?;
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
    fn saves_and_loads_and_names_a_bad_file() {
        let dir = std::env::temp_dir().join(format!("vigil-state-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut st = State::default();
        st.masters.insert(
            "mymaster".into(),
            Saved {
                monitor: Some(Added { addr: "10.0.0.1:6379".into(), quorum: 2 }),
                options: [("auth-pass".to_string(), "a b: c".to_string())].into(),
                master: "10.0.0.3:6379".into(),
                config_epoch: 2,
                current_epoch: 3,
                replicas: vec!["10.0.0.1:6379".into()],
            },
        );
        st.removed.insert("old".into());
        save(&dir, &st).expect("save");
        assert_eq!(load(&dir).expect("load"), st);
        std::fs::write(path(&dir), "masters: [1, 2\n").expect("write");
        let e = load(&dir).expect_err("bad");
        assert!(e.contains("vigil-sentinel.state"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
