//! The Raft log and vote on disk, in `<dir>/raft/`: what a restarted sentinel rejoins with.
//!
//! - `vote`: the last vote (term and candidate), replaced atomically (temporary file, fsync,
//!   rename, fsync of the folder) before it is acknowledged: a sentinel never votes twice in a
//!   term, even across a crash.
//! - `committed`: the last committed position, so a restart re-applies it at once.
//! - `log`: an append-only file of JSON lines, each an operation — `Append` (an entry),
//!   `Truncate` (drop the entries from an index on: a new leader overwrote them) or `Purge` (drop
//!   the entries up to a log id: a snapshot covers them). Every write is fsynced before openraft
//!   is told it is done. Opening replays the file; a torn last line (a crash mid-write) is
//!   ignored, since it was never acknowledged. After a purge the file is rewritten with only the
//!   live entries.
//!
//! The entries are also kept in memory (a sentinel group's log is small: configuration changes
//! and failovers), behind a mutex shared with the log readers openraft hands to replication
//! tasks. The mutex is only held to read or change the map, never across an `.await`.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::ops::RangeBounds;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, LogState, RaftLogReader, RaftLogStorage};
use openraft::{ErrorSubject, ErrorVerb, OptionalSend};
use serde::{Deserialize, Serialize};

use super::types::{Entry, LogId, StorageError, TypeConfig, Vote};

#[derive(Serialize, Deserialize)]
enum Op {
    Append(Entry),
    Truncate(u64),
    Purge(LogId),
}

#[derive(Debug, Default)]
struct Inner {
    entries: BTreeMap<u64, Entry>,
    last_purged: Option<LogId>,
    vote: Option<Vote>,
    committed: Option<LogId>,
}

/// The log store (cheap to clone: clones share the log).
#[derive(Debug, Clone)]
pub struct LogStore {
    dir: PathBuf,
    inner: Arc<Mutex<Inner>>,
    file: Arc<Mutex<File>>,
}

fn io(subject: ErrorSubject<u64>, verb: ErrorVerb, e: std::io::Error) -> StorageError {
    StorageError::from_io_error(subject, verb, e)
}

fn invalid(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
}

/// Writes `bytes` to `path` atomically and durably.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl LogStore {
    /// Opens (or creates) the log in `dir`, replaying it.
    pub fn open(dir: &Path) -> std::io::Result<LogStore> {
        std::fs::create_dir_all(dir)?;
        let mut inner = Inner::default();
        if let Ok(text) = std::fs::read(dir.join("vote")) {
            inner.vote = Some(serde_json::from_slice(&text).map_err(invalid)?);
        }
        if let Ok(text) = std::fs::read(dir.join("committed")) {
            inner.committed = serde_json::from_slice(&text).map_err(invalid)?;
        }
        let log_path = dir.join("log");
        if let Ok(f) = File::open(&log_path) {
            let lines: Vec<String> = BufReader::new(f).lines().collect::<Result<_, _>>()?;
            for (i, line) in lines.iter().enumerate() {
                let op: Op = match serde_json::from_str(line) {
                    Ok(op) => op,
                    // Only the last line can be torn, by a crash during its write.
                    Err(_) if i + 1 == lines.len() => break,
                    Err(e) => return Err(invalid(format!("{}: line {}: {e}", log_path.display(), i + 1))),
                };
                Self::replay(&mut inner, op);
            }
        }
        let file = OpenOptions::new().create(true).append(true).open(&log_path)?;
        Ok(LogStore { dir: dir.to_path_buf(), inner: Arc::new(Mutex::new(inner)), file: Arc::new(Mutex::new(file)) })
    }

    fn replay(inner: &mut Inner, op: Op) {
        match op {
            Op::Append(e) => {
                inner.entries.insert(e.log_id.index, e);
            }
            Op::Truncate(from) => {
                inner.entries.split_off(&from);
            }
            Op::Purge(upto) => {
                inner.entries = inner.entries.split_off(&(upto.index + 1));
                inner.last_purged = Some(upto);
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes operations to the log file and syncs it.
    fn write_ops(&self, ops: &[Op]) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for op in ops {
            serde_json::to_writer(&mut buf, op).map_err(invalid)?;
            buf.push(b'\n');
        }
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        f.write_all(&buf)?;
        f.sync_data()
    }

    /// Rewrites the log file with only the live entries (after a purge).
    fn compact(&self) -> std::io::Result<()> {
        let (entries, purged) = {
            let g = self.lock();
            (g.entries.values().cloned().collect::<Vec<_>>(), g.last_purged)
        };
        let mut ops: Vec<Op> = purged.into_iter().map(Op::Purge).collect();
        ops.extend(entries.into_iter().map(Op::Append));
        let mut buf = Vec::new();
        for op in &ops {
            serde_json::to_writer(&mut buf, op).map_err(invalid)?;
            buf.push(b'\n');
        }
        let path = self.dir.join("log");
        let mut f = self.file.lock().unwrap_or_else(|e| e.into_inner());
        write_atomic(&path, &buf)?;
        *f = OpenOptions::new().append(true).open(&path)?;
        Ok(())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        Ok(self.lock().entries.range(range).map(|(_, e)| e.clone()).collect())
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let g = self.lock();
        let last = g.entries.values().next_back().map(|e| e.log_id).or(g.last_purged);
        Ok(LogState { last_purged_log_id: g.last_purged, last_log_id: last })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(vote).map_err(|e| io(ErrorSubject::Vote, ErrorVerb::Write, invalid(e)))?;
        write_atomic(&self.dir.join("vote"), &bytes).map_err(|e| io(ErrorSubject::Vote, ErrorVerb::Write, e))?;
        self.lock().vote = Some(*vote);
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self.lock().vote)
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        // Kept so that a restarted sentinel re-applies what was committed before it stopped at
        // once, instead of waiting for a leader to tell it.
        let bytes = serde_json::to_vec(&committed).map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Write, invalid(e)))?;
        write_atomic(&self.dir.join("committed"), &bytes).map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        self.lock().committed = committed;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.lock().committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let entries: Vec<Entry> = entries.into_iter().collect();
        let ops: Vec<Op> = entries.iter().cloned().map(Op::Append).collect();
        let written = self.write_ops(&ops);
        if written.is_ok() {
            let mut g = self.lock();
            for e in entries {
                g.entries.insert(e.log_id.index, e);
            }
        }
        let result = written.as_ref().map(|_| ()).map_err(|e| std::io::Error::new(e.kind(), e.to_string()));
        callback.log_io_completed(result);
        written.map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Write, e))
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_ops(&[Op::Truncate(log_id.index)]).map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        Self::replay(&mut self.lock(), Op::Truncate(log_id.index));
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.write_ops(&[Op::Purge(log_id)]).map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Write, e))?;
        Self::replay(&mut self.lock(), Op::Purge(log_id));
        self.compact().map_err(|e| io(ErrorSubject::Logs, ErrorVerb::Write, e))
    }
}
