//! Fuzz target `archive`: arbitrary bytes as an artifact archive, through the same steps as
//! `gljob fetch` after the download: `archive::plan` (the rules), then, when it accepts,
//! `staging::Staging::new`, `extract::unpack` and `commit::commit` into a destination that
//! already holds the user's files (one of them a symlink pointing outside).
//!
//! Asserted for every input:
//! - no panic, and every refusal is exit 8 (or 9 for what the filesystem itself cannot
//!   hold, e.g. a name longer than 255 bytes), never 1;
//! - nothing outside the destination changes, whatever happened (the temp root holds a
//!   sibling `outside/` directory, the target of the destination's symlink);
//! - a refused archive leaves the destination exactly as it was, without staging;
//! - an accepted one is in the destination exactly as `gljob::zipfmt` reads it: each file's
//!   bytes and mode, each symlink's target, each directory; each name is a plain relative
//!   path, each new symlink resolves (lexically) inside the destination; the user's other
//!   files are untouched, and nothing else appeared.
//!
//! With `GLJOB_FUZZ_PHYSICAL=1`, also that each new symlink's target resolves inside the
//! destination on the real filesystem (following the destination's own symlinks on the way,
//! but not a last component that is one). gljob does not promise that today (see
//! README.md, "Findings"), so it is off by default.

#![no_main]

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io::Read;
use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use gljob::archive::{self, Limits, Plan};
use gljob::commit;
use gljob::error::exit_code;
use gljob::extract;
use gljob::staging::Staging;
use gljob::zipfmt::{self, Type};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check(data));

/// Small limits keep each run fast; the limit checks themselves are exercised all the same.
const LIMITS: Limits = Limits {
    max_bytes: 8 << 20,
    max_entries: 10_000,
    max_ratio: 200,
    max_depth: 32,
    external_links: false,
};

/// One scratch directory per fuzzing process, emptied for each input.
fn base() -> &'static Path {
    static BASE: OnceLock<PathBuf> = OnceLock::new();
    BASE.get_or_init(|| {
        let tmp = std::env::temp_dir();
        // Those of fuzzing processes that are gone (a crash leaves its last case behind).
        for item in fs::read_dir(&tmp).into_iter().flatten().flatten() {
            let name = item.file_name();
            if let Some(pid) = name.to_str().and_then(|n| n.strip_prefix("gljob-fuzz-"))
                && !Path::new("/proc").join(pid).exists()
            {
                let _ = fs::remove_dir_all(item.path());
            }
        }
        let dir = tmp.join(format!("gljob-fuzz-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("scratch directory");
        dir
    })
}

/// What a path is: kind, permission bits, and the content or link target.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    Dir(u32),
    File(u32, Vec<u8>),
    Link(PathBuf),
}

/// Everything below `dir`, by relative path, without following symlinks.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Node> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in fs::read_dir(&d).expect("read_dir") {
            let path = item.expect("dir entry").path();
            let meta = fs::symlink_metadata(&path).expect("lstat");
            let mode = meta.permissions().mode() & 0o7777;
            let node = if meta.file_type().is_symlink() {
                Node::Link(fs::read_link(&path).expect("readlink"))
            } else if meta.is_dir() {
                stack.push(path.clone());
                Node::Dir(mode)
            } else {
                assert!(
                    meta.is_file(),
                    "{} is neither file, dir nor link",
                    path.display()
                );
                Node::File(mode, fs::read(&path).expect("read"))
            };
            out.insert(path.strip_prefix(dir).expect("below").to_path_buf(), node);
        }
    }
    out
}

