//! openraft's state machine over [`GroupState`]: applies committed entries in order, keeps the
//! membership, builds and installs snapshots, and tells the sentinel about every change through a
//! `watch` channel (the driver compares it with what it monitors).
//!
//! Persistence: the last snapshot is kept in `<dir>/raft/snapshot` (atomic replace). The state
//! itself lives in memory; on restart it is the snapshot plus the committed log entries after it,
//! which openraft applies again (the committed position is kept in `<dir>/raft/committed`).

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{EntryPayload, ErrorSubject, ErrorVerb, OptionalSend, RaftSnapshotBuilder};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::state::{Applied, GroupState};
use super::store::write_atomic;
use super::types::{Entry, LogId, SnapshotMeta, StorageError, StoredMembership, TypeConfig};

/// What a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct Image {
    last_applied: Option<LogId>,
    membership: StoredMembership,
    state: GroupState,
}

#[derive(Debug)]
struct Inner {
    image: Image,
    snapshot: Option<(SnapshotMeta, Vec<u8>)>,
    built: u64,
}

/// The state machine (cheap to clone: clones share it).
#[derive(Debug, Clone)]
pub struct Machine {
    dir: PathBuf,
    inner: Arc<Mutex<Inner>>,
    changes: watch::Sender<GroupState>,
}

fn sm_err(verb: ErrorVerb, e: impl std::fmt::Display) -> StorageError {
    StorageError::from_io_error(ErrorSubject::StateMachine, verb, std::io::Error::other(e.to_string()))
}

impl Machine {
    /// Opens the state machine in `dir`, starting from the saved snapshot if there is one.
    pub fn open(dir: &Path) -> std::io::Result<Machine> {
        std::fs::create_dir_all(dir)?;
        let mut inner = Inner { image: Image::default(), snapshot: None, built: 0 };
        if let Ok(bytes) = std::fs::read(dir.join("snapshot")) {
            let (meta, data): (SnapshotMeta, Vec<u8>) = serde_json::from_slice(&bytes)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            inner.image = serde_json::from_slice(&data)
                .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
            inner.snapshot = Some((meta, data));
        }
        let (changes, _) = watch::channel(inner.image.state.clone());
        Ok(Machine { dir: dir.to_path_buf(), inner: Arc::new(Mutex::new(inner)), changes })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The group state now, and every change from now on.
    pub fn subscribe(&self) -> watch::Receiver<GroupState> {
        self.changes.subscribe()
    }

    /// The group state now.
    pub fn state(&self) -> GroupState {
        self.lock().image.state.clone()
    }

    fn save_snapshot(&self, meta: &SnapshotMeta, data: &[u8]) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(&(meta, data)).map_err(|e| sm_err(ErrorVerb::Write, e))?;
        write_atomic(&self.dir.join("snapshot"), &bytes).map_err(|e| sm_err(ErrorVerb::Write, e))
    }
}

impl RaftSnapshotBuilder<TypeConfig> for Machine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (image, n) = {
            let mut g = self.lock();
            g.built += 1;
            (g.image.clone(), g.built)
        };
        let data = serde_json::to_vec(&image).map_err(|e| sm_err(ErrorVerb::Read, e))?;
        let id = match image.last_applied {
            Some(l) => format!("{}-{}-{n}", l.leader_id.term, l.index),
            None => format!("0-0-{n}"),
        };
        let meta = SnapshotMeta {
            last_log_id: image.last_applied,
            last_membership: image.membership.clone(),
            snapshot_id: id,
        };
        self.save_snapshot(&meta, &data)?;
        self.lock().snapshot = Some((meta.clone(), data.clone()));
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(data)) })
    }
}

impl RaftStateMachine<TypeConfig> for Machine {
    type SnapshotBuilder = Machine;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        let g = self.lock();
        Ok((g.image.last_applied, g.image.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Applied>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut out = Vec::new();
        let state = {
            let mut g = self.lock();
            for e in entries {
                g.image.last_applied = Some(e.log_id);
                out.push(match e.payload {
                    EntryPayload::Blank => Applied::Done,
                    EntryPayload::Normal(cmd) => g.image.state.apply(&cmd),
                    EntryPayload::Membership(m) => {
                        g.image.membership = StoredMembership::new(Some(e.log_id), m);
                        Applied::Done
                    }
                });
            }
            g.image.state.clone()
        };
        self.changes.send_if_modified(|s| {
            let changed = *s != state;
            *s = state;
            changed
        });
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        let image: Image = serde_json::from_slice(&data).map_err(|e| sm_err(ErrorVerb::Read, e))?;
        self.save_snapshot(meta, &data)?;
        let state = image.state.clone();
        {
            let mut g = self.lock();
            g.image =
                Image { last_applied: meta.last_log_id, membership: meta.last_membership.clone(), state: image.state };
            g.snapshot = Some((meta.clone(), data));
        }
        self.changes.send_replace(state);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        Ok(self.lock().snapshot.clone().map(|(meta, data)| Snapshot { meta, snapshot: Box::new(Cursor::new(data)) }))
    }
}
