//! Configuration: one table of parameters named as Redis names them, read from a YAML file,
//! overridden by command-line flags, and changed at run time with `CONFIG SET`.
//!
//! Every way a value arrives (file, flag, CONFIG SET) goes through the same parser for its
//! parameter, so the checks and the error texts are the same everywhere. A bad file is refused
//! with a message naming the file, the key and what was expected.

use std::path::{Path, PathBuf};

/// How a parameter's text is checked and stored.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer within bounds.
    Int(i64, i64),
    /// A byte size: `1024`, `64kb`, `512mb`, `1gb`.
    Memory,
    /// `yes` or `no`.
    Bool,
    /// One of a fixed set of words.
    Enum(&'static [&'static str]),
    /// Free text.
    Text,
}

/// A parameter's static description.
struct Param {
    name: &'static str,
    kind: Kind,
    /// Whether `CONFIG SET` may change it.
    mutable: bool,
    default: &'static str,
}

const LOG_LEVELS: &[&str] = &["debug", "verbose", "notice", "warning", "nothing"];

/// Every parameter the node knows. `CONFIG GET` answers from this list; parameters that only
/// exist for compatibility (`save`, `appendonly`) hold their value and are reported, so tools
/// such as redis-benchmark that read them work.
const PARAMS: &[Param] = &[
    Param { name: "port", kind: Kind::Int(0, 65535), mutable: false, default: "6379" },
    Param { name: "bind", kind: Kind::Text, mutable: false, default: "127.0.0.1" },
    Param { name: "requirepass", kind: Kind::Text, mutable: true, default: "" },
    Param { name: "dir", kind: Kind::Text, mutable: true, default: "." },
    Param { name: "databases", kind: Kind::Int(1, i32::MAX as i64), mutable: false, default: "16" },
    Param { name: "maxclients", kind: Kind::Int(1, i32::MAX as i64), mutable: true, default: "10000" },
    Param { name: "timeout", kind: Kind::Int(0, i32::MAX as i64), mutable: true, default: "0" },
    Param { name: "loglevel", kind: Kind::Enum(LOG_LEVELS), mutable: true, default: "notice" },
    Param { name: "proto-max-bulk-len", kind: Kind::Memory, mutable: true, default: "536870912" },
    Param { name: "client-query-buffer-limit", kind: Kind::Memory, mutable: true, default: "1073741824" },
    Param { name: "hz", kind: Kind::Int(1, 500), mutable: true, default: "10" },
    Param { name: "tcp-keepalive", kind: Kind::Int(0, i32::MAX as i64), mutable: true, default: "300" },
    Param { name: "save", kind: Kind::Text, mutable: true, default: "" },
    Param { name: "appendonly", kind: Kind::Bool, mutable: true, default: "no" },
    Param { name: "io-threads", kind: Kind::Int(0, 128), mutable: false, default: "0" },
    Param { name: "maxmemory", kind: Kind::Memory, mutable: true, default: "0" },
    Param { name: "maxmemory-policy", kind: Kind::Enum(&["noeviction"]), mutable: true, default: "noeviction" },
    Param { name: "daemonize", kind: Kind::Bool, mutable: false, default: "no" },
    Param { name: "replicaof", kind: Kind::Text, mutable: false, default: "" },
    Param { name: "masterauth", kind: Kind::Text, mutable: true, default: "" },
    Param { name: "masteruser", kind: Kind::Text, mutable: true, default: "" },
    Param { name: "repl-backlog-size", kind: Kind::Memory, mutable: true, default: "1048576" },
    Param { name: "repl-timeout", kind: Kind::Int(1, i32::MAX as i64), mutable: true, default: "60" },
    Param { name: "repl-ping-replica-period", kind: Kind::Int(1, i32::MAX as i64), mutable: true, default: "10" },
    Param { name: "replica-read-only", kind: Kind::Bool, mutable: true, default: "yes" },
    Param { name: "replica-serve-stale-data", kind: Kind::Bool, mutable: true, default: "yes" },
    Param { name: "replica-priority", kind: Kind::Int(0, i32::MAX as i64), mutable: true, default: "100" },
    Param { name: "replica-announced", kind: Kind::Bool, mutable: true, default: "yes" },
    Param { name: "replica-announce-ip", kind: Kind::Text, mutable: true, default: "" },
    Param { name: "bind-source-addr", kind: Kind::Text, mutable: true, default: "" },
    Param { name: "replica-announce-port", kind: Kind::Int(0, 65535), mutable: true, default: "0" },
    Param { name: "min-replicas-to-write", kind: Kind::Int(0, i32::MAX as i64), mutable: true, default: "0" },
    Param { name: "min-replicas-max-lag", kind: Kind::Int(0, i32::MAX as i64), mutable: true, default: "10" },
];

