//! The local group's processes, their addresses and the faults `vigil up` can inject into them.
//!
//! Everything is reached on 127.0.0.1 (the master on 7000, the sentinels on 26379, ...), but
//! every process makes its outgoing connections from a loopback address of its own
//! (`bind-source-addr`): the data nodes from 127.0.0.10, .11, .12 and the sentinels from
//! 127.0.0.21, .22, .23, the addresses of the compose topology. A [`Proxy`] in front of each
//! data node can therefore tell who is talking. The node itself listens on its own address and
//! an internal port; its public address — the one the sentinels monitor, the replicas follow
//! and clients use — is the proxy's, and the node announces it to its master
//! (`replica-announce-ip/-port`), so the sentinels learn that one.
//!
//! Two flavours run the same topology: `vigil-node` + `vigil-sentinel` (a Raft group), or
//! Debian's `redis-server` + `redis-server --sentinel`, for side-by-side drills.

use std::fs::{File, OpenOptions};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::{Context as _, bail};

use crate::proxy::Proxy;

/// Which servers the group runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// vigil-node and vigil-sentinel.
    Vigil,
    /// redis-server and redis-server --sentinel.
    Redis,
}

/// The names of the processes, in start order.
pub const NAMES: [&str; 6] = ["master", "replica-1", "replica-2", "sentinel-1", "sentinel-2", "sentinel-3"];

/// Where every process is reached (the proxies, the sentinels' APIs).
pub const PUBLIC: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// The loopback address process `i` of [`NAMES`] connects from (and a data node listens on).
pub fn ip_of(i: usize) -> IpAddr {
    let last = if i < 3 { 10 + i } else { 21 + (i - 3) };
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last as u8))
}

/// Is this process a sentinel?
pub fn is_sentinel(name: &str) -> bool {
    name.starts_with("sentinel")
}

/// One process of the group.
pub struct Proc {
    /// Its name (see [`NAMES`]).
    pub name: String,
    /// The address everyone uses: the proxy's for a data node, the RESP API for a sentinel.
    pub addr: SocketAddr,
    /// The fault proxy in front of a data node.
    pub proxy: Option<Proxy>,
    program: PathBuf,
    args: Vec<String>,
    log: PathBuf,
    child: Option<Child>,
}

impl Proc {
    /// The pid while it runs.
    pub fn pid(&mut self) -> Option<u32> {
        let child = self.child.as_mut()?;
        match child.try_wait() {
            Ok(None) => Some(child.id()),
            _ => None,
        }
    }