/// The temp root: `outside/` (the canary) and `dest/` with the user's own files.
fn prepare(root: &Path) {
    let outside = root.join("outside");
    fs::create_dir_all(outside.join("sub")).expect("outside");
    fs::write(outside.join("canary"), "outside the destination").expect("canary");
    fs::write(outside.join("sub/x"), "deeper").expect("canary");
    let dest = root.join("dest");
    fs::create_dir_all(dest.join("keep-dir")).expect("dest");
    fs::write(dest.join("keep.txt"), "the user's").expect("user file");
    fs::write(dest.join("keep-dir/inner"), "the user's too").expect("user file");
    symlink("../outside", dest.join("escape")).expect("user symlink");
}

fn check(data: &[u8]) {
    let case = base().join("case");
    let _ = fs::remove_dir_all(&case);
    fs::create_dir(&case).expect("case directory");
    let archive_path = case.join("archive.zip");
    fs::write(&archive_path, data).expect("archive");
    let file = File::open(&archive_path).expect("archive");
    let keep = |_: &str| true;
    // Planning only reads the archive, so the destination is made only for accepted ones
    // (most inputs are refused here: this keeps the fuzzer fast).
    let plan = match archive::plan(&file, &LIMITS, &keep) {
        Ok(plan) => plan,
        Err(failure) => {
            let code = failure.kind.code();
            assert_eq!(code, 8, "plan refused with exit {code}, not 8: {failure:?}");
            return;
        }
    };
    archive::ranges(&file, &plan, &keep).expect("ranges of an accepted plan");

    let root = case.join("root");
    prepare(&root);
    let dest = root.join("dest");
    let before = snapshot(&root);
    let accepted = match extract_into(&file, &plan, &dest) {
        Ok(()) => true,
        Err(err) => {
            let code = exit_code(&err);
            assert!(
                code == 8 || code == 9,
                "extraction failed with exit {code}: {err:?}"
            );
            false
        }
    };
    let after = snapshot(&root);
    let outside = |s: &BTreeMap<PathBuf, Node>| -> BTreeMap<PathBuf, Node> {
        s.iter()
            .filter(|(p, _)| !p.starts_with("dest"))
            .map(|(p, n)| (p.clone(), n.clone()))
            .collect()
    };
    assert_eq!(
        outside(&after),
        outside(&before),
        "something changed outside dest"
    );
    // Staging lives at the top of dest (deeper, the name may be an accepted entry's).
    for p in after
        .keys()
        .filter(|p| p.parent() == Some(Path::new("dest")))
    {
        let name = p.to_string_lossy();
        assert!(!name.contains(".gljob-staging-"), "staging left: {name}");
    }
    if accepted {
        accepted_as_read(&file, &plan, &dest, &before, &after);
    } else {
        assert_eq!(after, before, "a refused archive changed dest");
    }
}

fn extract_into(file: &File, plan: &Plan, dest: &Path) -> anyhow::Result<()> {
    let mut staging = Staging::new(dest, commit::recover)?;
    let tree_path = staging.tree_path();
    let target = extract::Target {
        root: &staging.root,
        tree: gljob::staging::TREE,
        tree_path: &tree_path,
        dest: &staging.dest,
    };
    extract::unpack(file, None, plan, &|_: &str| true, &target, 1, &mut || {})?;
    commit::commit(&mut staging)?;
    Ok(())
}

/// The data of an entry, read by `gljob::zipfmt`, size and CRC checked.
fn entry_data(file: &File, c: &zipfmt::Central) -> Vec<u8> {
    let start = zipfmt::data_start(file, c).expect("local header of an extracted entry");
    let mut data = Vec::new();
    zipfmt::open(file, c, start)
        .expect("data of an extracted entry")
        .read_to_end(&mut data)
        .expect("an extracted entry reads back");
    data
}

/// `target` resolved lexically from the directory of `link` (both relative to dest) stays
/// inside dest.
fn stays_inside(link: &str, target: &str) -> bool {
    if target.starts_with('/') {
        return false;
    }
    let mut depth: Vec<&str> = link.split('/').collect();
    depth.pop();
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            p => depth.push(p),
        }
    }
    true
}

fn physical() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("GLJOB_FUZZ_PHYSICAL").is_some_and(|v| v == "1"))
}