fn param(name: &str) -> Option<&'static Param> {
    PARAMS.iter().find(|p| p.name.eq_ignore_ascii_case(name))
}

/// Why a value was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// No parameter of that name.
    #[error("unknown key '{0}'")]
    UnknownKey(String),
    /// The value does not parse for its parameter.
    #[error("key '{key}': expected {expected}, got '{got}'")]
    BadValue {
        /// Parameter name.
        key: String,
        /// What the parameter accepts.
        expected: String,
        /// What was given.
        got: String,
    },
    /// `CONFIG SET` on a parameter fixed at start.
    #[error("key '{0}': can't set immutable config")]
    Immutable(String),
    /// The file could not be read or is not a YAML mapping.
    #[error("{0}")]
    File(String),
}

/// The node's configuration values, typed.
#[derive(Debug, Clone)]
pub struct Config {
    /// TCP port (0: pick a free one).
    pub port: u16,
    /// Addresses to listen on.
    pub bind: Vec<String>,
    /// Password of the default user; empty means none.
    pub requirepass: String,
    /// Working directory for files the node writes.
    pub dir: PathBuf,
    /// Number of databases.
    pub databases: usize,
    /// Most clients connected at once.
    pub maxclients: usize,
    /// Close clients idle for this many seconds (0: never).
    pub timeout: u64,
    /// Log level, as Redis names them.
    pub loglevel: String,
    /// Longest bulk string accepted.
    pub proto_max_bulk_len: i64,
    /// Most bytes buffered for one client's unparsed input.
    pub client_query_buffer_limit: usize,
    /// Background task frequency (active expiry runs `hz` times per second).
    pub hz: u32,
    /// Values of the compatibility-only parameters, by name.
    pub extra: Vec<(&'static str, String)>,
    /// The file this configuration was read from, if any.
    pub file: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        let mut c = Config {
            port: 6379,
            bind: vec!["127.0.0.1".into()],
            requirepass: String::new(),
            dir: PathBuf::from("."),
            databases: 16,
            maxclients: 10000,
            timeout: 0,
            loglevel: "notice".into(),
            proto_max_bulk_len: 512 * 1024 * 1024,
            client_query_buffer_limit: 1024 * 1024 * 1024,
            hz: 10,
            extra: Vec::new(),
            file: None,
        };
        for p in PARAMS {
            if c.get(p.name).is_none() {
                c.extra.push((p.name, p.default.to_string()));
            }
        }
        c
    }
}

/// Parses a byte size as Redis does: a number with an optional `k`, `kb`, `m`, `mb`, `g`, `gb`.
pub fn parse_memory(s: &str) -> Option<i64> {
    let l = s.to_ascii_lowercase();
    let (num, mul) = [
        ("gb", 1i64 << 30),
        ("g", 1_000_000_000),
        ("mb", 1 << 20),
        ("m", 1_000_000),
        ("kb", 1 << 10),
        ("k", 1000),
        ("b", 1),
    ]
    .iter()
    .find_map(|(suf, mul)| l.strip_suffix(suf).map(|n| (n.to_string(), *mul)))
    .unwrap_or((l.clone(), 1));
    let n: i64 = num.parse().ok()?;
    if n < 0 {
        return None;
    }
    n.checked_mul(mul)
}

impl Config {
    /// The current value of parameter `name`, as CONFIG GET prints it.
    pub fn get(&self, name: &str) -> Option<String> {
        let p = param(name)?;
        Some(match p.name {
            "port" => self.port.to_string(),
            "bind" => self.bind.join(" "),
            "requirepass" => self.requirepass.clone(),
            "dir" => self.dir.display().to_string(),
            "databases" => self.databases.to_string(),
            "maxclients" => self.maxclients.to_string(),
            "timeout" => self.timeout.to_string(),
            "loglevel" => self.loglevel.clone(),
            "proto-max-bulk-len" => self.proto_max_bulk_len.to_string(),
            "client-query-buffer-limit" => self.client_query_buffer_limit.to_string(),
            "hz" => self.hz.to_string(),
            other => return self.extra.iter().find(|(n, _)| *n == other).map(|(_, v)| v.clone()),
        })
    }

