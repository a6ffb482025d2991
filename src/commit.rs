//! The commit: moving the staged tree into DEST, all of it or — on any failure, signal or
//! kill — none of it, and never losing a file of the user's.
//!
//! 1. Under the destination's lock, every staged path is checked against DEST
//!    ([`preflight`]): no writing through a symlink, no file where a directory must go.
//!    Directories on both sides are merged entry by entry; everything else is one step:
//!    *place* (nothing is there: rename the staged entry, a whole subtree for a directory)
//!    or *replace* (a file or link is there: move it aside into the staging directory,
//!    then rename the staged one in).
//! 2. The steps go to a journal on disk first (`staging/journal`, one JSON line each), with
//!    the identity (device, inode) of the staged entry and of the original, and an end
//!    line. No step is taken before the end line is written.
//! 3. The steps run, each relative to directory handles opened without following links
//!    (`dirs.rs`), so a directory swapped for a symlink meanwhile fails the step. A
//!    `committed` line closes the journal; only then are the moved-aside originals deleted
//!    (with the staging directory).
//!
//! Undoing needs no memory of what ran: for each journal line, the identities tell where
//! the staged entry and the original are now, so the same [`undo`] serves a failure in this
//! run and a run killed half-way, which the next fetch into DEST finishes ([`recover`]):
//! back to exactly the old tree — or, if the journal says `committed`, forward.

use std::fs::File;
use std::io::{BufRead, BufReader, BufWriter, Write};
use std::path::Path;

use anyhow::Result;
use serde_json::{Value, json};

use crate::dirs::{self, Dir, Id, Kind as FileKind, join};
use crate::error::{Kind, fail, fs_failure};
use crate::signals;
use crate::staging::{Staging, TREE, lock_dest};

const JOURNAL: &str = "journal";
const ASIDE: &str = "aside";

/// One step, as journalled.
struct Step {
    rel: String,
    staged: Id,
    /// The file or link the step replaces; `None` for a place.
    orig: Option<Id>,
}

/// Moves the staged tree into the destination: all of it, or nothing, with DEST restored
/// exactly. Two fetches into one destination commit one after the other (the lock).
pub fn commit(staging: &mut Staging) -> Result<()> {
    let _lock = lock_dest(&staging.dest, &staging.dest_path)?;
    let tree = staging
        .root
        .open_dir(TREE)
        .map_err(|e| fs_failure("cannot open", &staging.tree_path(), e))?;
    let journal_path = staging.root_path.join(JOURNAL);
    let cannot_write = |e| fs_failure("cannot write the commit journal", &journal_path, e);
    let mut journal = BufWriter::new(staging.create_file(JOURNAL)?);
    writeln!(journal, "{}", json!({"journal": 1})).map_err(cannot_write)?;
    let mut steps = 0u64;
    preflight(&tree, &staging.dest, &staging.dest_path, "", &mut |step| {
        steps += 1;
        writeln!(journal, "{}", record(step))
    })?;
    writeln!(journal, "{}", json!({"end": steps})).map_err(cannot_write)?;
    let journal = journal
        .into_inner()
        .map_err(|e| cannot_write(e.into_error()))?;
    journal.sync_all().map_err(cannot_write)?;

    signals::set_committing(&staging.root_path, true);
    let result = apply(staging, &tree);
    if let Err(err) = result {
        match undo_all(
            &staging.dest,
            &staging.dest_path,
            &staging.root,
            &staging.root_path,
        ) {
            Ok(()) => signals::set_committing(&staging.root_path, false),
            Err(undo) => {
                staging.keep();
                return Err(undo.context(format!("{err:#}")));
            }
        }
        return Err(err);
    }
    let mut journal = journal;
    writeln!(journal, "{}", json!({"committed": true})).map_err(cannot_write)?;
    let _ = journal.sync_all();
    signals::set_committing(&staging.root_path, false);
    staging.keep_created();
    Ok(())
}

