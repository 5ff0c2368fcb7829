//! openraft's own conformance suite for storage implementations, run against the sentinel
//! group's file-backed log store and state machine (each test in a fresh folder).

use std::path::PathBuf;

use openraft::testing::{StoreBuilder, Suite};
use vigil_sentinel::group::machine::Machine;
use vigil_sentinel::group::store::LogStore;
use vigil_sentinel::group::types::{StorageError, TypeConfig};

/// Removes the folder when the suite is done with a store.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Builder;

static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

impl StoreBuilder<TypeConfig, LogStore, Machine, Scratch> for Builder {
    async fn build(&self) -> Result<(Scratch, LogStore, Machine), StorageError> {
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("vigil-raft-suite-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let io = |e: std::io::Error| {
            StorageError::from_io_error(openraft::ErrorSubject::Store, openraft::ErrorVerb::Write, e)
        };
        let log = LogStore::open(&dir).map_err(io)?;
        let machine = Machine::open(&dir).map_err(io)?;
        Ok((Scratch(dir), log, machine))
    }
}

#[test]
fn the_file_backed_store_passes_openrafts_storage_suite() {
    if let Err(e) = Suite::test_all(Builder) {
        panic!("storage suite: {e}");
    }
}

#[test]
fn the_log_and_the_vote_survive_a_reopen() {
    use openraft::storage::{RaftLogReader, RaftLogStorage, RaftLogStorageExt};
    use openraft::{CommittedLeaderId, Entry, EntryPayload, LogId, Vote};
    let dir = std::env::temp_dir().join(format!("vigil-raft-reopen-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    rt.block_on(async {
        let mut log = LogStore::open(&dir).expect("open");
        log.save_vote(&Vote::new(3, 7)).await.expect("vote");
        let entries: Vec<Entry<TypeConfig>> = (1..=5)
            .map(|i| Entry { log_id: LogId::new(CommittedLeaderId::new(3, 7), i), payload: EntryPayload::Blank })
            .collect();
        log.blocking_append(entries).await.expect("append");
        log.truncate(LogId::new(CommittedLeaderId::new(3, 7), 4)).await.expect("truncate");
        log.purge(LogId::new(CommittedLeaderId::new(3, 7), 1)).await.expect("purge");
        drop(log);
        // A torn last line, as a crash in the middle of a write leaves: ignored.
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new().append(true).open(dir.join("log")).expect("log file");
        f.write_all(b"{\"Append\":{\"log_id\"").expect("torn write");
        drop(f);

        let mut again = LogStore::open(&dir).expect("reopen");
        assert_eq!(again.read_vote().await.expect("vote"), Some(Vote::new(3, 7)));
        let got: Vec<u64> =
            again.try_get_log_entries(0..100).await.expect("read").iter().map(|e| e.log_id.index).collect();
        assert_eq!(got, vec![2, 3], "1 purged, 4 and 5 truncated");
        let state = again.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(1));
        assert_eq!(state.last_log_id.map(|l| l.index), Some(3));
    });
    let _ = std::fs::remove_dir_all(&dir);
}
