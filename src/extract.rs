//! All-or-nothing extraction: stage, verify, then move into place — or leave nothing.
//!
//! The destination is never written until every entry has been unpacked and verified (size
//! and CRC) in a staging directory inside it (`DEST/.gljob-staging-PID-N`, so the final moves
//! are renames on one filesystem). The commit first checks every target against what is in
//! the destination (no writing through an existing symlink, no file where a directory must
//! go), then renames whole new subtrees where nothing is in the way and single entries where
//! something must be replaced, journalling each step so that any failure or signal rolls the
//! destination back to exactly what it was. A staging directory left by a killed run is
//! recognised by its PID and removed by the next run.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, Write};
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use zip::ZipArchive;

use crate::archive::{Entry, EntryKind, RESERVED_PREFIX};
use crate::error::{Failure, Kind, fail};
use crate::signals;

/// A directory that is removed, with everything in it, when dropped or when a signal ends
/// the process. It also removes the destination directories gljob created, if they are
/// still empty.
pub struct Staging {
    pub root: PathBuf,
    created: Vec<PathBuf>,
}

impl Staging {
    /// Creates `dest` if needed (remembering which directories were new), removes stale
    /// staging directories of dead gljob runs, and makes a fresh staging directory.
    pub fn new(dest: &Path) -> Result<Staging> {
        let created = create_dest(dest)?;
        remove_stale(dest);
        let root = dest.join(format!(
            "{RESERVED_PREFIX}{}-{}",
            std::process::id(),
            nonce()
        ));
        let staging = Staging { root, created };
        signals::remove_on_signal(&staging.root, &staging.created);
        fs::create_dir(&staging.root)
            .map_err(|e| fs_failure("cannot create the staging directory", &staging.root, e))?;
        Ok(staging)
    }

    pub fn tree(&self) -> PathBuf {
        self.root.join("tree")
    }

    /// Keeps the destination directories created for this fetch after the staging is gone.
    fn keep_created(&mut self) {
        self.created.clear();
        signals::remove_on_signal(&self.root, &[]);
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
        for dir in self.created.iter().rev() {
            let _ = fs::remove_dir(dir);
        }
        signals::forget(&self.root);
    }
}

/// Creates `dest` and its missing parents; returns the ones it created, outermost first.
fn create_dest(dest: &Path) -> Result<Vec<PathBuf>> {
    match fs::metadata(dest) {
        Ok(m) if m.is_dir() => return Ok(Vec::new()),
        Ok(_) => {
            return Err(fail(
                Kind::Filesystem,
                format!(
                    "the destination {} exists and is not a directory",
                    dest.display()
                ),
            )
            .hint("choose another --dest, or remove that file")
            .into());
        }
        Err(_) => {}
    }
    let mut missing = Vec::new();
    let mut cursor = Some(dest);
    while let Some(dir) = cursor {
        if dir.as_os_str().is_empty() || fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir.to_path_buf());
        cursor = dir.parent();
    }
    missing.reverse();
    for (i, dir) in missing.iter().enumerate() {
        if let Err(e) = fs::create_dir(dir) {
            for made in missing[..i].iter().rev() {
                let _ = fs::remove_dir(made);
            }
            return Err(fs_failure("cannot create the destination", dir, e).into());
        }
    }
    Ok(missing)
}

/// Removes `DEST/.gljob-staging-PID-*` directories whose process is gone (SIGKILL, power loss).
fn remove_stale(dest: &Path) {
    let Ok(dir) = fs::read_dir(dest) else { return };
    for item in dir.flatten() {
        let name = item.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(RESERVED_PREFIX)) else {
            continue;
        };
        let pid = rest.split('-').next().unwrap_or("");
        let alive = !pid.is_empty() && Path::new("/proc").join(pid).exists();
        if !alive {
            let _ = fs::remove_dir_all(item.path());
        }
    }
}

fn nonce() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    (t as u64) ^ (u64::from(std::process::id()) << 32)
}

