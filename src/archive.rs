//! The archive rules: which zip entries gljob will write, decided before it writes any.
//!
//! [`plan`] streams the central directory once and refuses the whole archive (exit 8) on
//! the first hostile or corrupt entry, and cuts it into [`Segment`]s, the workers' units;
//! extraction then streams each segment's part of it again and checks that it read the very
//! bytes that were planned (a CRC of the directory up to the segment's end), so every rule
//! applies to exactly the entries unpacked. Nothing per path is kept but a hash and an offset, and
//! every path — the directories an entry implies included — counts against the entry limit,
//! so memory stays flat and work linear for any archive, hostile ones too. The
//! rules copy gitlab-runner's fastzip extractor and tighten it (gitlab-api.md §6): names
//! must be relative, normalised UTF-8 paths without `..`, backslashes, drive letters or NUL;
//! no duplicates after normalisation; no entry below a file or symlink entry; symlink
//! targets must resolve inside the destination without passing through another symlink; no
//! two entries may share bytes (the non-recursive zip bomb); only Stored and Deflate, no
//! encryption; totals stay within [`Limits`]. Modes keep their permission bits and lose
//! setuid, setgid and sticky.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, DefaultHasher, Hasher, RandomState};
use std::io::Read;

use crate::error::{Failure, Kind, fail};
use crate::zipfmt::{self, Central, Directory, Mark, Source, Type};

/// Bounds that stop zip bombs, overridable by flags.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total unpacked bytes.
    pub max_bytes: u64,
    /// Number of entries.
    pub max_entries: u64,
    /// Unpacked bytes per archive byte, enforced once the total passes [`RATIO_FLOOR`].
    pub max_ratio: u64,
    /// Components of one path: a name of 2,000 components would create 2,000 directories.
    pub max_depth: u64,
    /// Symlinks may point outside DEST or to absolute paths (`--allow-external-symlinks`);
    /// they are created as links and never followed while extracting.
    pub external_links: bool,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_bytes: 16 << 30,
            max_entries: 500_000,
            max_ratio: 200,
            max_depth: 128,
            external_links: false,
        }
    }
}

/// Small archives may compress as well as they like: a ratio only means a bomb when the
/// result is large.
pub const RATIO_FLOOR: u64 = 100 << 20;

/// Directory names gljob uses for its own staging; no entry may use them.
pub const RESERVED_PREFIX: &str = ".gljob-staging-";

const MAX_LINK_TARGET: u64 = 4096;
/// What [`plan`] records of each path: explicit (an entry), a parent of another entry, a
/// file or symlink (nothing may lie below it), a symlink.
const EXPLICIT: u8 = 1;
const PARENT: u8 = 2;
const LEAF: u8 = 4;
const LINK: u8 = 8;

/// Linux's limits on one name and on a whole path (NAME_MAX, PATH_MAX).
const MAX_NAME: usize = 255;
const MAX_PATH: usize = 4096;

/// What [`plan`] found: enough to extract, nothing per entry but offsets.
pub struct Plan {
    pub dir: Directory,
    /// Where the planned pass over the directory ended (its entries and their bytes' CRC):
    /// a later full pass must end at the same mark ([`check_same`]).
    pub dir_end: Mark,
    /// Selected entries that are files or symlinks, and their declared bytes.
    pub files: u64,
    /// Selected directory entries with a time of their own (to be set after their contents).
    pub dated_dirs: u64,
    pub bytes: u64,
    /// How paths are hashed ([`Plan::links`]).
    pub keys: PathKeys,
    /// Every symlink entry's path key: a link target may not pass through any of them.
    pub links: HashSet<u64>,
    /// [`Limits::external_links`].
    pub external_links: bool,
    /// Every entry's local-header offset, sorted, then the directory's start: the end of
    /// each entry's bytes is the next offset.
    pub bounds: Vec<u64>,
    /// A few entry names, for messages.
    pub examples: Vec<String>,
    /// The directory cut into runs of entries: the unpacking workers' units of work.
    pub segments: Vec<Segment>,
    /// Every selected entry's data lies after the one before it in the directory, so each
    /// segment's bytes are one range, read in order: the archive can be streamed (else it
    /// is downloaded first).
    pub ordered: bool,
}

