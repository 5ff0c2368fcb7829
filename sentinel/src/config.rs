//! What the operator configures: the sentinel's global settings and, per monitored master, its
//! address, quorum and options — with Redis Sentinel's option names and validation.
//!
//! One validator per level is shared by every way a value arrives: the YAML file
//! (`vigil-sentinel --config`), the command line, `SENTINEL SET` / `SENTINEL CONFIG SET` at run
//! time and the state file a restarted sentinel resumes from. Errors are Redis's own texts so
//! the API can return them unchanged (`Invalid argument '0' for SENTINEL SET 'quorum'`); the file
//! loader prefixes them with the file and the key.
//!
//! The file:
//! ```yaml
//! port: 26379
//! bind: 127.0.0.1
//! dir: /var/lib/vigil-sentinel     # state (myid, epochs, learnt topology) goes here
//! announce-ip: 10.0.0.5            # optional
//! requirepass: s3cret              # optional: clients must AUTH
//! deny-scripts-reconfig: yes       # SENTINEL SET may not change script paths
//! bind-source-addr: 10.0.0.5       # optional: local IP of outgoing connections
//! masters:
//!   mymaster:
//!     host: 127.0.0.1
//!     port: 6379
//!     quorum: 2
//!     down-after-milliseconds: 5000
//!     failover-timeout: 60000
//!     parallel-syncs: 1
//!     auth-pass: secret
//!     notification-script: /usr/local/bin/notify.sh
//! ```

use std::path::{Path, PathBuf};

use crate::core::monitor::Params;

/// One monitored master as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterConfig {
    /// Group name.
    pub name: String,
    /// Master address `ip:port` (the configured one; a failover moves the live one).
    pub addr: String,
    /// Timing and policy.
    pub params: Params,
    /// `auth-user` sent to the master and its replicas.
    pub auth_user: Option<String>,
    /// `auth-pass` sent to the master and its replicas.
    pub auth_pass: Option<String>,
    /// `notification-script`: run with `<event> <description>` for warning-level events.
    pub notification_script: Option<String>,
    /// `client-reconfig-script`: run with `<name> <role> <state> <from-ip> <from-port> <to-ip>
    /// <to-port>` when the master changes.
    pub client_reconfig_script: Option<String>,
}

impl MasterConfig {
    /// A master with default options.
    pub fn new(name: &str, addr: String, quorum: usize) -> MasterConfig {
        MasterConfig {
            name: name.to_string(),
            addr,
            params: Params { quorum, ..Params::default() },
            auth_user: None,
            auth_pass: None,
            notification_script: None,
            client_reconfig_script: None,
        }
    }

    /// The options that differ from the defaults, as `SENTINEL SET` names and values (what the
    /// state file records for a master added at run time).
    pub fn options(&self) -> Vec<(String, String)> {
        let d = Params::default();
        let p = &self.params;
        let mut out = Vec::new();
        let mut num = |k: &str, v: u64, dv: u64| {
            if v != dv {
                out.push((k.to_string(), v.to_string()));
            }
        };
        num("down-after-milliseconds", p.down_after_ms, d.down_after_ms);
        num("failover-timeout", p.failover_timeout_ms, d.failover_timeout_ms);
        num("parallel-syncs", p.parallel_syncs as u64, d.parallel_syncs as u64);
        num("master-reboot-down-after-period", p.reboot_down_after_ms, d.reboot_down_after_ms);
        for (k, v) in [
            ("auth-user", &self.auth_user),
            ("auth-pass", &self.auth_pass),
            ("notification-script", &self.notification_script),
            ("client-reconfig-script", &self.client_reconfig_script),
        ] {
            if let Some(v) = v {
                out.push((k.to_string(), v.clone()));
            }
        }
        out
    }
}

/// The per-master options `SENTINEL SET` accepts (with the `primary-` alias of the reboot one).
pub const MASTER_OPTIONS: &[&str] = &[
    "down-after-milliseconds",
    "failover-timeout",
    "parallel-syncs",
    "quorum",
    "notification-script",
    "client-reconfig-script",
    "auth-pass",
    "auth-user",
    "master-reboot-down-after-period",
    "primary-reboot-down-after-period",
];

