//! Run-time administration of the core: `SENTINEL MONITOR`, `REMOVE`, `SET`, `RESET`,
//! `FLUSHCONFIG`, `CONFIG SET` and `DEBUG`. Each validates everything before changing anything,
//! persists the result in the state file and announces it as Redis Sentinel does (`+monitor`,
//! `-monitor`, `+set`, `+reset-master`). Errors are Redis's reply texts.

use super::{Core, MasterConfig, Runtime};
use crate::config::{self, Global};
use crate::core::monitor::split;
use crate::state::Added;

/// The error a failed state write gives a user command.
pub const SAVE_FAILED: &str = "ERR Failed to save config file. Check server logs.";

impl Core {
    fn flush_or_err(&self) -> Result<(), String> {
        self.save().map_err(|e| {
            tracing::warn!("WARNING: Sentinel was not able to save the state in {}: {e}", self.dir.display());
            SAVE_FAILED.to_string()
        })
    }

    /// `master <name> <ip> <port>`: the `%@` of a master.
    fn master_label(&self, name: &str) -> String {
        let addr = self.monitors.get(name).map_or("", |m| m.master.as_str());
        let (ip, port) = split(addr);
        format!("master {name} {ip} {port}")
    }

    /// Checks `SENTINEL MONITOR` arguments as Redis does; returns the new master's configuration.
    pub fn check_monitor(&self, name: &str, host: &str, port: &str, quorum: &str) -> Result<MasterConfig, String> {
        let quorum: i64 = quorum.parse().map_err(|_| "ERR Invalid quorum".to_string())?;
        let port: i64 = port.parse().map_err(|_| "ERR Invalid port".to_string())?;
        if quorum <= 0 {
            return Err("ERR Quorum must be 1 or greater.".into());
        }
        if port <= 0 || port > 65535 {
            return Err("ERR Invalid port number.".into());
        }
        let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>().is_ok();
        let resolves = || {
            use std::net::ToSocketAddrs;
            (host, port as u16).to_socket_addrs().is_ok_and(|mut a| a.next().is_some())
        };
        if !(literal || (self.global.resolve_hostnames && resolves())) {
            return Err("ERR Invalid IP address or hostname specified".into());
        }
        if self.monitors.contains_key(name) {
            return Err("ERR Duplicate master name.".into());
        }
        let addr = config::join(host.trim_start_matches('[').trim_end_matches(']'), port as u16);
        let mut cfg = MasterConfig::new(name, addr, quorum as usize);
        cfg.params.down_after_ms = self.timers.get("default-down-after");
        cfg.params.failover_timeout_ms = self.timers.get("default-failover-timeout");
        cfg.params.info_period_ms = self.timers.get("info-period");
        cfg.params.reconf_timeout_ms = self.timers.get("slave-reconf-timeout");
        Ok(cfg)
    }

    /// `SENTINEL MONITOR <name> <ip> <port> <quorum>`.
    pub fn monitor_master(&mut self, name: &str, host: &str, port: &str, quorum: &str) -> Result<(), String> {
        let cfg = self.check_monitor(name, host, port, quorum)?;
        let added = Added { addr: cfg.addr.clone(), quorum: cfg.params.quorum };
        let mut rt = Runtime { added: Some(added), ..Runtime::default() };
        for (k, v) in cfg.options() {
            rt.options.insert(k, v);
        }
        self.removed.remove(name);
        self.runtime.insert(name.to_string(), rt);
        self.add_group(cfg, None);
        self.flush_or_err()
    }

    /// `SENTINEL REMOVE <name>`.
    pub fn remove_master(&mut self, name: &str) -> Result<(), String> {
        if !self.monitors.contains_key(name) {
            return Err("ERR No such master with that name".into());
        }
        let label = self.master_label(name);
        self.publish(Some(name), "-monitor", label);
        self.close_links(name, None);
        self.monitors.remove(name);
        self.configs.remove(name);
        self.runtime.remove(name);
        if self.configured.contains(name) {
            self.removed.insert(name.to_string());
        }
        self.flush_or_err()
    }

    /// `SENTINEL SET <name> <option> <value> [<option> <value> ...]`: all pairs are validated
    /// before any is applied (Redis applies them one by one and may stop half way).
    pub fn set_options(&mut self, name: &str, pairs: &[(String, Option<String>)]) -> Result<(), String> {
        let cfg = self.check_set(name, pairs)?;
        self.apply_set(name, pairs, cfg)
    }

    /// Validates `SENTINEL SET` pairs on a copy of the configuration of `name`.
    pub fn check_set(&self, name: &str, pairs: &[(String, Option<String>)]) -> Result<MasterConfig, String> {
        let Some(current) = self.configs.get(name) else {
            return Err("ERR No such master with that name".into());
        };
        let mut cfg = current.clone();
        for (opt, value) in pairs {
            let Some(value) = value else {
                return Err(format!("ERR Unknown option or number of arguments for SENTINEL SET '{opt}'"));
            };
            if config::is_script_option(opt) && self.global.deny_scripts_reconfig {
                return Err("ERR Reconfiguration of scripts path is denied for security reasons. Check the deny-scripts-reconfig configuration directive in your Sentinel configuration".into());
            }
            config::set_master_option(&mut cfg, opt, value).map_err(|e| format!("ERR {e}"))?;
        }
        Ok(cfg)
    }