fn record(step: &Step) -> Value {
    let id = |id: &Id| json!([id.dev, id.ino]);
    json!({"rel": step.rel, "staged": id(&step.staged), "orig": step.orig.as_ref().map(id)})
}

fn parse_step(line: &Value) -> Option<Step> {
    let id = |v: &Value| {
        Some(Id {
            dev: v.get(0)?.as_u64()?,
            ino: v.get(1)?.as_u64()?,
        })
    };
    Some(Step {
        rel: line.get("rel")?.as_str()?.to_string(),
        staged: id(line.get("staged")?)?,
        orig: match line.get("orig")? {
            Value::Null => None,
            v => Some(id(v)?),
        },
    })
}

/// What a journal holds: its steps, and whether it was completed and committed.
struct Journal {
    steps: Vec<Step>,
    complete: bool,
    committed: bool,
}

fn read_journal(file: File) -> std::io::Result<Journal> {
    let mut journal = Journal {
        steps: Vec::new(),
        complete: false,
        committed: false,
    };
    for line in BufReader::new(file).lines() {
        let Ok(value) = serde_json::from_str::<Value>(&line?) else {
            break; // a line cut short by a kill: nothing after it was written
        };
        if value.get("end").is_some() {
            journal.complete = true;
        } else if value.get("committed").is_some() {
            journal.committed = true;
        } else if let Some(step) = parse_step(&value) {
            journal.steps.push(step);
        }
    }
    Ok(journal)
}

/// Walks the staged tree and the destination side by side, deciding every step before
/// anything is moved, so that conflicts fail with the destination untouched.
fn preflight(
    tree: &Dir,
    dest: &Dir,
    dest_path: &Path,
    rel: &str,
    step: &mut dyn FnMut(&Step) -> std::io::Result<()>,
) -> Result<()> {
    let here = |name: &str| dest_path.join(join(rel, name));
    let names = tree
        .names()
        .map_err(|e| fs_failure("cannot read the staging directory", &here(""), e))?;
    for name in names {
        let Some(name) = name.to_str() else {
            continue; // gljob only stages UTF-8 names
        };
        let child = join(rel, name);
        let target = here(name);
        let (staged_kind, staged) = tree
            .stat(name)
            .and_then(|s| s.ok_or_else(|| std::io::ErrorKind::NotFound.into()))
            .map_err(|e| fs_failure("cannot read the staging directory", &target, e))?;
        let existing = dest
            .stat(name)
            .map_err(|e| fs_failure("cannot look at", &target, e))?;
        let staged_dir = staged_kind == FileKind::Dir;
        let mut write = |s: Step| {
            step(&s).map_err(|e| fs_failure("cannot write the commit journal", &target, e))
        };
        match (staged_dir, existing) {
            (_, None) => write(Step {
                rel: child,
                staged,
                orig: None,
            })?,
            (true, Some((FileKind::Dir, _))) => {
                let sub_tree = tree
                    .open_dir(name)
                    .map_err(|e| fs_failure("cannot open", &target, e))?;
                let sub_dest = dest.open_dir(name).map_err(|e| swapped(&target, e))?;
                preflight(&sub_tree, &sub_dest, dest_path, &child, step)?;
            }
            (true, Some((FileKind::Symlink, _))) => {
                // On a case-folding filesystem the link may be spelt otherwise on disk.
                let lower = name.to_lowercase();
                let on_disk = dest
                    .names()
                    .ok()
                    .into_iter()
                    .flatten()
                    .filter_map(|n| n.into_string().ok())
                    .find(|n| n != name && n.to_lowercase() == lower);
                let target = match &on_disk {
                    Some(spelt) => dest_path.join(join(rel, spelt)),
                    None => target,
                };
                let mut refusal = through_symlink(&target, &child);
                if let Some(spelt) = on_disk {
                    refusal = refusal.detail(format!(
                        "the destination's filesystem takes {name:?} for its symlink {spelt:?}: names that differ in case are one name there"
                    ));
                }
                return Err(refusal.into());
            }
            (true, Some(_)) => {
                return Err(conflict(
                    &target,
                    "the archive has a directory where the destination has a file",
                ));
            }
            (false, Some((FileKind::Dir, _))) => {
                return Err(conflict(
                    &target,
                    "the archive has a file where the destination has a directory",
                ));
            }
            (false, Some((_, orig))) => write(Step {
                rel: child,
                staged,
                orig: Some(orig),
            })?,
        }
    }
    Ok(())
}