/// Is `opt` a script-path option (refused at run time under `deny-scripts-reconfig yes`)?
pub fn is_script_option(opt: &str) -> bool {
    opt.eq_ignore_ascii_case("notification-script") || opt.eq_ignore_ascii_case("client-reconfig-script")
}

/// Sets one per-master option from text; the error is Redis's reply text (without `ERR `).
pub fn set_master_option(m: &mut MasterConfig, opt: &str, value: &str) -> Result<(), String> {
    let invalid = || format!("Invalid argument '{value}' for SENTINEL SET '{opt}'");
    let positive = || value.parse::<u64>().ok().filter(|v| *v > 0 && *v <= i64::MAX as u64).ok_or_else(invalid);
    let text = || (!value.is_empty()).then(|| value.to_string());
    match opt.to_ascii_lowercase().as_str() {
        "down-after-milliseconds" => m.params.down_after_ms = positive()?,
        "failover-timeout" => m.params.failover_timeout_ms = positive()?,
        "parallel-syncs" => m.params.parallel_syncs = positive()?.min(1 << 16) as usize,
        "quorum" => m.params.quorum = positive()?.min(1 << 16) as usize,
        "master-reboot-down-after-period" | "primary-reboot-down-after-period" => {
            m.params.reboot_down_after_ms = value.parse::<u64>().map_err(|_| invalid())?
        }
        "auth-pass" => m.auth_pass = text(),
        "auth-user" => m.auth_user = text(),
        "notification-script" | "client-reconfig-script" => {
            if !value.is_empty() && !is_executable(Path::new(value)) {
                return Err(invalid());
            }
            if opt.eq_ignore_ascii_case("notification-script") {
                m.notification_script = text();
            } else {
                m.client_reconfig_script = text();
            }
        }
        _ => return Err(format!("Unknown option or number of arguments for SENTINEL SET '{opt}'")),
    }
    Ok(())
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The global settings `SENTINEL CONFIG GET/SET` reach, plus the file-only ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Global {
    /// `announce-ip`: the address this sentinel advertises ("" = the socket's).
    pub announce_ip: String,
    /// `announce-port` (0 = the listening port).
    pub announce_port: u16,
    /// `resolve-hostnames`: accept host names in MONITOR.
    pub resolve_hostnames: bool,
    /// `announce-hostnames`: recorded for compatibility; addresses are always reported as given.
    pub announce_hostnames: bool,
    /// `sentinel-user`: credentials towards other sentinels.
    pub sentinel_user: String,
    /// `sentinel-pass`.
    pub sentinel_pass: String,
    /// `loglevel`: debug, verbose, notice, warning, nothing.
    pub loglevel: String,
    /// `deny-scripts-reconfig` (file only).
    pub deny_scripts_reconfig: bool,
    /// `requirepass` for clients of this sentinel (file only).
    pub requirepass: String,
    /// `bind-source-addr` (file only): the local IP of outgoing connections, to data nodes and
    /// to the other members ("" = the system's choice, as Redis 7).
    pub bind_source_addr: String,
}

impl Default for Global {
    fn default() -> Global {
        Global {
            announce_ip: String::new(),
            announce_port: 0,
            resolve_hostnames: false,
            announce_hostnames: false,
            sentinel_user: String::new(),
            sentinel_pass: String::new(),
            loglevel: "notice".into(),
            deny_scripts_reconfig: true,
            requirepass: String::new(),
            bind_source_addr: String::new(),
        }
    }
}

/// The parameters `SENTINEL CONFIG GET/SET` know, in Redis's order.
pub const GLOBAL_PARAMS: &[&str] = &[
    "resolve-hostnames",
    "announce-hostnames",
    "announce-ip",
    "announce-port",
    "sentinel-user",
    "sentinel-pass",
    "loglevel",
];

/// The log levels, Redis's names.
pub const LOG_LEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

fn yes_no(v: &str) -> Option<bool> {
    match v.to_ascii_lowercase().as_str() {
        "yes" => Some(true),
        "no" => Some(false),
        _ => None,
    }
}

impl Global {
    /// The value of a `CONFIG GET` parameter.
    pub fn get(&self, param: &str) -> Option<String> {
        let yn = |b: bool| if b { "yes" } else { "no" }.to_string();
        Some(match param {
            "resolve-hostnames" => yn(self.resolve_hostnames),
            "announce-hostnames" => yn(self.announce_hostnames),
            "announce-ip" => self.announce_ip.clone(),
            "announce-port" => self.announce_port.to_string(),
            "sentinel-user" => self.sentinel_user.clone(),
            "sentinel-pass" => self.sentinel_pass.clone(),
            "loglevel" => self.loglevel.clone(),
            _ => return None,
        })
    }

    /// Sets a `CONFIG SET` parameter (or a file-only one when `file` is true); the error is
    /// Redis's reply text.
    pub fn set(&mut self, param: &str, value: &str, file: bool) -> Result<(), String> {
        let p = param.to_ascii_lowercase();
        let bad = || format!("Invalid value '{value}' to SENTINEL CONFIG SET '{p}'");
        match p.as_str() {
            "resolve-hostnames" => self.resolve_hostnames = yes_no(value).ok_or_else(bad)?,
            "announce-hostnames" => self.announce_hostnames = yes_no(value).ok_or_else(bad)?,
            "announce-ip" => self.announce_ip = value.to_string(),
            "announce-port" => self.announce_port = value.parse().map_err(|_| bad())?,
            "sentinel-user" => self.sentinel_user = value.to_string(),
            "sentinel-pass" => self.sentinel_pass = value.to_string(),
            "loglevel" => {
                let v = value.to_ascii_lowercase();
                if !LOG_LEVELS.contains(&v.as_str()) {
                    return Err(bad());
                }
                self.loglevel = v;
            }
            "deny-scripts-reconfig" if file => self.deny_scripts_reconfig = yes_no(value).ok_or_else(bad)?,
            "requirepass" if file => self.requirepass = value.to_string(),
            "bind-source-addr" if file => {
                value.parse::<std::net::IpAddr>().map_err(|_| format!("expected an IP address, got '{value}'"))?;
                self.bind_source_addr = value.to_string();
            }
            _ => return Err(format!("Invalid argument '{param}' to SENTINEL CONFIG SET")),
        }
        Ok(())
    }
}

/// A parsed configuration file.
#[derive(Debug, Clone, Default)]
pub struct FileConfig {
    /// `port`.
    pub port: Option<u16>,
    /// `bind`.
    pub bind: Option<String>,
    /// `dir`.
    pub dir: Option<PathBuf>,
    /// Global settings.
    pub global: Global,
    /// The masters, in file order.
    pub masters: Vec<MasterConfig>,
    /// `grpc-port`: join a sentinel group, serving gRPC on this port.
    pub grpc_port: Option<u16>,
    /// `peers`: the other members' gRPC addresses (`host:port`).
    pub peers: Vec<String>,
    /// `grpc-bind`: where the gRPC server listens (default: `bind`).
    pub grpc_bind: Option<String>,
    /// `announce-grpc`: the `host:port` the other members reach this one at.
    pub announce_grpc: Option<String>,
}

fn scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    use serde_yaml_ng::Value as V;
    match v {
        V::String(s) => Some(s.clone()),
        V::Number(n) => Some(n.to_string()),
        V::Bool(b) => Some(if *b { "yes" } else { "no" }.to_string()),
        V::Null => Some(String::new()),
        _ => None,
    }
}