/// A run of consecutive directory entries that one worker unpacks, and the archive bytes the
/// selected ones need (`start..end`, empty when they need none: directories, or nothing
/// selected). Streaming, a segment is one ranged request. Cut at [`SEGMENT_ENTRIES`]
/// entries or [`SEGMENT_BYTES`] bytes, so both workers stay busy to the end: a large entry
/// is a segment of its own while the other worker goes on with the small ones.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// Where its first entry is in the directory, and where the entry after its last is:
    /// a worker's pass must end at `to` exactly (index and CRC, [`check_same`]).
    pub from: Mark,
    pub to: Mark,
    pub start: u64,
    pub end: u64,
}

impl Segment {
    /// Its entries.
    pub fn count(&self) -> u64 {
        self.to.index - self.from.index
    }
}

/// At most this many entries in a [`Segment`]: about 50 ms of small-file creation, and
/// few enough requests (one per segment) that their cost stays under 1 %.
pub const SEGMENT_ENTRIES: u64 = 1024;
/// A segment grows no longer than this many archive bytes once it has any (an entry may be
/// longer: it is a segment of its own).
pub const SEGMENT_BYTES: u64 = 8 << 20;
/// Unselected bytes up to this long between two selected entries are downloaded and
/// skipped rather than cut into another request: a request costs more than the gap.
pub const SEGMENT_GAP: u64 = 256 * 1024;

/// Builds [`Plan::segments`] as the plan's pass goes by.
struct Cutter {
    /// The segments so far, each with its last selected entry's offset (its `end` is the
    /// entry after that one's, known once every offset is: [`Cutter::finish`]).
    done: Vec<(Segment, Option<u64>)>,
    /// Where the open segment begins, and its entries so far.
    from: Mark,
    count: u64,
    /// The open segment's first selected entry's offset and last one's.
    first: u64,
    last: Option<u64>,
    /// Where the open segment's last selected entry ends, at least (local header, name and
    /// data; the local extra field is not known yet).
    reach: u64,
    /// Where the last selected entry of any segment ends, at least.
    prev: u64,
    ordered: bool,
}

impl Cutter {
    fn new() -> Cutter {
        Cutter {
            done: Vec::new(),
            from: Mark::default(),
            count: 0,
            first: 0,
            last: None,
            reach: 0,
            prev: 0,
            ordered: true,
        }
    }

    /// Entry `c` comes next, at `at`; `needs` says whether its data is to be read.
    fn add(&mut self, at: Mark, c: &Central, needs: bool) {
        if needs && c.offset < self.prev {
            self.ordered = false;
        }
        let reach = c
            .offset
            .saturating_add(30 + c.name.len() as u64)
            .saturating_add(c.compressed);
        // A segment ends before an entry that would take it past SEGMENT_BYTES, so a large
        // entry starts one of its own, and the entry after it starts the next.
        let full = self.count >= SEGMENT_ENTRIES
            || needs
                && self.last.is_some()
                && (c.offset > self.reach.saturating_add(SEGMENT_GAP)
                    || reach.saturating_sub(self.first) > SEGMENT_BYTES
                    || c.offset < self.reach);
        if full {
            self.close(at);
        }
        self.count += 1;
        if needs {
            if self.last.is_none() {
                self.first = c.offset;
            }
            self.last = Some(c.offset);
            self.reach = reach;
            self.prev = reach;
        }
    }

    /// Ends the open segment before the entry at `at`.
    fn close(&mut self, at: Mark) {
        if self.count > 0 {
            let segment = Segment {
                from: self.from,
                to: at,
                start: self.first,
                end: 0,
            };
            self.done.push((segment, self.last));
        }
        (self.from, self.count, self.last) = (at, 0, None);
    }

    /// The segments, each ending where the entry after its last selected one begins.
    fn finish(mut self, at: Mark, plan: &Plan) -> (Vec<Segment>, bool) {
        self.close(at);
        let segments = self
            .done
            .into_iter()
            .map(|(s, last)| match last {
                Some(last) => Segment {
                    end: plan.limit(last),
                    ..s
                },
                None => Segment {
                    start: 0,
                    end: 0,
                    ..s
                },
            })
            .collect();
        (segments, self.ordered)
    }
}