    /// Starts it (again), its output appended to its log.
    pub fn start(&mut self) -> anyhow::Result<()> {
        if self.pid().is_some() {
            bail!("{} is running", self.name);
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .with_context(|| format!("cannot open {}", self.log.display()))?;
        let child = Command::new(&self.program)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("cannot start {}", self.program.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Sends a signal (KILL, STOP, CONT); after KILL the process is reaped.
    pub fn signal(&mut self, sig: &str) -> anyhow::Result<()> {
        let pid = self.pid().with_context(|| format!("{} is not running", self.name))?;
        let ok = Command::new("kill").args([format!("-{sig}"), pid.to_string()]).status()?.success();
        if !ok {
            bail!("kill -{sig} {pid} failed");
        }
        if sig == "KILL"
            && let Some(c) = self.child.as_mut()
        {
            let _ = c.wait();
        }
        Ok(())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(c) = self.child.as_mut() {
            let _ = Command::new("kill").args(["-CONT", &c.id().to_string()]).status();
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What `vigil up` was asked for.
pub struct Plan {
    /// Which servers.
    pub flavor: Flavor,
    /// Data and logs go here.
    pub dir: PathBuf,
    /// Public ports of the three data nodes.
    pub data: Vec<u16>,
    /// RESP API ports of the three sentinels.
    pub api: Vec<u16>,
    /// gRPC ports of the three sentinels (vigil flavour).
    pub grpc: Vec<u16>,
    /// The sentinels' down-after-milliseconds.
    pub down_after_ms: u64,
    /// Where vigil-node and vigil-sentinel are.
    pub bins: PathBuf,
}

/// A free port on `ip`.
pub fn free_port(ip: IpAddr) -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind((ip, 0))
        .with_context(|| format!("cannot bind {ip}: vigil up needs the 127.0.0.0/8 loopback of Linux"))?
        .local_addr()?
        .port())
}

fn node_args(plan: &Plan, i: usize, internal: u16) -> Vec<String> {
    let ip = ip_of(i).to_string();
    let d = plan.dir.join(NAMES[i]).display().to_string();
    let master = format!("{PUBLIC} {}", plan.data[0]);
    match plan.flavor {
        Flavor::Vigil => {
            let mut a: Vec<String> = vec!["--bind".into(), ip.clone(), "--port".into(), internal.to_string()];
            a.extend(["--dir".into(), d]);
            for kv in [
                format!("replica-announce-ip={PUBLIC}"),
                format!("replica-announce-port={}", plan.data[i]),
                format!("bind-source-addr={ip}"),
            ] {
                a.extend(["--set".into(), kv]);
            }
            if i > 0 {
                a.extend(["--replicaof".into(), master]);
            }
            a
        }
        Flavor::Redis => {
            let mut a: Vec<String> = Vec::new();
            for (k, v) in [
                ("bind", ip.clone()),
                ("port", internal.to_string()),
                ("dir", d),
                ("save", String::new()),
                ("appendonly", "no".into()),
                ("protected-mode", "no".into()),
                ("replica-announce-ip", PUBLIC.to_string()),
                ("replica-announce-port", plan.data[i].to_string()),
                ("bind-source-addr", ip),
            ] {
                a.extend([format!("--{k}"), v]);
            }
            if i > 0 {
                a.extend(["--replicaof".into(), master]);
            }
            a
        }
    }
}

fn sentinel_args(plan: &Plan, s: usize) -> anyhow::Result<Vec<String>> {
    let i = 3 + s;
    let ip = ip_of(i).to_string();
    let dir = plan.dir.join(NAMES[i]);
    let (mip, mport) = (PUBLIC.to_string(), plan.data[0].to_string());
    match plan.flavor {
        Flavor::Vigil => {
            let mut a: Vec<String> = [
                "--bind",
                &PUBLIC.to_string(),
                "--port",
                &plan.api[s].to_string(),
                "--bind-source-addr",
                &ip,
                "--dir",
                &dir.display().to_string(),
                "--grpc-port",
                &plan.grpc[s].to_string(),
                "--monitor",
                "mymaster",
                &mip,
                &mport,
                "2",
                "--down-after-ms",
                &plan.down_after_ms.to_string(),
            ]
            .iter()
            .map(|s| s.to_string())
            .collect();
            for j in (0..3).filter(|j| *j != s) {
                a.extend(["--peer".into(), format!("{PUBLIC}:{}", plan.grpc[j])]);
            }
            Ok(a)
        }
        Flavor::Redis => {
            let conf = dir.join("sentinel.conf");
            let text = format!(
                "port {}\nbind {PUBLIC}\nbind-source-addr {ip}\nsentinel announce-ip {PUBLIC}\n\
                 protected-mode no\ndir {}\n\
                 sentinel monitor mymaster {mip} {mport} 2\nsentinel down-after-milliseconds mymaster {}\n",
                plan.api[s],
                dir.display(),
                plan.down_after_ms
            );
            std::fs::write(&conf, text).with_context(|| format!("cannot write {}", conf.display()))?;
            Ok(vec![conf.display().to_string(), "--sentinel".into()])
        }
    }
}

fn program(plan: &Plan, sentinel: bool) -> PathBuf {
    match (plan.flavor, sentinel) {
        (Flavor::Vigil, false) => plan.bins.join("vigil-node"),
        (Flavor::Vigil, true) => plan.bins.join("vigil-sentinel"),
        (Flavor::Redis, _) => PathBuf::from("redis-server"),
    }
}

/// Starts the six processes (and the data nodes' proxies).
/// A data node's public port 0 is bound here (and written back into the plan), so no other
/// program can take it between choosing and binding.
pub async fn launch(plan: &mut Plan) -> anyhow::Result<Vec<Proc>> {
    let mut listeners = Vec::new();
    for port in plan.data.iter_mut() {
        let listener = tokio::net::TcpListener::bind((PUBLIC, *port))
            .await
            .with_context(|| format!("cannot listen on {PUBLIC}:{port}"))?;
        *port = listener.local_addr()?.port();
        listeners.push(listener);
    }
    let plan = &*plan;
    let mut listeners = listeners.into_iter();
    let mut procs = Vec::new();
    for (i, name) in NAMES.iter().enumerate() {
        std::fs::create_dir_all(plan.dir.join(name))?;
        let ip = ip_of(i);
        let log = plan.dir.join(format!("{name}.log"));
        File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let (addr, proxy, args) = if let Some(listener) = listeners.next() {
            let internal = free_port(ip)?;
            let proxy = Proxy::start(listener, SocketAddr::new(ip, internal), ip)?;
            (proxy.addr, Some(proxy), node_args(plan, i, internal))
        } else {
            (SocketAddr::new(PUBLIC, plan.api[i - 3]), None, sentinel_args(plan, i - 3)?)
        };
        let mut p =
            Proc { name: name.to_string(), addr, proxy, program: program(plan, i >= 3), args, log, child: None };
        p.start().map_err(|e| {
            anyhow::anyhow!(
                "{e:#} (build it: cargo build --release --workspace --bins; for --redis: apt install redis-server)"
            )
        })?;
        procs.push(p);
    }
    Ok(procs)
}

/// The path of the control socket of the group in `dir`.
pub fn control_path(dir: &Path) -> PathBuf {
    dir.join("control.sock")
}