fn mapping(v: serde_yaml_ng::Value, what: &str) -> Result<Vec<(String, serde_yaml_ng::Value)>, String> {
    match v {
        serde_yaml_ng::Value::Mapping(m) => m
            .into_iter()
            .map(|(k, v)| scalar(&k).map(|k| (k, v)).ok_or_else(|| format!("{what}: keys must be names, got {k:?}")))
            .collect(),
        serde_yaml_ng::Value::Null => Ok(Vec::new()),
        other => Err(format!("{what}: expected a mapping, got {other:?}")),
    }
}

/// Reads and validates a configuration file; errors name the file, the key and what was expected.
pub fn load_file(path: &Path) -> Result<FileConfig, String> {
    let file = path.display();
    let text = std::fs::read_to_string(path).map_err(|e| format!("{file}: cannot read: {e}"))?;
    parse(&text).map_err(|e| format!("{file}: {e}"))
}

/// Parses the text of a configuration file.
pub fn parse(text: &str) -> Result<FileConfig, String> {
    let doc: serde_yaml_ng::Value = serde_yaml_ng::from_str(text).map_err(|e| format!("not valid YAML: {e}"))?;
    let mut out = FileConfig::default();
    for (key, v) in mapping(doc, "the file")? {
        if key == "peers" {
            let serde_yaml_ng::Value::Sequence(items) = v else {
                return Err(format!("peers: expected a list of host:port, got {v:?}"));
            };
            for item in items {
                let p = scalar(&item).ok_or_else(|| format!("peers: expected host:port, got {item:?}"))?;
                out.peers.push(check_peer(&p).map_err(|e| format!("peers: {e}"))?);
            }
            continue;
        }
        if key == "masters" {
            for (name, def) in mapping(v, "masters")? {
                out.masters.push(master(&name, def).map_err(|e| format!("masters.{name}.{e}"))?);
            }
            continue;
        }
        let value = scalar(&v).ok_or_else(|| format!("{key}: expected a single value, got {v:?}"))?;
        match key.as_str() {
            "port" => out.port = Some(value.parse().map_err(|_| format!("port: expected a port (0-65535), got '{value}'"))?),
            "bind" => out.bind = Some(value),
            "dir" => out.dir = Some(PathBuf::from(value)),
            "grpc-bind" => out.grpc_bind = Some(value),
            "announce-grpc" => out.announce_grpc = Some(check_peer(&value).map_err(|e| format!("announce-grpc: {e}"))?),
            "grpc-port" => {
                out.grpc_port =
                    Some(value.parse().map_err(|_| format!("grpc-port: expected a port (1-65535), got '{value}'"))?)
            }
            _ => out.global.set(&key, &value, true).map_err(|e| {
                if e.starts_with("Invalid argument") {
                    format!(
                        "{key}: unknown setting (expected port, bind, dir, grpc-port, grpc-bind, announce-grpc, peers, masters, {}, deny-scripts-reconfig, requirepass or bind-source-addr)",
                        GLOBAL_PARAMS.join(", ")
                    )
                } else {
                    format!("{key}: {e}")
                }
            })?,
        }
    }
    Ok(out)
}