    /// Every parameter name, in table order.
    pub fn names() -> impl Iterator<Item = &'static str> {
        PARAMS.iter().map(|p| p.name)
    }

    /// Sets parameter `name` from text, checking it. `runtime` refuses immutable parameters.
    pub fn set(&mut self, name: &str, value: &str, runtime: bool) -> Result<(), ConfigError> {
        let p = param(name).ok_or_else(|| ConfigError::UnknownKey(name.to_string()))?;
        if runtime && !p.mutable {
            return Err(ConfigError::Immutable(p.name.to_string()));
        }
        let bad =
            |expected: String| ConfigError::BadValue { key: p.name.to_string(), expected, got: value.to_string() };
        let int = match p.kind {
            Kind::Int(lo, hi) => {
                let n: i64 = value.trim().parse().map_err(|_| bad(format!("an integer from {lo} to {hi}")))?;
                if n < lo || n > hi {
                    return Err(bad(format!("an integer from {lo} to {hi}")));
                }
                n
            }
            Kind::Memory => {
                parse_memory(value.trim()).ok_or_else(|| bad("a size such as 1024, 64kb, 512mb or 1gb".into()))?
            }
            Kind::Bool => match value.to_ascii_lowercase().as_str() {
                "yes" => 1,
                "no" => 0,
                _ => return Err(bad("yes or no".into())),
            },
            Kind::Enum(words) => {
                if !words.iter().any(|w| w.eq_ignore_ascii_case(value)) {
                    return Err(bad(format!("one of {}", words.join(", "))));
                }
                0
            }
            Kind::Text => 0,
        };
        match p.name {
            "port" => self.port = int as u16,
            "bind" => {
                let addrs: Vec<String> = value.split_whitespace().map(str::to_string).collect();
                if addrs.is_empty() {
                    return Err(bad("one or more addresses separated by spaces".into()));
                }
                self.bind = addrs;
            }
            "requirepass" => self.requirepass = value.to_string(),
            "dir" => self.dir = PathBuf::from(value),
            "databases" => self.databases = int as usize,
            "maxclients" => self.maxclients = int as usize,
            "timeout" => self.timeout = int as u64,
            "loglevel" => self.loglevel = value.to_ascii_lowercase(),
            "proto-max-bulk-len" => {
                if int < 1024 * 1024 {
                    return Err(bad("a size of at least 1mb".into()));
                }
                self.proto_max_bulk_len = int
            }
            "client-query-buffer-limit" => {
                if int < 1024 * 1024 {
                    return Err(bad("a size of at least 1mb".into()));
                }
                self.client_query_buffer_limit = int as usize
            }
            "hz" => self.hz = int as u32,
            "replicaof" if !value.trim().is_empty() => {
                let mut parts = value.split_whitespace();
                let ok = matches!(
                    (parts.next(), parts.next().map(str::parse::<u16>), parts.next()),
                    (Some(_), Some(Ok(_)), None)
                );
                if !ok {
                    return Err(bad("\"<host> <port>\"".into()));
                }
                self.extra.retain(|(n, _)| *n != "replicaof");
                self.extra.push((p.name, value.trim().to_string()));
            }
            other => {
                let stored = match p.kind {
                    Kind::Memory => int.to_string(),
                    Kind::Bool | Kind::Enum(_) => value.to_ascii_lowercase(),
                    _ => value.to_string(),
                };
                match self.extra.iter_mut().find(|(n, _)| *n == other) {
                    Some((_, v)) => *v = stored,
                    None => self.extra.push((p.name, stored)),
                }
            }
        }
        Ok(())
    }

    /// A parameter stored as text (the compatibility and replication ones), or empty.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }

    /// A yes/no parameter.
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(|v| v == "yes")
    }

    /// An integer parameter (0 if unset).
    pub fn int(&self, name: &str) -> i64 {
        self.get(name).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Writes the configuration back to its file (CONFIG REWRITE): every parameter the file
    /// already had, plus every parameter whose value differs from its default, as YAML. The new
    /// file is written beside the old one, synced, and renamed over it, so a crash leaves either
    /// the old file or the new one, never a mix. Comments in the file are not kept.
    pub fn rewrite(&self) -> Result<(), ConfigError> {
        let path = self
            .file
            .as_ref()
            .ok_or_else(|| ConfigError::File("The server is running without a config file".into()))?;
        let file = path.display().to_string();
        let old = std::fs::read_to_string(path).unwrap_or_default();
        let had: Vec<String> = match serde_yaml_ng::from_str::<serde_yaml_ng::Value>(&old) {
            Ok(serde_yaml_ng::Value::Mapping(m)) => m.keys().filter_map(|k| k.as_str().map(str::to_string)).collect(),
            _ => Vec::new(),
        };
        let mut out = String::from("# Written by vigil-node (CONFIG REWRITE).\n");
        for p in PARAMS {
            let value = self.get(p.name).unwrap_or_default();
            let default = match p.name {
                "port" | "dir" | "bind" => None, // always worth keeping
                _ => Some(p.default),
            };
            let keep = had.iter().any(|k| k.eq_ignore_ascii_case(p.name)) || default.is_none_or(|d| d != value);
            if keep {
                let quoted = if value.parse::<i64>().is_ok() {
                    value.clone()
                } else {
                    serde_yaml_ng::to_string(&value).unwrap_or_else(|_| format!("{value:?}"))
                };
                out.push_str(&format!("{}: {}\n", p.name, quoted.trim_end()));
            }
        }
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        let io = |e: std::io::Error| ConfigError::File(format!("{file}: cannot rewrite: {e}"));
        {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp).map_err(io)?;
            f.write_all(out.as_bytes()).map_err(io)?;
            f.sync_all().map_err(io)?;
        }
        std::fs::rename(&tmp, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Reads a YAML file of `key: value` pairs over the defaults.
    pub fn load_file(path: &Path) -> Result<Config, ConfigError> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File(format!("{file}: cannot read: {e}")))?;
        let mut c = Config::default();
        c.apply_yaml(&text).map_err(|e| ConfigError::File(format!("{file}: {e}")))?;
        c.file = Some(path.to_path_buf());
        Ok(c)
    }

    /// Applies YAML text (a mapping of parameter names to scalars) to this configuration.
    pub fn apply_yaml(&mut self, text: &str) -> Result<(), ConfigError> {
        let doc: serde_yaml_ng::Value =
            serde_yaml_ng::from_str(text).map_err(|e| ConfigError::File(format!("not valid YAML: {e}")))?;
        let map = match doc {
            serde_yaml_ng::Value::Mapping(m) => m,
            serde_yaml_ng::Value::Null => return Ok(()),
            _ => return Err(ConfigError::File("expected a mapping of parameter names to values".into())),
        };
        for (k, v) in map {
            let key = match k {
                serde_yaml_ng::Value::String(s) => s,
                other => return Err(ConfigError::File(format!("keys must be parameter names, got {other:?}"))),
            };
            let value = yaml_scalar(&v).ok_or_else(|| ConfigError::BadValue {
                key: key.clone(),
                expected: "a single value (text, number, yes/no) or a list of words".into(),
                got: format!("{v:?}"),
            })?;
            self.set(&key, &value, false)?;
        }
        Ok(())
    }
}