/// `a/b/c` as (`a/b`, `c`).
fn split(rel: &str) -> (&str, &str) {
    rel.rsplit_once('/').unwrap_or(("", rel))
}

/// Handles on the staged and the destination parent of the last step's path: steps come
/// in walk order, so consecutive ones mostly share them.
struct Parents {
    rel: Option<String>,
    tree: Option<Dir>,
    dest: Option<Dir>,
}

impl Parents {
    fn get(&mut self, tree: &Dir, dest: &Dir, rel: &str) -> std::io::Result<(&Dir, &Dir)> {
        if self.rel.as_deref() != Some(rel) {
            self.tree = Some(tree.open_path(Path::new(rel))?);
            self.dest = Some(dest.open_path(Path::new(rel))?);
            self.rel = Some(rel.to_string());
        }
        match (&self.tree, &self.dest) {
            (Some(t), Some(d)) => Ok((t, d)),
            _ => Err(std::io::ErrorKind::NotFound.into()),
        }
    }
}

fn apply(staging: &Staging, tree: &Dir) -> Result<()> {
    let journal = staging
        .root
        .open_file(JOURNAL)
        .and_then(read_journal)
        .map_err(|e| fs_failure("cannot read the commit journal", &staging.root_path, e))?;
    let dest = &staging.dest;
    let mut aside: Option<Dir> = None;
    let mut parents = Parents {
        rel: None,
        tree: None,
        dest: None,
    };
    for (n, step) in journal.steps.iter().enumerate() {
        signals::check()?;
        let target = staging.dest_path.join(&step.rel);
        let (parent, name) = split(&step.rel);
        let (tree_parent, dest_parent) = parents
            .get(tree, dest, parent)
            .map_err(|e| swapped(&target, e))?;
        if let Some(orig) = step.orig {
            if aside.is_none() {
                let path = staging.root_path.join(ASIDE);
                aside = Some(
                    staging
                        .root
                        .make_dir(ASIDE, 0o700)
                        .map_err(|e| fs_failure("cannot create", &path, e))?,
                );
            }
            let Some(aside) = &aside else { continue };
            match dest_parent.stat(name) {
                Ok(Some((_, id))) if id == orig => {}
                _ => return Err(changed(&target)),
            }
            dest_parent
                .rename_new(name, aside, n.to_string())
                .map_err(|e| fs_failure("cannot move aside", &target, e))?;
        }
        tree_parent
            .rename_new(name, dest_parent, name)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => changed(&target),
                _ => fs_failure("cannot move into place", &target, e).into(),
            })?;
    }
    Ok(())
}

/// Undoes every step of the journal in `root` (a staging directory) that was taken, by
/// where the identities say the entries are: the staged entry goes back into the tree,
/// the original back into place. Steps never taken are left; so are entries that are no
/// longer what the journal says (someone changed them since).
fn undo_all(dest: &Dir, dest_path: &Path, root: &Dir, root_path: &Path) -> Result<()> {
    let journal = root
        .open_file(JOURNAL)
        .and_then(read_journal)
        .map_err(|e| fs_failure("cannot read the commit journal", root_path, e))?;
    let tree = root
        .open_dir(TREE)
        .map_err(|e| fs_failure("cannot open", &root_path.join(TREE), e))?;
    let aside = match root.open_dir(ASIDE) {
        Ok(aside) => Some(aside),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => return Err(fs_failure("cannot open", &root_path.join(ASIDE), e).into()),
    };
    let mut first_error = None;
    for (n, step) in journal.steps.iter().enumerate().rev() {
        if let Err(e) = undo(dest, &tree, aside.as_ref(), n, step) {
            first_error.get_or_insert((step.rel.clone(), e));
        }
    }
    match first_error {
        None => Ok(()),
        Some((rel, e)) => Err(fail(
            Kind::Filesystem,
            format!(
                "could not put {} back as it was: {e}",
                dest_path.join(rel).display()
            ),
        )
        .detail(format!(
            "the originals are kept in {}; the next gljob fetch into {} tries again",
            root_path.display(),
            dest_path.display()
        ))
        .hint("do not delete that directory: it holds your files until they are back")
        .into()),
    }
}

