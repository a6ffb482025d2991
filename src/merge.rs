//! Several jobs' staged trees made into the one tree the commit moves into DEST.
//!
//! Each job is unpacked into a tree of its own in the staging directory (`tree-0`,
//! `tree-1`, …), with every archive rule applied to it. Then, before anything reaches DEST:
//! - with `--per-job`, each tree becomes `tree/<job name>/`;
//! - otherwise the trees are merged: directories merge, and a path that two jobs provide is
//!   fine when both have the same bytes (the same link target), and a conflict otherwise —
//!   exit 9 naming the path and both jobs, with DEST untouched.
//!
//! Merging hard-links each entry into the merged tree (one `linkat`, no copy), so the
//! per-job trees stay whole until the staging directory goes: a conflict can then name the
//! job that provided the other version. Where the filesystem has no hard links (vfat,
//! some FUSE), entries are moved instead and a conflict says "an earlier job".

use std::io::{self, Read};
use std::path::Path;

use anyhow::Result;

use crate::dirs::{Dir, Kind as FileKind, join};
use crate::error::{Kind, fail, fs_failure};
use crate::staging::{Staging, TREE};

/// One job's staged tree.
pub struct Part {
    /// Its name in the staging directory.
    pub tree: String,
    /// The job, for messages ("job 103 \"test 1/3\"").
    pub label: String,
    /// Its directory under `--per-job`.
    pub dir: Option<String>,
}

/// Makes `TREE` in the staging directory from the parts, then checks every symlink of the
/// result on disk (a link of one job may not chain through another's out of DEST).
pub fn merge(staging: &Staging, parts: &[Part], external_links: bool) -> Result<()> {
    let root = &staging.root;
    let cannot = |e| fs_failure("cannot create", &staging.tree_path(), e);
    root.mkdir(TREE, 0o700).map_err(cannot)?;
    let tree = root.open_dir(TREE).map_err(cannot)?;
    for (i, part) in parts.iter().enumerate() {
        let path = staging.root_path.join(&part.tree);
        let src = root
            .open_dir(&part.tree)
            .map_err(|e| fs_failure("cannot open", &path, e))?;
        match &part.dir {
            Some(dir) => {
                root.rename_new(&part.tree, &tree, dir).map_err(|e| {
                    fs_failure("cannot move into place", &staging.tree_path().join(dir), e)
                })?;
            }
            None => merge_dir(staging, parts, i, &src, &tree, "")?,
        }
    }
    crate::extract::check_tree_links(&tree, &staging.dest, &staging.tree_path(), external_links)
}

fn merge_dir(
    staging: &Staging,
    parts: &[Part],
    i: usize,
    src: &Dir,
    dst: &Dir,
    rel: &str,
) -> Result<()> {
    let at = |name: &str| staging.tree_path().join(join(rel, name));
    let names = src
        .names()
        .map_err(|e| fs_failure("cannot read", &at(""), e))?;
    for name in names {
        let Some(name) = name.to_str() else { continue };
        let child = join(rel, name);
        let cannot = |what: &str, e: io::Error| fs_failure(what, &at(name), e);
        let theirs = src.kind(name).map_err(|e| cannot("cannot read", e))?;
        let ours = dst.kind(name).map_err(|e| cannot("cannot read", e))?;
        match (theirs, ours) {
            (None, _) => {}
            (Some(FileKind::Dir), None) => {
                let mode = src.mode(name).map_err(|e| cannot("cannot read", e))?;
                dst.mkdir(name, 0o700)
                    .map_err(|e| cannot("cannot create", e))?;
                let (sub_src, sub_dst) = (
                    src.open_dir(name).map_err(|e| cannot("cannot open", e))?,
                    dst.open_dir(name).map_err(|e| cannot("cannot open", e))?,
                );
                sub_dst
                    .chmod(mode)
                    .map_err(|e| cannot("cannot set the mode of", e))?;
                merge_dir(staging, parts, i, &sub_src, &sub_dst, &child)?;
            }
            (Some(_), None) => match src.hard_link(name, dst, name) {
                Ok(()) => {}
                Err(e) if no_links(&e) => src
                    .rename_new(name, dst, name)
                    .map_err(|e| cannot("cannot move", e))?,
                Err(e) => return Err(cannot("cannot link", e).into()),
            },
            (Some(FileKind::Dir), Some(FileKind::Dir)) => {
                let sub_src = src.open_dir(name).map_err(|e| cannot("cannot open", e))?;
                let sub_dst = dst.open_dir(name).map_err(|e| cannot("cannot open", e))?;
                merge_dir(staging, parts, i, &sub_src, &sub_dst, &child)?;
            }
            (Some(a), Some(b))
                if a == b && same(src, dst, name, a).map_err(|e| cannot("cannot read", e))? => {}
            (Some(_), Some(_)) => return Err(conflict(staging, parts, i, &child)),
        }
    }
    Ok(())
}

/// Whether two files have the same bytes, or two links the same target.
fn same(a: &Dir, b: &Dir, name: &str, kind: FileKind) -> io::Result<bool> {
    if kind == FileKind::Symlink {
        return Ok(a.read_link(name)? == b.read_link(name)?);
    }
    let (mut x, mut y) = (a.open_file(name)?, b.open_file(name)?);
    if x.metadata()?.len() != y.metadata()?.len() {
        return Ok(false);
    }
    let (mut bx, mut by) = (vec![0u8; 64 * 1024], vec![0u8; 64 * 1024]);
    loop {
        let n = read_full(&mut x, &mut bx)?;
        let m = read_full(&mut y, &mut by)?;
        if n != m || bx[..n] != by[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
}

fn read_full(f: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut done = 0;
    while done < buf.len() {
        match f.read(&mut buf[done..])? {
            0 => break,
            n => done += n,
        }
    }
    Ok(done)
}

/// A conflict at `rel` between job `i` and the earlier job whose tree still holds it.
fn conflict(staging: &Staging, parts: &[Part], i: usize, rel: &str) -> anyhow::Error {
    let other = parts[..i]
        .iter()
        .find(|p| {
            staging
                .root
                .open_dir(&p.tree)
                .and_then(|t| {
                    let (parent, name) = rel.rsplit_once('/').unwrap_or(("", rel));
                    t.open_path(Path::new(parent))?.kind(name)
                })
                .is_ok_and(|k| k.is_some())
        })
        .map_or_else(|| "an earlier job".to_string(), |p| p.label.clone());
    fail(
        Kind::Filesystem,
        format!(
            "conflict: {rel:?} differs between {other} and {}",
            parts[i].label
        ),
    )
    .detail("two of the jobs fetched provide this path with different content")
    .hint("nothing was changed; --per-job puts each job's files under DEST/<job name>/, or narrow the jobs with --job or the files with --path")
    .into()
}

/// `EPERM`/`EOPNOTSUPP`/`EXDEV`/`EMLINK`: no hard link here.
fn no_links(e: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(e),
        Some(
            rustix::io::Errno::PERM
                | rustix::io::Errno::OPNOTSUPP
                | rustix::io::Errno::XDEV
                | rustix::io::Errno::MLINK
        )
    )
}
