//! The staging directory: where a fetch writes everything before the commit moves it into
//! DEST, and how a run tells its own leftovers from anything else.
//!
//! It lives inside the destination (`DEST/.gljob-staging-PID-N/`), so the final moves are
//! renames on one filesystem and nothing is written outside DEST. It is private (0700, its
//! files 0600): entries the archive marks 0600 are not readable by other users while they
//! wait there. It holds:
//! - `gljob-staging`, the marker: a file with [`MARKER_TEXT`], locked (`flock`) by the run
//!   that owns the directory for as long as it lives. A directory is gljob's only if it
//!   has the marker, and dead only if nobody holds the marker's lock — never judged by a
//!   PID, which means nothing to a run in another container sharing the volume;
//! - `artifacts.zip`, the archive as it downloads (sparse);
//! - `tree/`, the unpacked entries;
//! - `journal` and `aside/` during the commit (`commit.rs`).
//!
//! Stale staging directories (a run killed with SIGKILL, a power cut) are dealt with by the
//! next run into the same destination, under the destination's lock: an interrupted commit
//! is finished from its journal first, then the directory is removed.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::archive::RESERVED_PREFIX;
use crate::dirs::Dir;
use crate::error::{Failure, Kind, fail, fs_failure, fs_failure_for};
use crate::signals;

/// The marker's name and text.
pub const MARKER: &str = "gljob-staging";
pub const MARKER_TEXT: &[u8] =
    b"gljob staging directory: removed by gljob when the fetch that owns it ends\n";
/// What finishes a dead run's commit: (DEST, its path, the staging directory, its path) →
/// whether the directory may be removed.
pub type Recover = fn(&Dir, &Path, &Dir, &Path) -> Result<bool>;

/// The unpacked tree's name inside the staging directory.
pub const TREE: &str = "tree";

/// A staging directory of this run, removed (with everything in it) when dropped, unless a
/// commit that could not be rolled back asks to keep it. It also removes the destination
/// directories gljob created, if they are still empty.
pub struct Staging {
    /// The destination, opened once.
    pub dest: Dir,
    pub dest_path: PathBuf,
    /// This directory's name in the destination, its handle and its path (for messages and
    /// for the signal watcher).
    pub name: String,
    pub root: Dir,
    pub root_path: PathBuf,
    /// The marker, locked for as long as this run lives.
    _marker: File,
    created: Vec<PathBuf>,
    /// Keep the directory: it holds files a failed rollback could not put back.
    keep: bool,
}

