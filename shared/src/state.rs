//! What a node keeps across restarts, `kill -9` included: its fitted model, in a state
//! directory (`CHIMERA_STATE_DIR/<node>/`, by default `EXP/.chimera/state/<node>/`; a named
//! volume under Docker).
//!
//! A file is written whole or not at all: to a temporary file in the same folder, then renamed
//! over the old one, so a process killed in the middle leaves the previous state. The kernel
//! keeps what a killed process wrote; only a power cut needs the disk sync, which a background
//! thread does right after ([`sync_soon`]): half a millisecond a save here, and a fit saves
//! twice, which was 4% of a 200-round parameter-server fit on red wine.
//!
//! The format is postcard (serde's compact binary: floats as their 8 bytes, so a restart
//! predicts bit for bit) followed by an FNV-1a checksum of those bytes, so a damaged file is
//! refused rather than decoded into a wrong model. It was YAML until a forest of 25 deep trees
//! took 57 MB and a third of its fit time to save. Each file
//! records a fingerprint of the inputs the state was made from (spec files, data: their sizes
//! and modification times); a node that starts with other inputs ignores a stale state rather
//! than serving a model of other data.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Syncs a saved file, then its folder (which makes the rename durable), on a background
/// thread. When that thread cannot be started or is 64 saves behind, the caller syncs.
fn sync_soon(file: std::fs::File, folder: PathBuf) {
    use std::sync::mpsc::{sync_channel, SyncSender, TrySendError};
    use std::sync::OnceLock;
    fn sync(file: &std::fs::File, folder: &Path) {
        let _ = file.sync_all();
        if let Ok(f) = std::fs::File::open(folder) {
            let _ = f.sync_all();
        }
    }
    static SYNCER: OnceLock<Option<SyncSender<(std::fs::File, PathBuf)>>> = OnceLock::new();
    let syncer = SYNCER.get_or_init(|| {
        let (tx, rx) = sync_channel::<(std::fs::File, PathBuf)>(64);
        std::thread::Builder::new()
            .name("chimera-state-sync".into())
            .spawn(move || {
                for (file, folder) in rx {
                    sync(&file, &folder);
                }
            })
            .ok()
            .map(|_| tx)
    });
    let job = match syncer {
        Some(tx) => match tx.try_send((file, folder)) {
            Ok(()) => return,
            Err(TrySendError::Full(job) | TrySendError::Disconnected(job)) => job,
        },
        None => (file, folder),
    };
    sync(&job.0, &job.1);
}

/// A saved state, tied to the inputs it was made from.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Saved<T> {
    /// The format and the release that wrote it; a file of another is ignored.
    version: u32,
    release: String,
    /// [`crate::hash::Fnv`] of the inputs (see [`fingerprint`]).
    inputs: String,
    state: T,
}

/// The format; 2 is postcard with a checksum (1 was YAML). The crate's version is kept too, so
/// a state written by another release, whose types may differ, is ignored.
const VERSION: u32 = 2;
const RELEASE: &str = env!("CARGO_PKG_VERSION");

/// Bytes of the checksum that ends a state file.
const CHECKSUM_BYTES: usize = 8;

fn checksum(bytes: &[u8]) -> [u8; CHECKSUM_BYTES] {
    let mut h = crate::hash::Fnv::new();
    h.eat(bytes);
    h.finish().to_le_bytes()
}

/// One node's state folder.
#[derive(Debug, Clone)]
pub struct StateDir {
    dir: PathBuf,
    inputs: String,
}

impl StateDir {
    /// `dir` is the node's folder; `inputs` the fingerprint of what its state depends on.
    pub fn new(dir: PathBuf, inputs: String) -> StateDir {
        StateDir { dir, inputs }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `name` atomically (temporary file, rename), and has it synced to disk soon.
    pub fn save<T: Serialize>(&self, name: &str, state: &T) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        let saved = Saved {
            version: VERSION,
            release: RELEASE.to_string(),
            inputs: self.inputs.clone(),
            state,
        };
        let mut bytes = postcard::to_stdvec(&saved).map_err(std::io::Error::other)?;
        bytes.extend_from_slice(&checksum(&bytes));
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        std::fs::rename(&tmp, &path)?;
        sync_soon(file, self.dir.clone());
        Ok(())
    }

    /// Reads `name`: `Ok(None)` when there is none, or it was made from other inputs or by
    /// another format (the reason is in the `Err` only when the file cannot be read at all).
    pub fn load<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, String> {
        let path = self.dir.join(name);
        let bytes = match std::fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        let unreadable = |why: &str| Err(format!("{}: unreadable ({why}); it is ignored", path.display()));
        let Some(split) = bytes.len().checked_sub(CHECKSUM_BYTES) else {
            return unreadable("shorter than its checksum");
        };
        let (body, sum) = bytes.split_at(split);
        if sum != checksum(body) {
            return unreadable("its checksum does not match");
        }
        // The version is read first: a file of another format need not decode as this one.
        let version: Result<(u32, &[u8]), _> = postcard::take_from_bytes(body);
        if !matches!(version, Ok((VERSION, _))) {
            return Ok(None);
        }
        let saved: Saved<T> = match postcard::from_bytes(body) {
            Ok(s) => s,
            Err(e) => return unreadable(&e.to_string()),
        };
        Ok((saved.release == RELEASE && saved.inputs == self.inputs).then_some(saved.state))
    }
}

/// The fingerprint of a node's inputs: each file's path, size and modification time, as
/// `cargo xtask up` fingerprints them (no file is read again at start-up).
pub fn fingerprint(files: &[PathBuf]) -> String {
    let mut h = crate::hash::Fnv::new();
    for f in files {
        h.eat_file_stamp(f);
    }
    format!("{:016x}", h.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_is_read_back_only_for_the_same_inputs() {
        let dir = std::env::temp_dir().join(format!("chimera-state-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let state = StateDir::new(dir.join("w1"), "abc".into());
        assert_eq!(state.load::<Vec<f64>>("model.bin").unwrap(), None);
        state.save("model.bin", &vec![1.5, 2.5, 0.1 + 0.2]).unwrap();
        assert_eq!(
            state.load::<Vec<f64>>("model.bin").unwrap(),
            Some(vec![1.5, 2.5, 0.1 + 0.2])
        );
        let other = StateDir::new(dir.join("w1"), "def".into());
        assert_eq!(other.load::<Vec<f64>>("model.bin").unwrap(), None, "other inputs");
        std::fs::write(dir.join("w1/model.bin"), b"{half").unwrap();
        assert!(
            state.load::<Vec<f64>>("model.bin").is_err(),
            "a torn file is not trusted"
        );
        state.save("model.bin", &vec![1.5]).unwrap();
        let mut bytes = std::fs::read(dir.join("w1/model.bin")).unwrap();
        let last = bytes.len() - CHECKSUM_BYTES - 1;
        bytes[last] ^= 1;
        std::fs::write(dir.join("w1/model.bin"), &bytes).unwrap();
        assert!(
            state.load::<Vec<f64>>("model.bin").unwrap_err().contains("checksum"),
            "a damaged file is not trusted"
        );
        let leftovers: Vec<_> = std::fs::read_dir(dir.join("w1")).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