fn yaml_scalar(v: &serde_yaml_ng::Value) -> Option<String> {
    use serde_yaml_ng::Value as V;
    match v {
        V::String(s) => Some(s.clone()),
        V::Number(n) => Some(n.to_string()),
        V::Bool(b) => Some(if *b { "yes" } else { "no" }.to_string()),
        V::Null => Some(String::new()),
        V::Sequence(items) => items.iter().map(yaml_scalar).collect::<Option<Vec<_>>>().map(|v| v.join(" ")),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_keys_are_redis_names() {
        let mut c = Config::default();
        c.apply_yaml(
            "port: 7000\nbind: [127.0.0.1, \"::1\"]\nrequirepass: s3cret\nproto-max-bulk-len: 2mb\nappendonly: yes\n",
        )
        .expect("valid");
        assert_eq!(c.port, 7000);
        assert_eq!(c.bind, vec!["127.0.0.1", "::1"]);
        assert_eq!(c.requirepass, "s3cret");
        assert_eq!(c.proto_max_bulk_len, 2 << 20);
        assert_eq!(c.get("appendonly").as_deref(), Some("yes"));
    }

    #[test]
    fn bad_values_name_the_key_and_the_expectation() {
        let mut c = Config::default();
        let e = c.apply_yaml("port: seventy").expect_err("bad");
        assert_eq!(e.to_string(), "key 'port': expected an integer from 0 to 65535, got 'seventy'");
        let e = c.apply_yaml("prot: 1").expect_err("bad");
        assert_eq!(e.to_string(), "unknown key 'prot'");
        let e = c.set("port", "1", true).expect_err("immutable");
        assert_eq!(e.to_string(), "key 'port': can't set immutable config");
    }

    #[test]
    fn memory_units() {
        assert_eq!(parse_memory("1gb"), Some(1 << 30));
        assert_eq!(parse_memory("64KB"), Some(64 << 10));
        assert_eq!(parse_memory("12"), Some(12));
        assert_eq!(parse_memory("x"), None);
    }
}