/// Like [`stays_inside`], but walking the real filesystem: a component that is a symlink
/// (in the destination, after the commit) is followed, unless it is the last one.
fn stays_inside_physically(dest: &Path, link: &str, target: &str) -> bool {
    let dest = fs::canonicalize(dest).expect("dest");
    let mut at = fs::canonicalize(dest.join(link).parent().expect("parent")).expect("parent");
    let parts: Vec<&str> = target.split('/').filter(|p| !p.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        match *part {
            "." => {}
            ".." => {
                at.pop();
            }
            p => {
                at.push(p);
                let last = i + 1 == parts.len();
                if !last && fs::symlink_metadata(&at).is_ok_and(|m| m.file_type().is_symlink()) {
                    match fs::canonicalize(&at) {
                        Ok(real) => at = real,
                        Err(_) => return at.starts_with(&dest), // dangling: stop here
                    }
                }
            }
        }
        if !at.starts_with(&dest) {
            return false;
        }
    }
    true
}

fn accepted_as_read(
    file: &File,
    plan: &Plan,
    dest: &Path,
    before: &BTreeMap<PathBuf, Node>,
    after: &BTreeMap<PathBuf, Node>,
) {
    let in_dest = |rel: &str| Path::new("dest").join(rel);
    // Paths the archive accounts for: its entries and their parents.
    let mut explained: BTreeSet<PathBuf> = BTreeSet::new();
    let mut entries: BTreeSet<PathBuf> = BTreeSet::new();
    for c in zipfmt::entries(file, plan.dir) {
        let c = c.expect("an accepted directory reads again");
        let Some((path, kind)) = archive::judge(&c).expect("an accepted entry is judged again")
        else {
            continue;
        };
        assert!(
            !path.is_empty()
                && !path.starts_with('/')
                && !path.contains(['\\', '\0'])
                && path.split('/').all(|p| !matches!(p, "" | "." | "..")),
            "accepted an unsafe name {path:?}"
        );
        let rel = in_dest(&path);
        let mut parent = rel.parent();
        while let Some(p) = parent {
            explained.insert(p.to_path_buf());
            parent = p.parent();
        }
        explained.insert(rel.clone());
        entries.insert(rel.clone());
        let got = after.get(&rel);
        let mode = archive::mode(&c);
        assert_eq!(mode & !0o777, 0, "{path}: mode {mode:o} keeps special bits");
        match kind {
            Type::File => assert_eq!(
                got,
                Some(&Node::File(mode, entry_data(file, &c))),
                "file {path}"
            ),
            Type::Symlink => {
                let target = String::from_utf8(entry_data(file, &c)).expect("UTF-8 target");
                assert!(
                    stays_inside(&path, &target),
                    "{path} -> {target} leaves dest"
                );
                if physical() {
                    assert!(
                        stays_inside_physically(dest, &path, &target),
                        "{path} -> {target} leaves dest through a symlink already there"
                    );
                }
                assert_eq!(got, Some(&Node::Link(target.into())), "symlink {path}");
            }
            Type::Dir => match (got, before.get(&rel)) {
                // An existing directory is merged into and keeps its mode.
                (Some(Node::Dir(_)), Some(Node::Dir(_))) => {}
                (Some(Node::Dir(m)), None) => {
                    assert_eq!(*m, mode | 0o700, "mode of directory {path}")
                }
                other => panic!("directory {path}: {other:?}"),
            },
        }
    }
    for (p, node) in after {
        if !explained.contains(p) {
            assert_eq!(
                before.get(p),
                Some(node),
                "{} appeared or changed",
                p.display()
            );
        }
    }
    // The user's files stay, unless the archive replaced them.
    for (p, node) in before {
        if !entries.contains(p) {
            assert_eq!(
                after.get(p),
                Some(node),
                "{} was lost or changed",
                p.display()
            );
        }
    }
}
