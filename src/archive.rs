//! The archive rules: which zip entries gljob will write, decided before it writes any.
//!
//! [`plan`] reads the central directory and returns the entries to extract, or refuses the
//! whole archive (exit 8). The rules copy gitlab-runner's fastzip extractor and tighten it
//! (gitlab-api.md §6): names must be relative, normalised UTF-8 paths without `..`,
//! backslashes, drive letters or NUL; no duplicates after normalisation; no entry below a
//! symlink entry; symlink targets must resolve inside the destination without passing through
//! another symlink; local headers must agree with the central directory and no two entries
//! may share bytes (the non-recursive zip bomb); totals stay within [`Limits`]. Modes keep
//! their permission bits and lose setuid, setgid and sticky.

use std::collections::{BTreeMap, HashSet};
use std::io::Read;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use zip::ZipArchive;
use zip::read::ZipFileEntry;

use crate::error::{Failure, Kind, fail};

/// What an entry becomes on disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink(String),
}

/// One entry to extract, with a normalised path (`a/b/c`, no trailing slash).
#[derive(Debug, Clone)]
pub struct Entry {
    /// Index in the archive; `None` for parent directories the archive only implies.
    pub index: Option<usize>,
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits only (`& 0o777`).
    pub mode: u32,
    /// Declared uncompressed size; extraction verifies it.
    pub size: u64,
    pub mtime: Option<SystemTime>,
}

/// Bounds that stop zip bombs, overridable by flags.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total unpacked bytes.
    pub max_bytes: u64,
    /// Number of entries.
    pub max_entries: u64,
    /// Unpacked bytes per archive byte, enforced once the total passes [`RATIO_FLOOR`].
    pub max_ratio: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 16 << 30,
            max_entries: 500_000,
            max_ratio: 200,
        }
    }
}

/// Small archives may compress as well as they like: a ratio only means a bomb when the
/// result is large.
pub const RATIO_FLOOR: u64 = 100 << 20;

/// Directory names gljob uses for its own staging; no entry may use them.
pub const RESERVED_PREFIX: &str = ".gljob-staging-";

const MAX_LINK_TARGET: u64 = 4096;

/// Reads the central directory of `archive` and returns the entries to write (all of them,
/// or those `keep` accepts plus their parent directories), sorted by path so parents come
/// first. Any hostile or corrupt entry refuses the whole archive with exit 8.
pub fn plan<R: Read + std::io::Seek>(
    archive: &mut ZipArchive<R>,
    archive_len: u64,
    limits: &Limits,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<Entry>, Failure> {
    if archive.len() as u64 > limits.max_entries {
        return Err(limit_failure(
            format!(
                "{} entries, more than the limit of {}",
                archive.len(),
                limits.max_entries
            ),
            "--max-entries",
        ));
    }
    archive.validate_header_consistency().map_err(|e| {
        refuse(format!("its headers are inconsistent: {e}"))
            .detail("duplicate names, a local header that disagrees with the central directory, or entries sharing bytes (a zip bomb)")
    })?;

    let mut entries: BTreeMap<String, Entry> = BTreeMap::new();
    let mut total: u64 = 0;
    for index in 0..archive.len() {
        let meta = archive.metadata();
        let raw = meta
            .entry(index)
            .map_err(|e| refuse(format!("entry {index} is unreadable: {e}")))?;
        let shown = String::from_utf8_lossy(raw.name_raw()).into_owned();
        let path =
            normalise(raw.name_raw()).map_err(|why| refuse(format!("entry {shown:?} {why}")))?;
        if path.is_empty() {
            continue; // "./" names the destination itself
        }
        if raw.encrypted() {
            return Err(refuse(format!("entry {shown:?} is encrypted"))
                .hint("gljob cannot decrypt artifacts; GitLab never encrypts them"));
        }
        let method = raw.compression();
        if !matches!(
            method,
            zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
        ) {
            return Err(refuse(format!(
                "entry {shown:?} uses compression {method}, which gitlab-runner never writes"
            )));
        }
        let kind = if raw.is_symlink() {
            EntryKind::Symlink(String::new()) // the target is read below, once all names are known
        } else if raw.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
        };
        let mode = raw
            .unix_mode()
            .map(|m| m & 0o777)
            .unwrap_or(if kind == EntryKind::Dir { 0o755 } else { 0o644 });
        total = total.saturating_add(raw.size());
        let entry = Entry {
            index: Some(index),
            path: path.clone(),
            kind,
            mode,
            size: raw.size(),
            mtime: mtime(&raw),
        };
        if entries.insert(path.clone(), entry).is_some() {
            return Err(refuse(format!(
                "the name {path:?} occurs twice (after normalising {shown:?})"
            )));
        }
    }

    if total > limits.max_bytes {
        return Err(limit_failure(
            format!(
                "{total} bytes unpacked, more than the limit of {}",
                limits.max_bytes
            ),
            "--max-bytes",
        ));
    }
    if total > RATIO_FLOOR && total / archive_len.max(1) > limits.max_ratio {
        return Err(limit_failure(
            format!(
                "{total} bytes unpacked from {archive_len}, a ratio over the limit of {}",
                limits.max_ratio
            ),
            "--max-ratio",
        ));
    }

    check_tree(&entries)?;
    read_link_targets(archive, &mut entries)?;
    Ok(select(entries, keep))
}