impl Staging {
    /// Creates `dest` if needed (remembering which directories were new), deals with stale
    /// staging directories of dead runs, and makes a fresh staging directory — all under
    /// the destination's lock, so no other run sees a half-made one. `recover` finishes a
    /// dead run's interrupted commit (`commit::recover`) and says whether its directory may
    /// go.
    pub fn new(dest: &Path, recover: Recover) -> Result<Staging> {
        let created = create_dest(dest)?;
        let made = (|| {
            let dest_dir =
                Dir::open(dest).map_err(|e| fs_failure("cannot open the destination", dest, e))?;
            let lock = lock_dest(&dest_dir, dest)?;
            recover_stale(&dest_dir, dest, recover)?;
            let name = format!("{RESERVED_PREFIX}{}-{}", std::process::id(), nonce());
            let root_path = dest.join(&name);
            signals::remove_on_signal(&root_path, &created);
            let cannot = |e| fs_failure("cannot create the staging directory", &root_path, e);
            dest_dir.mkdir(&name, 0o700).map_err(cannot)?;
            let root = dest_dir.open_dir(&name).map_err(cannot)?;
            // A default ACL on DEST would otherwise decide the group's and others' bits.
            root.chmod(0o700).map_err(cannot)?;
            let mut marker = root.create_file(MARKER, 0o600).map_err(cannot)?;
            marker.write_all(MARKER_TEXT).map_err(cannot)?;
            marker.try_lock().map_err(|e| cannot(e.into()))?;
            drop(lock);
            Ok::<_, anyhow::Error>(Staging {
                dest: dest_dir,
                dest_path: dest.to_path_buf(),
                name,
                root,
                root_path,
                _marker: marker,
                created: created.clone(),
                keep: false,
            })
        })();
        if made.is_err() {
            for dir in created.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        made
    }

    /// The unpacked tree's path, for messages.
    pub fn tree_path(&self) -> PathBuf {
        self.root_path.join(TREE)
    }

    /// A new private file in the staging directory.
    pub fn create_file(&self, name: &str) -> Result<File, Failure> {
        self.root
            .create_file(name, 0o600)
            .map_err(|e| fs_failure("cannot create", &self.root_path.join(name), e))
    }

    /// Removes `name` from the staging directory (a fetch that starts over).
    pub fn remove(&self, name: &str) -> Result<(), Failure> {
        self.root
            .remove_all(name)
            .map_err(|e| fs_failure("cannot remove", &self.root_path.join(name), e))
    }

    /// Keeps the destination directories created for this fetch after the staging is gone.
    pub fn keep_created(&mut self) {
        self.created.clear();
        signals::remove_on_signal(&self.root_path, &[]);
    }

    /// Leaves the staging directory in place: a rollback could not finish, and the user's
    /// files are still in it. The next fetch into the destination tries again.
    pub fn keep(&mut self) {
        self.keep = true;
        self.created.clear();
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.keep {
            let _ = self.dest.remove_all(&self.name);
            for dir in self.created.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
        signals::forget(&self.root_path);
    }
}

/// Takes the destination's exclusive lock (waiting for another gljob that holds it).
pub fn lock_dest(dest: &Dir, path: &Path) -> Result<File, Failure> {
    let lock = dest
        .as_file()
        .map_err(|e| fs_failure("cannot open the destination", path, e))?;
    lock.lock()
        .map_err(|e| fs_failure("cannot lock the destination", path, e))?;
    Ok(lock)
}

/// Creates `dest` and its missing parents; returns the ones it created, outermost first.
fn create_dest(dest: &Path) -> Result<Vec<PathBuf>> {
    create_dirs(dest, "--dest")
}

/// Creates `dir` and its missing parents, as `mkdir -p` does, and returns the directories
/// it created, outermost first, so that a failed fetch can remove them again. `flag`
/// (`--dest`, or `-o` for `--file`) is named in the hints.
pub fn create_dirs(dest: &Path, flag: &str) -> Result<Vec<PathBuf>> {
    match std::fs::metadata(dest) {
        Ok(m) if m.is_dir() => return Ok(Vec::new()),
        Ok(_) => {
            return Err(fail(
                Kind::Filesystem,
                format!(
                    "the destination {} exists and is not a directory",
                    dest.display()
                ),
            )
            .hint(format!("choose another {flag}, or remove that file"))
            .into());
        }
        Err(_) => {}
    }
    let mut missing = Vec::new();
    let mut cursor = Some(dest);
    while let Some(dir) = cursor {
        if dir.as_os_str().is_empty() || std::fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir.to_path_buf());
        cursor = dir.parent();
    }
    missing.reverse();
    for (i, dir) in missing.iter().enumerate() {
        if let Err(e) = std::fs::create_dir(dir) {
            for made in missing[..i].iter().rev() {
                let _ = std::fs::remove_dir(made);
            }
            return Err(fs_failure_for(flag, "cannot create the directory", dir, e).into());
        }
    }
    Ok(missing)
}

/// Deals with the staging directories of dead runs in `dest` (the caller holds the
/// destination's lock): one that has gljob's marker and whose marker nobody holds locked
/// has its interrupted commit finished from the journal, then is removed. Anything else
/// named like it — a live run's, a user's directory, a symlink — is left alone.
fn recover_stale(dest: &Dir, dest_path: &Path, recover: Recover) -> Result<()> {
    let names = dest
        .names()
        .map_err(|e| fs_failure("cannot read the destination", dest_path, e))?;
    for name in names {
        let Some(text) = name.to_str().filter(|n| n.starts_with(RESERVED_PREFIX)) else {
            continue;
        };
        let Ok(dir) = dest.open_dir(text) else {
            continue; // a symlink or a file: not gljob's
        };
        let Ok(mut marker) = dir.open_file(MARKER) else {
            continue;
        };
        let mut head = [0u8; 128];
        let n = std::io::Read::read(&mut marker, &mut head).unwrap_or(0);
        if head[..n] != *MARKER_TEXT || marker.try_lock().is_err() {
            continue; // not gljob's marker, or a live run holds it
        }
        let path = dest_path.join(text);
        if recover(dest, dest_path, &dir, &path)? {
            dest.remove_all(text)
                .map_err(|e| fs_failure("cannot remove the stale staging directory", &path, e))?;
        }
    }
    Ok(())
}

fn nonce() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64) ^ (u64::from(std::process::id()) << 32)
}

/// A private temporary directory outside the workspace (for `--list` and `--file`, which
/// write nothing there), removed on drop or signal.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "gljob-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        signals::remove_on_signal(&path, &[]);
        // Private: entries the archive marks 0600 wait here.
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| {
                fs_failure("cannot create a temporary directory", &path, e)
                    .hint("set TMPDIR to a writable directory")
            })?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// A new private (0600) file in it, for a temporary archive; any earlier one of that
    /// name (an attempt that started over) is removed first.
    pub fn fresh_file(&self, name: &str) -> Result<(File, PathBuf)> {
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.0.join(name);
        let _ = std::fs::remove_file(&path);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| fs_failure("cannot create the temporary archive", &path, e))?;
        Ok((file, path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        signals::forget(&self.0);
    }
}