fn master(name: &str, def: serde_yaml_ng::Value) -> Result<MasterConfig, String> {
    check_name(name).map_err(|e| format!(" (the name): {e}"))?;
    let mut host = None;
    let mut port = None;
    let mut quorum = None;
    let mut opts = Vec::new();
    for (key, v) in mapping(def, name)? {
        let value = scalar(&v).ok_or_else(|| format!("{key}: expected a single value, got {v:?}"))?;
        match key.as_str() {
            "host" => host = Some(value),
            "port" => port = Some(value.parse::<u16>().map_err(|_| format!("port: expected a port, got '{value}'"))?),
            "quorum" => {
                quorum = Some(
                    value
                        .parse::<usize>()
                        .ok()
                        .filter(|q| *q >= 1)
                        .ok_or_else(|| format!("quorum: expected an integer of at least 1, got '{value}'"))?,
                )
            }
            _ => opts.push((key, value)),
        }
    }
    let host = host.ok_or("host: missing (the master's address)")?;
    let port = port.ok_or("port: missing (the master's port)")?;
    let mut m = MasterConfig::new(name, join(&host, port), quorum.ok_or("quorum: missing")?);
    for (key, value) in opts {
        if !MASTER_OPTIONS.contains(&key.as_str()) {
            return Err(format!("{key}: unknown option (expected host, port, quorum, {})", MASTER_OPTIONS.join(", ")));
        }
        set_master_option(&mut m, &key, &value).map_err(|e| format!("{key}: {e}"))?;
    }
    Ok(m)
}