/// Unpacks `entries` from `archive` into `tree`, verifying each file's size and CRC.
/// Calls `progress` with the bytes written so far.
pub fn unpack<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    entries: &[Entry],
    tree: &Path,
) -> Result<u64> {
    fs::create_dir(tree).map_err(|e| fs_failure("cannot create the staging directory", tree, e))?;
    let mut buf = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    for entry in entries {
        signals::check()?;
        let path = tree.join(&entry.path);
        match &entry.kind {
            EntryKind::Dir => {
                fs::create_dir(&path).map_err(|e| fs_failure("cannot create", &path, e))?;
                fs::set_permissions(&path, fs::Permissions::from_mode(entry.mode | 0o700))
                    .map_err(|e| fs_failure("cannot set the mode of", &path, e))?;
            }
            EntryKind::Symlink(target) => {
                symlink(target, &path)
                    .map_err(|e| fs_failure("cannot create the symlink", &path, e))?;
            }
            EntryKind::File => {
                let index = entry.index.unwrap_or_default();
                let mut reader = archive
                    .by_index(index)
                    .map_err(|e| corrupt(&entry.path, &e.to_string()))?;
                let mtime = crate::archive::extended_mtime(&reader).or(entry.mtime);
                let file =
                    File::create_new(&path).map_err(|e| fs_failure("cannot create", &path, e))?;
                let mut out = BufWriter::with_capacity(buf.len(), file);
                let mut copied = 0u64;
                loop {
                    let n = match reader.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) => return Err(corrupt(&entry.path, &e.to_string()).into()),
                    };
                    copied += n as u64;
                    if copied > entry.size {
                        return Err(corrupt(
                            &entry.path,
                            &format!("it unpacks to more than its declared {} bytes", entry.size),
                        )
                        .into());
                    }
                    out.write_all(&buf[..n])
                        .map_err(|e| fs_failure("cannot write", &path, e))?;
                    if copied % (8 << 20) < n as u64 {
                        signals::check()?;
                    }
                }
                if copied != entry.size {
                    return Err(corrupt(
                        &entry.path,
                        &format!(
                            "it unpacks to {copied} bytes, not its declared {}",
                            entry.size
                        ),
                    )
                    .into());
                }
                let file = out
                    .into_inner()
                    .map_err(|e| fs_failure("cannot write", &path, e.into_error()))?;
                file.set_permissions(fs::Permissions::from_mode(entry.mode))
                    .map_err(|e| fs_failure("cannot set the mode of", &path, e))?;
                if let Some(mtime) = mtime {
                    let _ = file.set_modified(mtime);
                }
                written += copied;
            }
        }
    }
    Ok(written)
}

/// One step of the commit, undone in reverse order on failure.
enum Step {
    /// A new file, symlink or whole subtree renamed into place.
    Placed(PathBuf),
    /// An existing file or symlink moved aside (to the second path) before being replaced.
    MovedAside(PathBuf, PathBuf),
}

/// Moves the staged `entries` from `staging` into `dest`: all of them, or — on any failure
/// or signal — none, with `dest` restored exactly.
pub fn commit(staging: &mut Staging, entries: &[Entry], dest: &Path) -> Result<()> {
    let tree = staging.tree();
    let plan = preflight(entries, dest)?;
    let aside = staging.root.join("aside");
    let mut journal: Vec<Step> = Vec::new();
    let result = apply(&plan, &tree, dest, &aside, &mut journal);
    if let Err(err) = result {
        for step in journal.into_iter().rev() {
            match step {
                Step::Placed(path) => {
                    let _ = remove_any(&path);
                }
                Step::MovedAside(path, moved) => {
                    let _ = fs::rename(moved, path);
                }
            }
        }
        return Err(err);
    }
    staging.keep_created();
    Ok(())
}

/// What the commit will do for one path.
enum Action {
    /// Nothing is there: rename the staged entry (a whole subtree for a directory).
    Place(String),
    /// A file or symlink is there: move it aside, then rename the staged one in.
    Replace(String),
}

