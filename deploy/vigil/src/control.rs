//! The control socket of a running `vigil up` (`<dir>/control.sock`): how `vigil drill` reaches
//! the processes `vigil up` owns. One command per line, one reply line each (`list` answers one
//! line per process, then `end`):
//!
//! | command | effect |
//! |---|---|
//! | `list` | `<name> <addr> <pid or 0>` per process |
//! | `kill NAME` / `stop NAME` / `cont NAME` | SIGKILL / SIGSTOP / SIGCONT |
//! | `start NAME` | starts a stopped (killed) process again, with the same arguments |
//! | `partition NAME all` | cuts the data node off from everyone, clients included |
//! | `partition NAME sentinels` | cuts it off from the sentinels only |
//! | `delay NAME MS` | adds MS of one-way latency to all its traffic |
//! | `heal NAME` | removes partitions and delay |
//!
//! Replies: `ok`, or `err <reason>`.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};

use crate::local::{Proc, ip_of, is_sentinel};

/// Serves the control socket at `path` for `procs` until the process ends.
pub fn serve(path: &Path, procs: Arc<Mutex<Vec<Proc>>>) -> anyhow::Result<()> {
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).with_context(|| format!("cannot create {}", path.display()))?;
    tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            let procs = procs.clone();
            tokio::spawn(async move {
                let (r, mut w) = conn.into_split();
                let mut lines = BufReader::new(r).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    let reply = match execute(&line, &procs) {
                        Ok(text) => text,
                        Err(e) => format!("err {e:#}\n"),
                    };
                    if w.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok(())
}

fn execute(line: &str, procs: &Mutex<Vec<Proc>>) -> anyhow::Result<String> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let mut procs = procs.lock().unwrap_or_else(|e| e.into_inner());
    if words.first() == Some(&"list") {
        let mut out = String::new();
        for p in procs.iter_mut() {
            let pid = p.pid().unwrap_or(0);
            out.push_str(&format!("{} {} {pid}\n", p.name, p.addr));
        }
        out.push_str("end\n");
        return Ok(out);
    }
    let [cmd, name, rest @ ..] = words.as_slice() else { bail!("expected: COMMAND NAME [ARG]") };
    let p = procs.iter_mut().find(|p| p.name == *name).with_context(|| format!("no process named {name}"))?;
    let proxy = || p.proxy.as_ref().with_context(|| format!("{name} is not a data node"));
    match (*cmd, rest) {
        ("kill", []) => p.signal("KILL")?,
        ("stop", []) => p.signal("STOP")?,
        ("cont", []) => p.signal("CONT")?,
        ("start", []) => p.start()?,
        ("partition", ["all"]) => proxy()?.set(|f| f.all = true),
        ("partition", ["sentinels"]) => {
            let sentinels: Vec<_> =
                crate::local::NAMES.iter().enumerate().filter(|(_, n)| is_sentinel(n)).map(|(i, _)| ip_of(i)).collect();
            proxy()?.set(|f| f.blocked.extend(sentinels));
        }
        ("delay", [ms]) => {
            let ms: u64 = ms.parse().with_context(|| format!("delay: '{ms}' is not milliseconds"))?;
            proxy()?.set(|f| f.delay = Duration::from_millis(ms));
        }
        ("heal", []) => proxy()?.set(|f| *f = Default::default()),
        _ => bail!("unknown command: {line}"),
    }
    Ok("ok\n".into())
}

/// What a drill acts on: the local group through its control socket, or a compose project
/// through the Docker CLI.
pub enum Control {
    /// `vigil up`'s group.
    Local(Socket),
    /// The containers of a docker-compose project.
    Compose(crate::compose::Compose),
}

impl Control {
    /// Runs one command; an `err` reply is an error.
    pub async fn run(&mut self, cmd: &str) -> anyhow::Result<()> {
        match self {
            Control::Local(s) => s.run(cmd).await,
            Control::Compose(c) => c.run(cmd),
        }
    }

    /// The processes of the group.
    pub async fn list(&mut self) -> anyhow::Result<Vec<Listed>> {
        match self {
            Control::Local(s) => s.list().await,
            Control::Compose(c) => Ok(c.list()),
        }
    }
}

/// A connection to a group's control socket.
pub struct Socket {
    lines: tokio::io::Lines<BufReader<tokio::net::unix::OwnedReadHalf>>,
    w: tokio::net::unix::OwnedWriteHalf,
}

/// A process as `list` reports it.
#[derive(Debug, Clone)]
pub struct Listed {
    /// Its name.
    pub name: String,
    /// Its public address.
    pub addr: String,
    /// Its pid, 0 when not running.
    pub pid: u32,
}

impl Socket {
    /// Connects to the group of `vigil up --dir <dir>`.
    pub async fn connect(dir: &Path) -> anyhow::Result<Socket> {
        let path = crate::local::control_path(dir);
        let conn = UnixStream::connect(&path)
            .await
            .with_context(|| format!("no running `vigil up` at {} (its --dir)", dir.display()))?;
        let (r, w) = conn.into_split();
        Ok(Socket { lines: BufReader::new(r).lines(), w })
    }

    async fn line(&mut self) -> anyhow::Result<String> {
        self.lines.next_line().await?.context("vigil up closed the control socket")
    }

    /// Runs one command; an `err` reply is an error.
    pub async fn run(&mut self, cmd: &str) -> anyhow::Result<()> {
        self.w.write_all(format!("{cmd}\n").as_bytes()).await?;
        let reply = self.line().await?;
        match reply.strip_prefix("err ") {
            Some(e) => bail!("{cmd}: {e}"),
            None => Ok(()),
        }
    }

    /// The processes of the group.
    pub async fn list(&mut self) -> anyhow::Result<Vec<Listed>> {
        self.w.write_all(b"list\n").await?;
        let mut out = Vec::new();
        loop {
            let line = self.line().await?;
            if line == "end" {
                return Ok(out);
            }
            let w: Vec<&str> = line.split_whitespace().collect();
            if let [name, addr, pid] = w.as_slice() {
                out.push(Listed { name: name.to_string(), addr: addr.to_string(), pid: pid.parse().unwrap_or(0) });
            }
        }
    }
}