impl Plan {
    /// Whether `path` is a symlink entry of the archive.
    pub fn is_link(&self, path: &str) -> bool {
        self.links.contains(&self.keys.key(path))
    }

    /// The order in which the workers take the segments (indices). Streamed, the costliest
    /// first (bytes, and a file's creation counted as 8 KiB), so the last segments are small
    /// ones and neither worker sits idle while the other inflates a large entry at the end
    /// (mixed: 10 % faster, measured). From the file, archive order, since the file fills
    /// from its start.
    pub fn order(&self, streamed: bool) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.segments.len()).collect();
        if streamed {
            let cost =
                |s: &Segment| (s.end - s.start).saturating_add(s.count().saturating_mul(8 << 10));
            order.sort_by_key(|&i| std::cmp::Reverse(cost(&self.segments[i])));
        }
        order
    }

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

/// The permission bits to give an entry: its own, exactly (000 too), without setuid,
/// setgid and sticky; without a Unix mode 0755 for directories and 0644 for files, or
/// 0444 for a file with the MS-DOS read-only attribute.
pub fn mode(c: &Central) -> u32 {
    match c.mode {
        Some(m) => m & 0o777,
        None if c.kind() == Type::Dir => 0o755,
        None if c.dos_read_only => 0o444,
        None => 0o644,
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
    let keys = PathKeys::new();
    // Every path the archive creates, explicit or implied by a deeper name, with what it is.
    let mut paths: HashMap<u64, u8> = HashMap::new();
    let mut spans: Vec<(u64, u64)> = Vec::with_capacity(dir.entries.min(1 << 20) as usize);
    let mut plan = Plan {
        dir,
        dir_end: Mark::default(),
        files: 0,
        dated_dirs: 0,
        bytes: 0,
        keys,
        links: HashSet::new(),
        external_links: limits.external_links,
        bounds: Vec::new(),
        examples: Vec::new(),
        segments: Vec::new(),
        ordered: true,
    };

    let mut cutter = Cutter::new();
    let mut listing = zipfmt::entries(source, dir);
    loop {
        let at = listing.mark();
        let Some(c) = listing.next() else { break };
        let c = c.map_err(|why| refuse(format!("its central directory is corrupt: {why}")))?;
        let judged = judge(&c)?;
        // Asked once per entry: a `--path` glob set is matched here, not three times.
        let kept = judged.as_ref().is_some_and(|(path, _)| keep(path));
        cutter.add(
            at,
            &c,
            kept && judged.as_ref().is_some_and(|(_, kind)| *kind != Type::Dir),
        );
        spans.push((
            c.offset,
            c.offset
                .saturating_add(30 + c.name.len() as u64)
                .saturating_add(c.compressed),
        ));
        let Some((path, kind)) = judged else {
            continue;
        };
        if plan.examples.len() < 8 {
            plan.examples.push(crate::term::escape(&path));
        }
        let depth = path.split('/').count() as u64;
        if depth > limits.max_depth {
            return Err(limit_failure(
                format!(
                    "entry {:?}… is {depth} directories deep, more than the limit of {}",
                    crate::term::escape(&path.chars().take(60).collect::<String>()),
                    limits.max_depth
                ),
                "--max-depth",
            ));
        }
        // One pass over the name: each prefix's key comes from the one before (linear).
        let mut stack = plan.keys.stack();
        let mut parts = path.split('/').peekable();
        while let Some(part) = parts.next() {
            stack.push(part);
            let key = stack.key();
            let last = parts.peek().is_none();
            let flags = match paths.entry(key) {
                std::collections::hash_map::Entry::Occupied(o) => o.into_mut(),
                std::collections::hash_map::Entry::Vacant(v) => v.insert(0),
            };
            if !last {
                if *flags & LEAF != 0 {
                    let what = if *flags & LINK != 0 {
                        "lies below the symlink entry"
                    } else {
                        "has a parent that is both a file and a directory"
                    };
                    return Err(refuse(format!("entry {path:?} {what}")));
                }
                *flags |= PARENT;
                continue;
            }
            if *flags & EXPLICIT != 0 {
                return Err(refuse(format!(
                    "the name {path:?} occurs twice (duplicate entries, possibly after normalising)"
                )));
            }
            if kind != Type::Dir && *flags & PARENT != 0 {
                return Err(refuse(format!(
                    "entry {path:?} has a parent that is both a file and a directory"
                )));
            }
            *flags |= EXPLICIT;
            match kind {
                Type::Dir => {}
                Type::File => *flags |= LEAF,
                Type::Symlink => *flags |= LEAF | LINK,
            }
        }
        if paths.len() as u64 > limits.max_entries {
            return Err(limit_failure(
                format!(
                    "more than {} entries, counting the directories their names imply",
                    limits.max_entries
                ),
                "--max-entries",
            ));
        }
        if kept && kind == Type::Dir && c.mtime.is_some() {
            plan.dated_dirs += 1;
        }
        if kept && kind != Type::Dir {
            plan.files += 1;
            plan.bytes = plan.bytes.saturating_add(c.size);
        }
        if kind == Type::Symlink {
            if c.size > MAX_LINK_TARGET {
                return Err(refuse(format!(
                    "the symlink {path:?} has an overlong target"
                )));
            }
            plan.links.insert(stack.key());
        }
    }
    plan.dir_end = listing.mark();
    drop(paths);

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
    (plan.segments, plan.ordered) = cutter.finish(listing.mark(), &plan);

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

/// After a pass over the directory (the whole of it, or a segment's entries: `listing`
/// exhausted): refuses the archive unless that pass ended where the plan's did (`expected`:
/// [`Plan::dir_end`] or [`Segment::to`]), having read the very bytes the plan checked, so
/// every rule applied to exactly the entries that were read.
pub fn check_same<S: Source + ?Sized>(
    listing: &zipfmt::Entries<'_, S>,
    expected: Mark,
) -> Result<(), Failure> {
    if listing.mark() == expected {
        return Ok(());
    }
    Err(refuse(
        "its central directory changed after it was checked".to_string(),
    ))
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

/// A symlink entry's target, read from its (small) data and checked lexically: it must stay
/// inside the destination and not pass through another symlink entry. Read when the entry
/// is unpacked, so that planning needs nothing but the central directory. (Unpacking then
/// checks every link again against what is really on disk: `extract::check_links`.)
pub fn link_target<S: Source + ?Sized>(
    source: &S,
    c: &Central,
    path: &str,
    plan: &Plan,
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
    check_link(
        &plan.keys,
        path,
        &target,
        &|key| plan.links.contains(&key),
        plan.external_links,
    )
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
/// each link alone does not). Each step's key comes from the one before, so a target of
/// 2,000 components costs 2,000 steps, not 2,000 joins of the whole path.
pub fn check_link(
    keys: &PathKeys,
    path: &str,
    target: &str,
    is_link: &dyn Fn(u64) -> bool,
    external: bool,
) -> Result<(), &'static str> {
    check_target_text(target, external)?;
    if target.starts_with('/') {
        return Ok(()); // allowed (external): it names nothing of the archive's
    }
    let mut resolved = keys.stack();
    let mut dirs: Vec<&str> = path.split('/').collect();
    dirs.pop(); // the link's own name
    for part in dirs {
        resolved.push(part);
    }
    for part in target.split('/') {
        if resolved.depth() > 0 && is_link(resolved.key()) {
            return Err("resolves through another symlink (of the archive or the destination)");
        }
        match part {
            "" | "." => {}
            ".." => {
                if !resolved.pop() {
                    return if external {
                        Ok(()) // it has left DEST: nothing further is the archive's
                    } else {
                        Err(OUTSIDE)
                    };
                }
            }
            p => resolved.push(p),
        }
    }
    Ok(())
}

/// Why a link is refused unless `--allow-external-symlinks`: the refusal says so.
pub const OUTSIDE: &str =
    "points outside the destination (--allow-external-symlinks creates such links as links)";
const ABSOLUTE: &str =
    "points to an absolute path (--allow-external-symlinks creates such links as links)";

/// What a link target may not be, whatever it resolves to; an absolute one only with
/// `external` (`--allow-external-symlinks`).
pub fn check_target_text(target: &str, external: bool) -> Result<(), &'static str> {
    if target.is_empty() || target.len() as u64 > MAX_LINK_TARGET {
        return Err("has an empty or overlong target");
    }
    if target.contains(['\0', '\\']) {
        return Err("has a NUL or backslash in its target");
    }
    if target.starts_with('/') && !external {
        return Err(ABSOLUTE);
    }
    Ok(())
}

/// Keys for archive paths: a keyed hash (random per run, so an archive cannot aim for
/// collisions) of the path's components, computed incrementally so that the keys of all the
/// prefixes of a name cost one pass over it.
pub struct PathKeys(RandomState);

impl PathKeys {
    pub fn new() -> PathKeys {
        PathKeys(RandomState::new())
    }

    /// A path's key: the same as pushing its components one by one onto a [`KeyStack`].
    pub fn key(&self, path: &str) -> u64 {
        let mut stack = self.stack();
        for part in path.split('/') {
            stack.push(part);
        }
        stack.key()
    }

    pub fn stack(&self) -> KeyStack {
        KeyStack(vec![self.0.build_hasher()])
    }
}

impl Default for PathKeys {
    fn default() -> PathKeys {
        PathKeys::new()
    }
}

/// The hash states of a path and all its prefixes, for walking a path up and down.
pub struct KeyStack(Vec<DefaultHasher>);

impl KeyStack {
    pub fn push(&mut self, part: &str) {
        let mut next = self.0.last().cloned().unwrap_or_default();
        next.write(part.as_bytes());
        next.write_u8(b'/');
        self.0.push(next);
    }

    /// Steps up one level; false at the top.
    pub fn pop(&mut self) -> bool {
        if self.0.len() > 1 {
            self.0.pop();
            true
        } else {
            false
        }
    }

    /// How many components deep the path is.
    pub fn depth(&self) -> usize {
        self.0.len() - 1
    }

    pub fn key(&self) -> u64 {
        self.0.last().map_or(0, Hasher::finish)
    }
}

fn refuse(why: String) -> Failure {
    fail(Kind::Archive, format!("refused the archive: {why}"))
        .hint("nothing was written; the artifact may be corrupt or crafted — check the job that produced it")
}

pub fn limit_failure(what: String, flag: &str) -> Failure {
    fail(Kind::Archive, format!("refused the archive: {what}"))
        .detail("this looks like a zip bomb, or an artifact larger than gljob allows by default")
        .hint(format!(
            "if the artifact is genuine, raise the limit with {flag}"
        ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `entries` (name, size of stored incompressible data) as a zip file's plan.
    fn plan_of(entries: &[(String, usize)], keep: &dyn Fn(&str) -> bool) -> Plan {
        let mut file = tempfile::tempfile().unwrap();
        let mut w = zip::ZipWriter::new(&mut file);
        let stored = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Stored);
        for (i, (name, size)) in entries.iter().enumerate() {
            w.start_file(name.as_str(), stored).unwrap();
            let data: Vec<u8> = (0..*size).map(|j| (j * 31 + i) as u8).collect();
            std::io::Write::write_all(&mut w, &data).unwrap();
        }
        w.finish().unwrap();
        plan(&file, &Limits::default(), keep).unwrap()
    }

    #[test]
    fn segments_cover_every_entry_once_and_cut_at_their_limits() {
        let mut entries: Vec<(String, usize)> =
            (0..2500).map(|i| (format!("small/{i:04}"), 100)).collect();
        entries.push(("big.bin".to_string(), 9 << 20));
        entries.extend((0..10).map(|i| (format!("tail/{i}"), 100)));
        let plan = plan_of(&entries, &|_| true);
        assert!(plan.ordered);
        let mut next = 0;
        for s in &plan.segments {
            assert_eq!(s.from.index, next, "segments follow each other");
            assert!(s.count() <= SEGMENT_ENTRIES);
            assert!(s.start < s.end);
            next += s.count();
        }
        assert_eq!(next, plan.dir.entries, "every entry in one segment");
        // 1,024 + 1,024 + 452 small ones, the big one alone, then the tail.
        let counts: Vec<u64> = plan.segments.iter().map(|s| s.count()).collect();
        assert_eq!(counts, [1024, 1024, 452, 1, 10]);
        let big = &plan.segments[3];
        assert!(big.end - big.start > 9 << 20);
        // Byte ranges do not overlap, and end at the directory.
        for pair in plan.segments.windows(2) {
            assert!(pair[0].end <= pair[1].start);
        }
        assert_eq!(plan.segments[4].end, plan.dir.start);
        // Streamed, the big one first and the short tail last; from the file, in order.
        assert_eq!(plan.order(true)[0], 3);
        assert_eq!(plan.order(true)[4], 4);
        assert_eq!(plan.order(false), [0, 1, 2, 3, 4]);
    }

    #[test]
    fn segments_skip_small_gaps_and_cut_at_large_ones() {
        let entries: Vec<(String, usize)> = vec![
            ("a/1".into(), 1000),
            ("skip/1".into(), 1000),
            ("a/2".into(), 1000),
            ("skip/big".into(), 1 << 20),
            ("a/3".into(), 1000),
        ];
        let plan = plan_of(&entries, &|p| p.starts_with("a/"));
        let ranges: Vec<(u64, u64)> = plan.segments.iter().map(|s| (s.start, s.end)).collect();
        // a/1 and a/2 in one request over the small gap; a/3 after the large one alone.
        assert_eq!(plan.segments.len(), 2, "{ranges:?}");
        assert_eq!(
            plan.segments[0].count(),
            4,
            "skip/big ends the first segment"
        );
        assert!(ranges[0].1 - ranges[0].0 < 4000, "{ranges:?}");
        assert!(ranges[1].1 - ranges[1].0 < 2000, "{ranges:?}");
    }

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
        let keys = PathKeys::new();
        let none = |_: u64| false;
        assert!(check_link(&keys, "dist/current", "app", &none, false).is_ok());
        assert!(check_link(&keys, "a/b/l", "../../x", &none, false).is_ok());
        assert!(check_link(&keys, "a/l", "../../x", &none, false).is_err());
        assert!(check_link(&keys, "l", "/etc/passwd", &none, false).is_err());
        assert!(check_link(&keys, "l", "..", &none, false).is_err());
        // x/y -> .. is fine alone, but z -> x/y/.. goes through it.
        let xy = keys.key("x/y");
        let links = |k: u64| k == xy;
        assert!(check_link(&keys, "z", "x/y/..", &links, false).is_err());
        assert!(
            check_link(&keys, "z", "x/y", &links, false).is_ok(),
            "pointing at a link is not passing through it"
        );
        assert!(check_link(&keys, "z", "x/./y/../y/..", &links, false).is_err());
        // --allow-external-symlinks: outside and absolute targets, but never through a link.
        assert!(
            check_link(
                &keys,
                "venv/bin/python3",
                "/usr/bin/python3.11",
                &none,
                true
            )
            .is_ok()
        );
        assert!(check_link(&keys, "a/l", "../../x", &none, true).is_ok());
        assert!(check_link(&keys, "z", "x/y/..", &links, true).is_err());
        assert!(check_link(&keys, "l", "a\\b", &none, true).is_err());
    }

    #[test]
    fn path_keys_of_prefixes_match_whole_paths() {
        let keys = PathKeys::new();
        let mut stack = keys.stack();
        stack.push("a");
        stack.push("b");
        assert_eq!(stack.key(), keys.key("a/b"));
        assert!(stack.pop());
        assert_eq!(stack.key(), keys.key("a"));
        assert_ne!(keys.key("a/b"), keys.key("ab"));
        assert_ne!(keys.key("a/b"), keys.key("a/b/"));
    }

    #[test]
    fn long_and_reserved_names_are_refused_anywhere() {
        assert!(normalise(format!("a/{}", "n".repeat(256)).as_bytes()).is_err());
        assert!(normalise(format!("a/{}", "n".repeat(255)).as_bytes()).is_ok());
        assert!(normalise(b"a/.gljob-staging-99999999-1/x").is_err());
    }
}