/// `host:port`, bracketing IPv6 literals.
pub fn join(host: &str, port: u16) -> String {
    if host.contains(':') { format!("[{host}]:{port}") } else { format!("{host}:{port}") }
}

/// A peer's gRPC address: `host:port` with a port of 1 to 65535.
pub fn check_peer(p: &str) -> Result<String, String> {
    match p.rsplit_once(':') {
        Some((h, port)) if !h.is_empty() && port.parse::<u16>().is_ok_and(|n| n > 0) => Ok(p.to_string()),
        _ => Err(format!("'{p}' is not host:port")),
    }
}

/// Master names: Redis's documented charset `A-z 0-9 . - _`, not empty.
pub fn check_name(name: &str) -> Result<(), String> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        Ok(())
    } else {
        Err(format!("'{name}' is not a valid master name (letters, digits, '.', '-', '_')"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_file_is_read_with_redis_option_names() {
        let c = parse(
            "port: 26380\nannounce-ip: 10.0.0.5\ndeny-scripts-reconfig: no\nmasters:\n  mymaster:\n    host: 127.0.0.1\n    port: 6379\n    quorum: 2\n    down-after-milliseconds: 5000\n    auth-pass: s3cret\n",
        )
        .expect("valid");
        assert_eq!(c.port, Some(26380));
        assert_eq!(c.global.announce_ip, "10.0.0.5");
        assert!(!c.global.deny_scripts_reconfig);
        let m = &c.masters[0];
        assert_eq!((m.name.as_str(), m.addr.as_str(), m.params.quorum), ("mymaster", "127.0.0.1:6379", 2));
        assert_eq!(m.params.down_after_ms, 5000);
        assert_eq!(m.auth_pass.as_deref(), Some("s3cret"));
    }

    #[test]
    fn errors_name_the_key_and_what_was_expected() {
        let e = |t: &str| parse(t).expect_err("must be refused");
        assert!(
            e("masters:\n  m:\n    host: h\n    port: 1\n    quorum: 0\n").starts_with("masters.m.quorum: expected")
        );
        assert!(e("masters:\n  m:\n    host: h\n    port: x\n    quorum: 1\n").starts_with("masters.m.port: expected"));
        assert!(e("masters:\n  m:\n    port: 1\n    quorum: 1\n").starts_with("masters.m.host: missing"));
        assert_eq!(
            e("masters:\n  m:\n    host: h\n    port: 1\n    quorum: 1\n    parallel-syncs: 0\n"),
            "masters.m.parallel-syncs: Invalid argument '0' for SENTINEL SET 'parallel-syncs'"
        );
        assert!(
            e("masters:\n  m:\n    host: h\n    port: 1\n    quorum: 1\n    bogus: 1\n").contains("bogus: unknown")
        );
        assert!(e("bogus: 1\n").starts_with("bogus: unknown setting"));
        assert!(e("announce-port: abc\n").starts_with("announce-port: Invalid value 'abc'"));
        assert!(e("port: [1, 2]\n").starts_with("port: expected a single value"));
    }

    #[test]
    fn set_validates_like_redis() {
        let mut m = MasterConfig::new("m", "h:1".into(), 1);
        assert_eq!(
            set_master_option(&mut m, "quorum", "0").expect_err("0"),
            "Invalid argument '0' for SENTINEL SET 'quorum'"
        );
        assert_eq!(
            set_master_option(&mut m, "foo", "1").expect_err("foo"),
            "Unknown option or number of arguments for SENTINEL SET 'foo'"
        );
        set_master_option(&mut m, "DOWN-AFTER-MILLISECONDS", "1500").expect("ok");
        assert_eq!(m.params.down_after_ms, 1500);
        assert_eq!(m.options(), vec![("down-after-milliseconds".to_string(), "1500".to_string())]);
        set_master_option(&mut m, "auth-pass", "").expect("clears");
        assert_eq!(m.auth_pass, None);
    }
}