/// Decides every action before anything is moved, so that conflicts fail with the
/// destination untouched. Directories that exist in both are merged, entry by entry.
fn preflight(entries: &[Entry], dest: &Path) -> Result<Vec<Action>> {
    let mut actions = Vec::new();
    // Paths placed as whole subtrees: their descendants need no action of their own.
    let mut placed_dirs: Vec<&str> = Vec::new();
    for entry in entries {
        if placed_dirs
            .iter()
            .any(|d| entry.path.starts_with(d) && entry.path.as_bytes().get(d.len()) == Some(&b'/'))
        {
            continue;
        }
        let target = dest.join(&entry.path);
        let existing = fs::symlink_metadata(&target);
        match (&entry.kind, existing) {
            (EntryKind::Dir, Err(_)) => {
                placed_dirs.push(&entry.path);
                actions.push(Action::Place(entry.path.clone()));
            }
            (_, Err(_)) => actions.push(Action::Place(entry.path.clone())),
            (EntryKind::Dir, Ok(m)) if m.is_dir() => {}
            (EntryKind::Dir, Ok(m)) if m.file_type().is_symlink() => {
                return Err(fail(Kind::Archive, format!("refused to write through the symlink {} in the destination", target.display()))
                    .detail(format!("the archive has a directory {:?} where the destination has a symlink", entry.path))
                    .hint("gljob never writes through symlinks; remove the symlink or choose another --dest")
                    .into());
            }
            (EntryKind::Dir, Ok(_)) => {
                return Err(conflict(
                    &target,
                    "the archive has a directory where the destination has a file",
                ));
            }
            (_, Ok(m)) if m.is_dir() => {
                return Err(conflict(
                    &target,
                    "the archive has a file where the destination has a directory",
                ));
            }
            (_, Ok(_)) => actions.push(Action::Replace(entry.path.clone())),
        }
    }
    Ok(actions)
}

fn apply(
    plan: &[Action],
    tree: &Path,
    dest: &Path,
    aside: &Path,
    journal: &mut Vec<Step>,
) -> Result<()> {
    for (n, action) in plan.iter().enumerate() {
        signals::check()?;
        match action {
            Action::Place(path) => {
                let target = dest.join(path);
                fs::rename(tree.join(path), &target)
                    .map_err(|e| fs_failure("cannot move into place", &target, e))?;
                journal.push(Step::Placed(target));
            }
            Action::Replace(path) => {
                let target = dest.join(path);
                if n == 0 || !aside.exists() {
                    fs::create_dir_all(aside).map_err(|e| fs_failure("cannot create", aside, e))?;
                }
                let moved = aside.join(n.to_string());
                fs::rename(&target, &moved)
                    .map_err(|e| fs_failure("cannot move aside", &target, e))?;
                journal.push(Step::MovedAside(target.clone(), moved));
                fs::rename(tree.join(path), &target)
                    .map_err(|e| fs_failure("cannot move into place", &target, e))?;
                journal.push(Step::Placed(target));
            }
        }
    }
    Ok(())
}

fn remove_any(path: &Path) -> io::Result<()> {
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => fs::remove_dir_all(path),
        Ok(_) => fs::remove_file(path),
        Err(e) => Err(e),
    }
}

fn conflict(target: &Path, what: &str) -> anyhow::Error {
    fail(
        Kind::Filesystem,
        format!("conflict at {}: {what}", target.display()),
    )
    .hint("nothing was changed; remove the conflicting path or fetch into another --dest")
    .into()
}

fn corrupt(path: &str, why: &str) -> Failure {
    fail(Kind::Archive, format!("the archive is corrupt: entry {path:?}: {why}"))
        .hint("nothing was written; the download may have been damaged or the artifact is broken — retry, or check the job that produced it")
}

/// A filesystem failure (exit 9) naming the path; a full disk says so.
pub fn fs_failure(what: &str, path: &Path, err: io::Error) -> Failure {
    let mut failure = fail(
        Kind::Filesystem,
        format!("{what} {}: {err}", path.display()),
    );
    if err.kind() == io::ErrorKind::StorageFull || err.kind() == io::ErrorKind::QuotaExceeded {
        failure =
            failure.hint("the disk is full: free space on the runner, or fetch less with --path");
    } else if err.kind() == io::ErrorKind::PermissionDenied
        || err.kind() == io::ErrorKind::ReadOnlyFilesystem
    {
        failure = failure
            .hint("the destination is not writable by this job's user; choose another --dest");
    }
    failure.hint("the destination was left as it was")
}

/// Opens the downloaded archive for reading.
pub fn open(path: &Path) -> Result<(ZipArchive<File>, u64)> {
    let file = File::open(path)
        .with_context(|| format!("opening the downloaded archive {}", path.display()))?;
    let len = file.metadata()?.len();
    let archive = ZipArchive::new(file).map_err(|e| {
        fail(Kind::Archive, format!("the download is not a readable zip archive: {e}"))
            .hint("nothing was written; the artifact may be truncated or not a zip (GitLab's report formats gzip/raw are not archives)")
    })?;
    Ok((archive, len))
}