    fn apply_set(&mut self, name: &str, pairs: &[(String, Option<String>)], cfg: MasterConfig) -> Result<(), String> {
        let Some(current) = self.configs.get(name) else {
            return Err("ERR No such master with that name".into());
        };
        let auth_changed = cfg.auth_user != current.auth_user || cfg.auth_pass != current.auth_pass;
        let label = self.master_label(name);
        if let Some(m) = self.monitors.get_mut(name) {
            m.set_params(cfg.params);
        }
        let rt = self.runtime.entry(name.to_string()).or_default();
        for (opt, value) in pairs {
            let opt = opt.to_ascii_lowercase().replace("primary-reboot", "master-reboot");
            let value = value.clone().unwrap_or_default();
            rt.options.insert(opt, value);
        }
        self.configs.insert(name.to_string(), cfg);
        for (opt, value) in pairs {
            let shown = if opt.eq_ignore_ascii_case("auth-pass") { "******" } else { value.as_deref().unwrap_or("") };
            self.publish(Some(name), "+set", format!("{label} {opt} {shown}"));
        }
        if auth_changed {
            // New credentials: reconnect every link of the group with them (as Redis drops them).
            self.close_links(name, None);
            self.open_links(name);
        }
        self.flush_or_err()
    }

    /// `SENTINEL RESET <pattern>`: returns how many masters matched.
    pub fn reset_masters(&mut self, pattern: &str) -> usize {
        let names: Vec<String> = self.monitors.keys().filter(|n| crate::api::glob(pattern, n)).cloned().collect();
        let now = self.now();
        for name in &names {
            let label = self.master_label(name);
            let master = match self.monitors.get_mut(name) {
                Some(m) => {
                    m.reset(now);
                    m.master.clone()
                }
                None => continue,
            };
            self.close_links(name, Some(&master));
            self.publish(Some(name), "+reset-master", label);
            // Ask the master for its replicas now, not at the next periodic INFO: a master
            // dying right after a reset must still find a replica to promote.
            tokio::spawn(super::reconf::info_now(name.clone(), master, self.auth(name), self.tx.clone()));
            // In a group, the group forgets its known replicas and former masters too (or
            // every sentinel would monitor them again); each sentinel's own list is reset where
            // RESET is sent, as with Redis.
            self.propose_forget_replicas(name);
        }
        if !names.is_empty()
            && let Err(e) = self.save()
        {
            tracing::warn!("cannot save the state: {e}");
        }
        names.len()
    }

    /// `SENTINEL FLUSHCONFIG`.
    pub fn flush_config(&mut self) -> Result<(), String> {
        self.flush_or_err()
    }

    /// `SENTINEL CONFIG SET <param> <value> [...]`: validated as a whole, then applied.
    pub fn config_set(&mut self, pairs: &[(String, String)]) -> Result<(), String> {
        let mut g: Global = self.global.clone();
        let mut seen = Vec::new();
        for (p, v) in pairs {
            let p = p.to_ascii_lowercase();
            if seen.contains(&p) {
                return Err(format!("ERR Duplicate argument '{p}' to SENTINEL CONFIG SET"));
            }
            g.set(&p, v, false).map_err(|e| format!("ERR {e}"))?;
            seen.push(p);
        }
        self.global = g;
        for (p, v) in pairs {
            let p = p.to_ascii_lowercase();
            if p == "loglevel" {
                crate::logging::set_level(&self.global.loglevel);
            }
            self.global_set.insert(p, v.clone());
        }
        self.flush_or_err()
    }

    /// `SENTINEL DEBUG <param> <ms> [...]`.
    pub fn debug_set(&mut self, pairs: &[(String, Option<String>)]) -> Result<(), String> {
        let mut timers = self.timers.clone();
        for (p, v) in pairs {
            let lp = p.to_ascii_lowercase();
            let unknown = || format!("ERR Unknown option or number of arguments for SENTINEL DEBUG '{p}'");
            let slot = timers.values.iter_mut().find(|(n, _)| *n == lp).ok_or_else(unknown)?;
            let v = v.as_deref().ok_or_else(unknown)?;
            slot.1 = v
                .parse::<u64>()
                .ok()
                .filter(|x| *x > 0 && *x <= i64::MAX as u64)
                .ok_or_else(|| format!("ERR Invalid argument '{v}' for SENTINEL DEBUG '{p}'"))?;
        }
        self.timers = timers;
        self.tilt.trigger_ms = self.timers.get("tilt-trigger");
        self.tilt.period_ms = self.timers.get("tilt-period");
        self.scripts.set_timing(crate::scripts::Timing {
            max_runtime: std::time::Duration::from_millis(self.timers.get("script-max-runtime")),
            retry_delay: std::time::Duration::from_millis(self.timers.get("script-retry-delay")),
        });
        let (info, reconf) = (self.timers.get("info-period"), self.timers.get("slave-reconf-timeout"));
        let names: Vec<String> = self.monitors.keys().cloned().collect();
        for name in names {
            let ping = self.ping_ms(&name);
            if let Some(m) = self.monitors.get_mut(&name) {
                let mut p = m.params;
                p.info_period_ms = info;
                p.reconf_timeout_ms = reconf;
                p.ping_period_ms = self.timers.get("ping-period");
                m.set_params(p);
            }
            if let Some(c) = self.configs.get_mut(&name) {
                c.params.info_period_ms = info;
                c.params.reconf_timeout_ms = reconf;
            }
            let publish = self.timers.get("publish-period");
            for ((n, _), h) in &self.links {
                if *n == name {
                    h.timing.ping_ms.store(ping, std::sync::atomic::Ordering::Relaxed);
                    h.timing.publish_ms.store(publish, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        Ok(())
    }
}
