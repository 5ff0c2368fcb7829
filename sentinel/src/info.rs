//! Reading a data node's INFO: the fields a sentinel decides from.
//!
//! Only this text contract is used, so a Vigil sentinel reads vigil-node and redis-server
//! alike. Unknown fields are ignored; a field that is missing keeps its default, as Redis
//! Sentinel does (`sentinelRefreshInstanceInfo`).

/// Role an instance reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Role {
    /// `role:master`.
    Master,
    /// `role:slave`.
    Replica,
    /// No role line (yet).
    #[default]
    Unknown,
}

/// A replica as its master lists it (`slaveN:ip=...,port=...`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedReplica {
    /// Announced IP.
    pub ip: String,
    /// Announced port.
    pub port: u16,
}

/// What one INFO reply says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Info {
    /// `run_id` (kept only if exactly 40 characters, as Redis Sentinel requires).
    pub run_id: Option<String>,
    /// `role`.
    pub role: Role,
    /// Replicas listed by a master.
    pub replicas: Vec<ListedReplica>,
    /// On a replica: `master_host`.
    pub master_host: Option<String>,
    /// On a replica: `master_port`.
    pub master_port: Option<u16>,
    /// On a replica: `master_link_status:up`.
    pub master_link_up: bool,
    /// On a replica: `master_link_down_since_seconds`, in milliseconds (0 when up or unknown).
    pub master_link_down_ms: u64,
    /// On a replica: `slave_priority` (default 100).
    pub priority: u32,
    /// On a replica: `slave_repl_offset`.
    pub repl_offset: u64,
    /// On a replica: `replica_announced` (default true).
    pub announced: bool,
    /// `master_repl_offset`: on a master, the offset of the last byte of its stream.
    pub master_repl_offset: u64,
}

/// Parses an INFO reply.
pub fn parse(text: &str) -> Info {
    let mut info = Info { priority: 100, announced: true, ..Info::default() };
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some((key, value)) = line.split_once(':') else { continue };
        match key {
            "run_id" if value.len() == 40 => info.run_id = Some(value.to_string()),
            "role" => {
                info.role = match value {
                    "master" => Role::Master,
                    "slave" => Role::Replica,
                    _ => Role::Unknown,
                }
            }
            "master_host" => info.master_host = Some(value.to_string()),
            "master_port" => info.master_port = value.parse().ok(),
            "master_link_status" => info.master_link_up = value == "up",
            "master_link_down_since_seconds" => {
                info.master_link_down_ms = value.parse::<i64>().map_or(0, |s| s.max(0) as u64 * 1000)
            }
            "slave_priority" | "replica_priority" => info.priority = value.parse().unwrap_or(100),
            "slave_repl_offset" => info.repl_offset = value.parse().unwrap_or(0),
            "master_repl_offset" => info.master_repl_offset = value.parse().unwrap_or(0),
            "replica_announced" => info.announced = value != "0",
            k if k.starts_with("slave") && k[5..].chars().all(|c| c.is_ascii_digit()) && k.len() > 5 => {
                if let Some(r) = listed_replica(value) {
                    info.replicas.push(r);
                }
            }
            _ => {}
        }
    }
    info
}

/// `ip=1.2.3.4,port=6380,state=online,...` or the old form `1.2.3.4,6380,online`.
fn listed_replica(value: &str) -> Option<ListedReplica> {
    if value.contains('=') {
        let mut ip = None;
        let mut port = None;
        for part in value.split(',') {
            match part.split_once('=') {
                Some(("ip", v)) => ip = Some(v.to_string()),
                Some(("port", v)) => port = v.parse().ok(),
                _ => {}
            }
        }
        Some(ListedReplica { ip: ip?, port: port? })
    } else {
        let mut parts = value.split(',');
        let ip = parts.next()?.to_string();
        let port = parts.next()?.parse().ok()?;
        Some(ListedReplica { ip, port })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASTER: &str = "# Server\r\nredis_version:7.0.15\r\nrun_id:0123456789abcdef0123456789abcdef01234567\r\n\r\n\
        # Replication\r\nrole:master\r\nconnected_slaves:2\r\n\
        slave0:ip=127.0.0.1,port=6380,state=online,offset=95,lag=0\r\n\
        slave1:10.0.0.2,6381,online\r\nmaster_failover_state:no-failover\r\n";

    const REPLICA: &str = "run_id:short\r\nrole:slave\r\nmaster_host:127.0.0.1\r\nmaster_port:6379\r\n\
        master_link_status:down\r\nmaster_link_down_since_seconds:7\r\nslave_repl_offset:1234\r\n\
        slave_priority:0\r\nreplica_announced:0\r\n";

    #[test]
    fn a_master_lists_its_replicas_in_both_forms() {
        let i = parse(MASTER);
        assert_eq!(i.role, Role::Master);
        assert_eq!(i.run_id.as_deref(), Some("0123456789abcdef0123456789abcdef01234567"));
        assert_eq!(
            i.replicas,
            vec![
                ListedReplica { ip: "127.0.0.1".into(), port: 6380 },
                ListedReplica { ip: "10.0.0.2".into(), port: 6381 }
            ]
        );
    }

    #[test]
    fn a_replica_reports_its_link_priority_and_offset() {
        let i = parse(REPLICA);
        assert_eq!(i.role, Role::Replica);
        assert_eq!(i.run_id, None, "a run_id that is not 40 characters is ignored");
        assert_eq!((i.master_host.as_deref(), i.master_port), (Some("127.0.0.1"), Some(6379)));
        assert!(!i.master_link_up);
        assert_eq!(i.master_link_down_ms, 7000);
        assert_eq!(i.repl_offset, 1234);
        assert_eq!(i.priority, 0);
        assert!(!i.announced);
    }
}