fn undo(dest: &Dir, tree: &Dir, aside: Option<&Dir>, n: usize, step: &Step) -> std::io::Result<()> {
    let (parent, name) = split(&step.rel);
    let dest_parent = match dest.open_path(Path::new(parent)) {
        Ok(dir) => dir,
        // The parent is not there (or not ours): this step cannot have been taken.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound || dirs::is_not_a_dir(&e) => {
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if let Some((_, id)) = dest_parent.stat(name)?
        && id == step.staged
    {
        let tree_parent = tree.open_path(Path::new(parent))?;
        dest_parent.rename_new(name, &tree_parent, name)?;
    }
    if let (Some(orig), Some(aside)) = (step.orig, aside) {
        let slot = n.to_string();
        if let Some((_, id)) = aside.stat(&slot)?
            && id == orig
            && dest_parent.stat(name)?.is_none()
        {
            aside.rename_new(&slot, &dest_parent, name)?;
        }
    }
    Ok(())
}

/// Finishes the commit of a dead run's staging directory `root` in `dest` (the caller
/// holds the destination's lock): back to the old tree, or forward if it had committed.
/// Returns whether the directory may now be removed.
pub fn recover(dest: &Dir, dest_path: &Path, root: &Dir, root_path: &Path) -> Result<bool> {
    let journal = match root.open_file(JOURNAL) {
        Ok(file) => read_journal(file)
            .map_err(|e| fs_failure("cannot read the commit journal", root_path, e))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(true),
        Err(e) => return Err(fs_failure("cannot read the commit journal", root_path, e).into()),
    };
    if journal.committed || !journal.complete {
        return Ok(true); // done, or nothing was moved yet
    }
    match undo_all(dest, dest_path, root, root_path) {
        Ok(()) => {
            crate::term::stderr(&format!(
                "gljob: warning: an earlier fetch into {} was interrupted during its commit; its changes were undone\n",
                crate::term::escape(&dest_path.display().to_string())
            ));
            Ok(true)
        }
        Err(e) => {
            crate::error::report(&e);
            Ok(false)
        }
    }
}

fn swapped(target: &Path, err: std::io::Error) -> anyhow::Error {
    if dirs::is_not_a_dir(&err) {
        return fail(
            Kind::Archive,
            format!(
                "refused to write through {}: it is no longer a directory",
                target.display()
            ),
        )
        .detail("a symlink or a file took the place of a directory while gljob was committing")
        .hint("gljob never writes through symlinks; check what else writes into the destination, then retry")
        .into();
    }
    fs_failure("cannot open", target, err).into()
}

fn changed(target: &Path) -> anyhow::Error {
    fail(
        Kind::Filesystem,
        format!("{} changed while gljob was committing", target.display()),
    )
    .hint("another process writes into the destination; nothing was changed, retry when it is done")
    .into()
}

fn through_symlink(target: &Path, rel: &str) -> crate::error::Failure {
    fail(
        Kind::Archive,
        format!(
            "refused to write through the symlink {} in the destination",
            target.display()
        ),
    )
    .detail(format!(
        "the archive has a directory {rel:?} where the destination has a symlink"
    ))
    .hint("gljob never writes through symlinks; remove the symlink or choose another --dest")
}

fn conflict(target: &Path, what: &str) -> anyhow::Error {
    fail(
        Kind::Filesystem,
        format!("conflict at {}: {what}", target.display()),
    )
    .hint("nothing was changed; remove the conflicting path or fetch into another --dest")
    .into()
}
