//! The archive rules: which zip entries gljob will write, decided before it writes any.
//!
//! [`plan`] streams the central directory once and refuses the whole archive (exit 8) on
//! the first hostile or corrupt entry; extraction then streams it again. Nothing per entry is
//! kept but a path hash and an offset, so memory stays flat for archives of any size. The
//! rules copy gitlab-runner's fastzip extractor and tighten it (gitlab-api.md §6): names
//! must be relative, normalised UTF-8 paths without `..`, backslashes, drive letters or NUL;
//! no duplicates after normalisation; no entry below a file or symlink entry; symlink
//! targets must resolve inside the destination without passing through another symlink; no
//! two entries may share bytes (the non-recursive zip bomb); only Stored and Deflate, no
//! encryption; totals stay within [`Limits`]. Modes keep their permission bits and lose
//! setuid, setgid and sticky.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::io::Read;

use crate::error::{Failure, Kind, fail};
use crate::zipfmt::{self, Central, Directory, Source, Type};

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
/// Linux's limits on one name and on a whole path (NAME_MAX, PATH_MAX).
const MAX_NAME: usize = 255;
const MAX_PATH: usize = 4096;

/// What [`plan`] found: enough to extract, nothing per entry but offsets.
pub struct Plan {
    pub dir: Directory,
    /// Selected entries that are files or symlinks, and their declared bytes.
    pub files: u64,
    pub bytes: u64,
    /// Every symlink entry's path: a link target may not pass through any of them.
    pub links: HashSet<String>,
    /// Every entry's local-header offset, sorted, then the directory's start: the end of
    /// each entry's bytes is the next offset.
    pub bounds: Vec<u64>,
    /// A few entry names, for messages.
    pub examples: Vec<String>,
}

impl Plan {
    /// Where the bytes of the entry at `offset` must end.
    pub fn limit(&self, offset: u64) -> u64 {
        let next = self.bounds.partition_point(|&o| o <= offset);
        self.bounds.get(next).copied().unwrap_or(self.dir.start)
    }
}

/// A normalised entry path and its type; `None` for entries that name the destination
/// itself (`./`). Extraction calls it again instead of keeping the plan's results.
pub fn judge(c: &Central) -> Result<Option<(String, Type)>, Failure> {
    let shown = String::from_utf8_lossy(&c.name).into_owned();
    let path = normalise(&c.name).map_err(|why| refuse(format!("entry {shown:?} {why}")))?;
    if path.is_empty() {
        return Ok(None);
    }
    if c.encrypted() {
        return Err(refuse(format!("entry {shown:?} is encrypted"))
            .hint("gljob cannot decrypt artifacts; GitLab never encrypts them"));
    }
    if !matches!(c.method, 0 | 8) {
        return Err(refuse(format!(
            "entry {shown:?} uses compression method {}, which gitlab-runner never writes",
            c.method
        )));
    }
    Ok(Some((path, c.kind())))
}

/// The permission bits to give an entry: its own, without setuid, setgid and sticky.
pub fn mode(c: &Central) -> u32 {
    match c.mode {
        Some(m) if m & 0o777 != 0 => m & 0o777,
        _ if c.kind() == Type::Dir => 0o755,
        _ => 0o644,
    }
}