/// Normalises a raw zip name into `a/b/c`, or says why it is refused.
pub fn normalise(raw: &[u8]) -> Result<String, &'static str> {
    let name = std::str::from_utf8(raw).map_err(|_| "is not valid UTF-8")?;
    if name.contains('\0') {
        return Err("contains a NUL byte");
    }
    if name.contains('\\') {
        return Err("contains a backslash (a Windows path trick)");
    }
    if name.starts_with('/') {
        return Err("is an absolute path");
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("climbs out with '..'"),
            p => parts.push(p),
        }
    }
    if let Some(first) = parts.first() {
        let b = first.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Err("starts with a drive letter");
        }
        if first.starts_with(RESERVED_PREFIX) {
            return Err("uses gljob's reserved staging name");
        }
    }
    Ok(parts.join("/"))
}

/// Every entry's parents must be directories: not files, not symlinks (writing below a
/// symlink entry is how symlink-then-write attacks escape).
fn check_tree(entries: &BTreeMap<String, Entry>) -> Result<(), Failure> {
    for path in entries.keys() {
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            match entries.get(parent).map(|e| &e.kind) {
                Some(EntryKind::Symlink(_)) => {
                    return Err(refuse(format!(
                        "entry {path:?} lies below the symlink entry {parent:?}"
                    )));
                }
                Some(EntryKind::File) => {
                    return Err(refuse(format!(
                        "{parent:?} is both a file and a directory (for {path:?})"
                    )));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// Reads each symlink's target and checks that it stays inside the destination.
fn read_link_targets<R: Read + std::io::Seek>(
    archive: &mut ZipArchive<R>,
    entries: &mut BTreeMap<String, Entry>,
) -> Result<(), Failure> {
    let links: HashSet<String> = entries
        .values()
        .filter(|e| matches!(e.kind, EntryKind::Symlink(_)))
        .map(|e| e.path.clone())
        .collect();
    for path in &links {
        let Some(entry) = entries.get_mut(path) else {
            continue;
        };
        let index = entry.index.unwrap_or_default();
        let mut target = Vec::new();
        archive
            .by_index(index)
            .and_then(|f| Ok(f.take(MAX_LINK_TARGET + 1).read_to_end(&mut target)?))
            .map_err(|e| refuse(format!("the symlink {path:?} cannot be read: {e}")))?;
        let target = String::from_utf8(target).map_err(|_| {
            refuse(format!(
                "the symlink {path:?} has a target that is not UTF-8"
            ))
        })?;
        check_link(path, &target, &links)
            .map_err(|why| refuse(format!("the symlink {path:?} → {target:?} {why}")))?;
        entry.kind = EntryKind::Symlink(target);
    }
    Ok(())
}

/// Resolves `target` from the link's directory, lexically, and refuses it if it leaves the
/// destination or passes through another symlink of the archive (a chain could escape where
/// each link alone does not).
pub fn check_link(path: &str, target: &str, links: &HashSet<String>) -> Result<(), &'static str> {
    if target.is_empty() || target.len() as u64 > MAX_LINK_TARGET {
        return Err("has an empty or overlong target");
    }
    if target.contains(['\0', '\\']) {
        return Err("has a NUL or backslash in its target");
    }
    if target.starts_with('/') {
        return Err("points to an absolute path");
    }
    let mut resolved: Vec<&str> = path.split('/').collect();
    resolved.pop(); // the link's own name
    for part in target.split('/') {
        if !resolved.is_empty() && links.contains(&resolved.join("/")) {
            return Err("resolves through another symlink");
        }
        match part {
            "" | "." => {}
            ".." => {
                if resolved.pop().is_none() {
                    return Err("points outside the destination");
                }
            }
            p => resolved.push(p),
        }
    }
    Ok(())
}

/// Keeps the entries `keep` accepts, plus the directories above them, adding the parent
/// directories the archive only implies.
fn select(entries: BTreeMap<String, Entry>, keep: &dyn Fn(&str) -> bool) -> Vec<Entry> {
    let mut chosen: BTreeMap<String, Entry> = BTreeMap::new();
    for (path, entry) in &entries {
        if !keep(path) {
            continue;
        }
        for (i, _) in path.match_indices('/') {
            let parent = &path[..i];
            chosen.entry(parent.to_string()).or_insert_with(|| {
                entries.get(parent).cloned().unwrap_or(Entry {
                    index: None,
                    path: parent.to_string(),
                    kind: EntryKind::Dir,
                    mode: 0o755,
                    size: 0,
                    mtime: None,
                })
            });
        }
        chosen.insert(path.clone(), entry.clone());
    }
    chosen.into_values().collect()
}

/// The entry's DOS modification time, read as UTC. Extraction prefers the extended
/// timestamp (what gitlab-runner writes) when the entry has one: see [`extended_mtime`].
fn mtime(entry: &ZipFileEntry) -> Option<SystemTime> {
    let dt = entry.last_modified()?;
    let days =
        crate::transport::days_from_civil(dt.year().into(), dt.month().into(), dt.day().into())?;
    let secs = days * 86400
        + u64::from(dt.hour()) * 3600
        + u64::from(dt.minute()) * 60
        + u64::from(dt.second());
    Some(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The extended-timestamp extra field's modification time (Unix seconds, UTC).
pub fn extended_mtime<R: Read>(file: &zip::read::ZipFile<'_, R>) -> Option<SystemTime> {
    file.extra_data_fields().find_map(|field| match field {
        zip::extra_fields::ExtraField::ExtendedTimestamp(ts) => ts
            .mod_time()
            .map(|secs| UNIX_EPOCH + Duration::from_secs(secs.into())),
        _ => None,
    })
}

fn refuse(why: String) -> Failure {
    fail(Kind::Archive, format!("refused the archive: {why}"))
        .hint("nothing was written; the artifact may be corrupt or crafted — check the job that produced it")
}

fn limit_failure(what: String, flag: &str) -> Failure {
    fail(Kind::Archive, format!("refused the archive: {what}"))
        .detail("this looks like a zip bomb, or an artifact larger than gljob allows by default")
        .hint(format!(
            "if the artifact is genuine, raise the limit with {flag}"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_normalised_or_refused() {
        assert_eq!(normalise(b"dist/app").unwrap(), "dist/app");
        assert_eq!(normalise(b"./dist//lib/").unwrap(), "dist/lib");
        assert_eq!(normalise(b"./").unwrap(), "");
        for bad in [
            &b"/etc/passwd"[..],
            b"../x",
            b"a/../../x",
            b"a/../b",
            b"..\\x",
            b"C:\\x",
            b"C:/x",
            b"a\0b",
            b"\xff\xfe",
            b".gljob-staging-1-2/x",
        ] {
            assert!(
                normalise(bad).is_err(),
                "{:?} must be refused",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn link_targets_must_stay_inside_without_chains() {
        let none = HashSet::new();
        assert!(check_link("dist/current", "app", &none).is_ok());
        assert!(check_link("a/b/l", "../../x", &none).is_ok());
        assert!(check_link("a/l", "../../x", &none).is_err());
        assert!(check_link("l", "/etc/passwd", &none).is_err());
        assert!(check_link("l", "..", &none).is_err());
        let links: HashSet<String> = ["x/y".to_string()].into();
        // x/y -> .. is fine alone, but z -> x/y/.. goes through it.
        assert!(check_link("z", "x/y/..", &links).is_err());
    }

    #[test]
    fn selection_adds_implied_parents() {
        let file = |p: &str| Entry {
            index: Some(0),
            path: p.into(),
            kind: EntryKind::File,
            mode: 0o644,
            size: 1,
            mtime: None,
        };
        let entries: BTreeMap<String, Entry> = [file("a/b/c.xml"), file("a/d.txt")]
            .into_iter()
            .map(|e| (e.path.clone(), e))
            .collect();
        let chosen = select(entries, &|p: &str| p.ends_with(".xml"));
        let paths: Vec<&str> = chosen.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(paths, ["a", "a/b", "a/b/c.xml"]);
        assert_eq!(chosen[0].kind, EntryKind::Dir);
    }
}
