//! `notification-script` and `client-reconfig-script`: running the operator's programs, with
//! Redis Sentinel's arguments, limits and retries.
//!
//! - notification-script `<event> <description>` runs for every warning-level event about a
//!   master or its instances (`+sdown`, `+odown`, `+switch-master`, ...).
//! - client-reconfig-script `<master-name> <role> <state> <from-ip> <from-port> <to-ip>
//!   <to-port>` runs when this sentinel promotes a replica (role `leader`, state `start`).
//!
//! Limits: at most 256 jobs queued (a new job drops the oldest one not running), 16 running at
//! once, each killed after `script-max-runtime` (60 s; `-script-timeout <path> <pid>`). A script
//! that exits with 1 or dies by a signal is retried up to 10 times, `script-retry-delay` (30 s)
//! apart, doubling each time; exit code 2 or more gives up at once. A failure that is not retried
//! is announced as `-script-error <path> <signal> <exit-code>`.
//!
//! The queue is shared with the API (`SENTINEL PENDING-SCRIPTS`, INFO) behind a mutex that is
//! only held to read or change the queue, never across an `.await`.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, broadcast};
use tokio_util::sync::CancellationToken;

use crate::daemon::Published;

const MAX_QUEUE: usize = 256;
const MAX_RUNNING: usize = 16;
const MAX_RETRIES: u32 = 10;

/// One script invocation, queued or running.
#[derive(Debug, Clone)]
pub struct Job {
    /// Program and arguments.
    pub argv: Vec<String>,
    /// Retries done so far.
    pub retry_num: u32,
    /// Not before this instant.
    pub start_at: Instant,
    /// The process, while running.
    pub pid: Option<u32>,
    /// When it started, while running.
    pub started: Option<Instant>,
    id: u64,
}

/// Timing of script runs (`SENTINEL DEBUG script-max-runtime`, `script-retry-delay`).
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Kill a script after this long.
    pub max_runtime: Duration,
    /// First retry delay (doubles each retry).
    pub retry_delay: Duration,
}

#[derive(Debug)]
struct Inner {
    jobs: Vec<Job>,
    next_id: u64,
    timing: Timing,
}

/// Handle to the script queue; cheap to clone.
#[derive(Clone, Debug)]
pub struct Scripts {
    inner: Arc<Mutex<Inner>>,
    wake: Arc<Notify>,
}

impl Scripts {
    /// Starts the runner task.
    pub fn start(events: broadcast::Sender<Published>, shutdown: CancellationToken) -> Scripts {
        let s = Scripts {
            inner: Arc::new(Mutex::new(Inner {
                jobs: Vec::new(),
                next_id: 0,
                timing: Timing { max_runtime: Duration::from_secs(60), retry_delay: Duration::from_secs(30) },
            })),
            wake: Arc::new(Notify::new()),
        };
        tokio::spawn(run(s.clone(), events, shutdown));
        s
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a run of `argv`.
    pub fn schedule(&self, argv: Vec<String>) {
        let mut g = self.lock();
        if g.jobs.len() >= MAX_QUEUE
            && let Some(pos) = g.jobs.iter().position(|j| j.pid.is_none())
        {
            let dropped = g.jobs.remove(pos);
            tracing::warn!(script = %dropped.argv[0], "script queue full: dropped the oldest pending run");
        }
        let id = g.next_id;
        g.next_id += 1;
        g.jobs.push(Job { argv, retry_num: 0, start_at: Instant::now(), pid: None, started: None, id });
        drop(g);
        self.wake.notify_one();
    }

    /// A copy of the queue (running jobs first, as queued).
    pub fn pending(&self) -> Vec<Job> {
        self.lock().jobs.clone()
    }

    /// (running, queued) counts for INFO.
    pub fn counts(&self) -> (usize, usize) {
        let g = self.lock();
        let running = g.jobs.iter().filter(|j| j.pid.is_some()).count();
        (running, g.jobs.len() - running)
    }

    /// Current timing.
    pub fn timing(&self) -> Timing {
        self.lock().timing
    }

    /// Changes the timing.
    pub fn set_timing(&self, t: Timing) {
        self.lock().timing = t;
    }
}

async fn run(s: Scripts, events: broadcast::Sender<Published>, shutdown: CancellationToken) {
    loop {
        let now = Instant::now();
        let (to_start, next_wake) = {
            let mut g = s.lock();
            let mut running = g.jobs.iter().filter(|j| j.started.is_some()).count();
            let mut start = Vec::new();
            for j in g.jobs.iter_mut() {
                if running >= MAX_RUNNING {
                    break;
                }
                if j.started.is_none() && j.start_at <= now {
                    j.started = Some(now);
                    running += 1;
                    start.push(j.clone());
                }
            }
            let next = g.jobs.iter().filter(|j| j.started.is_none()).map(|j| j.start_at).min();
            (start, next)
        };
        for job in to_start {
            tokio::spawn(execute(s.clone(), job, events.clone()));
        }
        let sleep = next_wake.map_or(Duration::from_secs(3600), |t| t.saturating_duration_since(Instant::now()));
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = s.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
}

/// Runs one job to its end, then retries it or drops it.
async fn execute(s: Scripts, job: Job, events: broadcast::Sender<Published>) {
    let path = job.argv[0].clone();
    let publish = |event: &str, payload: String| {
        tracing::warn!("{event} {payload}");
        let _ = events.send((event.to_string(), payload));
    };
    let spawned = tokio::process::Command::new(&path).args(&job.argv[1..]).kill_on_drop(true).spawn();
    // (signal, exit code): a spawn failure counts as signal 99, as in Redis.
    let (signal, code) = match spawned {
        Err(e) => {
            tracing::warn!(script = %path, "cannot run the script: {e}");
            (99, 0)
        }
        Ok(mut child) => {
            let pid = child.id().unwrap_or(0);
            let max = {
                let mut g = s.lock();
                if let Some(j) = g.jobs.iter_mut().find(|j| j.id == job.id) {
                    j.pid = Some(pid);
                }
                g.timing.max_runtime
            };
            match tokio::time::timeout(max, child.wait()).await {
                Ok(Ok(status)) => {
                    use std::os::unix::process::ExitStatusExt;
                    (status.signal().unwrap_or(0), status.code().unwrap_or(0))
                }
                Ok(Err(e)) => {
                    tracing::warn!(script = %path, "cannot wait for the script: {e}");
                    (99, 0)
                }
                Err(_) => {
                    let _ = child.kill().await;
                    publish("-script-timeout", format!("{path} {pid}"));
                    (9, 0)
                }
            }
        }
    };
    let mut g = s.lock();
    let Some(pos) = g.jobs.iter().position(|j| j.id == job.id) else { return };
    let retry = (signal != 0 || code == 1) && g.jobs[pos].retry_num < MAX_RETRIES;
    if retry {
        let delay = g.timing.retry_delay * 2u32.saturating_pow(g.jobs[pos].retry_num);
        let j = &mut g.jobs[pos];
        j.retry_num += 1;
        j.pid = None;
        j.started = None;
        j.start_at = Instant::now() + delay;
        drop(g);
        s.wake.notify_one();
        return;
    }
    g.jobs.remove(pos);
    drop(g);
    s.wake.notify_one();
    if signal != 0 || code != 0 {
        publish("-script-error", format!("{path} {signal} {code}"));
    }
}