/// Checks every entry of the archive in `source` and plans the extraction of those `keep`
/// accepts. Any hostile or corrupt entry refuses the whole archive with exit 8.
pub fn plan<S: Source + ?Sized>(
    source: &S,
    limits: &Limits,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Plan, Failure> {
    let dir = zipfmt::find_directory(source)
        .map_err(|why| refuse(format!("it is not a readable zip archive: {why}")))?;
    if dir.entries > limits.max_entries {
        return Err(limit_failure(
            format!(
                "{} entries, more than the limit of {}",
                dir.entries, limits.max_entries
            ),
            "--max-entries",
        ));
    }
    let hasher = RandomState::new();
    let mut seen: HashSet<u64> = HashSet::new();
    let mut leaves: HashMap<u64, Type> = HashMap::new(); // files and symlinks
    let mut parents: HashSet<u64> = HashSet::new();
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(dir.entries.min(1 << 20) as usize);
    let mut plan = Plan {
        dir,
        files: 0,
        bytes: 0,
        links: HashSet::new(),
        bounds: Vec::new(),
        examples: Vec::new(),
    };

    for c in zipfmt::entries(source, dir) {
        let c = c.map_err(|why| refuse(format!("its central directory is corrupt: {why}")))?;
        spans.push((
            c.offset,
            c.offset
                .saturating_add(30 + c.name.len() as u64)
                .saturating_add(c.compressed),
        ));
        let Some((path, kind)) = judge(&c)? else {
            continue;
        };
        if plan.examples.len() < 8 {
            plan.examples.push(crate::term::escape(&path));
        }
        if !seen.insert(hasher.hash_one(&path)) {
            return Err(refuse(format!(
                "the name {path:?} occurs twice (duplicate entries, possibly after normalising)"
            )));
        }
        for (i, _) in path.match_indices('/') {
            parents.insert(hasher.hash_one(&path[..i]));
        }
        if kind != Type::Dir {
            leaves.insert(hasher.hash_one(&path), kind);
        }
        if keep(&path) && kind != Type::Dir {
            plan.files += 1;
            plan.bytes = plan.bytes.saturating_add(c.size);
        }
        if kind == Type::Symlink {
            if c.size > MAX_LINK_TARGET {
                return Err(refuse(format!(
                    "the symlink {path:?} has an overlong target"
                )));
            }
            plan.links.insert(path);
        }
    }

    // A path that is a file or symlink and also the parent of another entry.
    if let Some(kind) = parents.iter().find_map(|p| leaves.get(p)) {
        let what = if *kind == Type::Symlink {
            "lies below the symlink entry"
        } else {
            "has a parent that is both a file and a directory"
        };
        let culprit = find_below_leaf(source, dir, &hasher, &leaves).unwrap_or_default();
        return Err(refuse(format!("entry {culprit:?} {what}")));
    }

    spans.sort_unstable();
    for pair in spans.windows(2) {
        if pair[0].1 > pair[1].0 {
            return Err(refuse(
                "two entries share bytes (an overlapping zip bomb, or a corrupt directory)"
                    .to_string(),
            ));
        }
    }
    if spans.last().is_some_and(|s| s.1 > dir.start) {
        return Err(refuse(
            "an entry runs into the central directory".to_string(),
        ));
    }
    plan.bounds = spans.into_iter().map(|(start, _)| start).collect();

    if plan.bytes > limits.max_bytes {
        return Err(limit_failure(
            format!(
                "{} bytes unpacked, more than the limit of {}",
                plan.bytes, limits.max_bytes
            ),
            "--max-bytes",
        ));
    }
    if plan.bytes > RATIO_FLOOR && plan.bytes / source.size().max(1) > limits.max_ratio {
        return Err(limit_failure(
            format!(
                "{} bytes unpacked from {}, a ratio over the limit of {}",
                plan.bytes,
                source.size(),
                limits.max_ratio
            ),
            "--max-ratio",
        ));
    }

    Ok(plan)
}

/// The byte ranges (local header to the next entry) of the non-directory entries `keep`
/// accepts, sorted: what to download for `--path`.
pub fn ranges<S: Source + ?Sized>(
    source: &S,
    plan: &Plan,
    keep: &dyn Fn(&str) -> bool,
) -> Result<Vec<(u64, u64)>, Failure> {
    let mut ranges = Vec::new();
    for c in zipfmt::entries(source, plan.dir) {
        let c = c.map_err(|why| refuse(format!("its central directory is corrupt: {why}")))?;
        if let Some((path, kind)) = judge(&c)?
            && kind != Type::Dir
            && keep(&path)
        {
            ranges.push((c.offset, plan.limit(c.offset)));
        }
    }
    ranges.sort_unstable();
    Ok(ranges)
}

/// Names an entry below a file or symlink entry (a second pass, only to explain a refusal).
fn find_below_leaf<S: Source + ?Sized>(
    source: &S,
    dir: Directory,
    hasher: &RandomState,
    leaves: &HashMap<u64, Type>,
) -> Option<String> {
    zipfmt::entries(source, dir)
        .filter_map(Result::ok)
        .find_map(|c| {
            let path = normalise(&c.name).ok()?;
            let below = path
                .match_indices('/')
                .any(|(i, _)| leaves.contains_key(&hasher.hash_one(&path[..i])));
            below.then_some(path)
        })
}

/// A symlink entry's target, read from its (small) data and checked: it must stay inside
/// the destination and not pass through another symlink entry. Read when the entry is
/// unpacked, so that planning needs nothing but the central directory.
///
/// With `dest`, the target must also not pass through a symlink the destination already
/// holds: `l -> link/../x` is inside DEST as text, but not when the user's `link` points
/// elsewhere.
pub fn link_target<S: Source + ?Sized>(
    source: &S,
    c: &Central,
    path: &str,
    plan: &Plan,
    dest: Option<&std::path::Path>,
) -> Result<String, Failure> {
    let unreadable = |why: String| refuse(format!("the symlink {path:?}: {why}"));
    let start = zipfmt::data_start(source, c).map_err(unreadable)?;
    let mut target = Vec::new();
    zipfmt::open(source, c, start)
        .map_err(unreadable)?
        .read_to_end(&mut target)
        .map_err(|e| unreadable(e.to_string()))?;
    let target = String::from_utf8(target).map_err(|_| {
        refuse(format!(
            "the symlink {path:?} has a target that is not UTF-8"
        ))
    })?;
    let dest_link = |p: &str| {
        dest.is_some_and(|d| {
            std::fs::symlink_metadata(d.join(p)).is_ok_and(|m| m.file_type().is_symlink())
        })
    };
    check_link(path, &target, &|p: &str| {
        plan.links.contains(p) || dest_link(p)
    })
    .map_err(|why| refuse(format!("the symlink {path:?} → {target:?} {why}")))?;
    Ok(target)
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
    if name.len() > MAX_PATH {
        return Err("is longer than a Linux path may be");
    }
    let mut parts = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("climbs out with '..'"),
            // Refused here, as a property of the archive, rather than failing to be created
            // (exit 9) after the whole download.
            p if p.len() > MAX_NAME => return Err("has a name over 255 bytes"),
            // Anywhere in the path: a fetch into that directory would take it for a dead
            // run's staging and delete it.
            p if p.starts_with(RESERVED_PREFIX) => {
                return Err("uses gljob's reserved staging name");
            }
            p => parts.push(p),
        }
    }
    if let Some(first) = parts.first() {
        let b = first.as_bytes();
        if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            return Err("starts with a drive letter");
        }
    }
    Ok(parts.join("/"))
}

/// Resolves `target` from the link's directory, lexically, and refuses it if it leaves the
/// destination or passes through another symlink of the archive (a chain could escape where
/// each link alone does not).
pub fn check_link(
    path: &str,
    target: &str,
    is_link: &dyn Fn(&str) -> bool,
) -> Result<(), &'static str> {
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
        if !resolved.is_empty() && is_link(&resolved.join("/")) {
            return Err("resolves through another symlink (of the archive or the destination)");
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
        let none = |_: &str| false;
        assert!(check_link("dist/current", "app", &none).is_ok());
        assert!(check_link("a/b/l", "../../x", &none).is_ok());
        assert!(check_link("a/l", "../../x", &none).is_err());
        assert!(check_link("l", "/etc/passwd", &none).is_err());
        assert!(check_link("l", "..", &none).is_err());
        // x/y -> .. is fine alone, but z -> x/y/.. goes through it.
        let links = |p: &str| p == "x/y";
        assert!(check_link("z", "x/y/..", &links).is_err());
        assert!(
            check_link("z", "x/y", &links).is_ok(),
            "pointing at a link is not passing through it"
        );
    }

    #[test]
    fn long_and_reserved_names_are_refused_anywhere() {
        assert!(normalise(format!("a/{}", "n".repeat(256)).as_bytes()).is_err());
        assert!(normalise(format!("a/{}", "n".repeat(255)).as_bytes()).is_ok());
        assert!(normalise(b"a/.gljob-staging-99999999-1/x").is_err());
    }
}
