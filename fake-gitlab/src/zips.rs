//! Artifact archives for tests: realistic ones, large ones, and hostile ones.
//!
//! Realistic archives are written by the `zip` crate ([`build`], [`build_streaming`],
//! [`sample`]) with Unix modes in the external attributes, like gitlab-runner's. Large ones
//! ([`write_large`]) are streamed to disk so a 1 GiB fixture never sits in memory. Hostile
//! ones — path traversal, lying sizes or CRCs, names that differ between local and central
//! headers, unsupported methods, overlapping entries — are refused by the `zip` writer, so
//! [`raw_zip`] and [`bomb_overlapping`] write the bytes by hand.
//!
//! All entries carry the same fixed timestamp, so archives are byte-for-byte reproducible.

use std::fs::File;
use std::io::{self, BufWriter, Cursor, Read, Seek, Write};
use std::path::Path;

use flate2::Crc;
use flate2::write::DeflateEncoder;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

const S_IFREG: u32 = 0o100_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;
const S_IFMT: u32 = 0o170_000;

/// One entry of an archive built with the `zip` crate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Path inside the archive, `/`-separated (a directory's trailing `/` is added if missing).
    pub name: String,
    pub kind: EntryKind,
    /// Permission bits, setuid/setgid/sticky included (`0o4755` is kept as is).
    pub mode: u32,
    /// Store instead of Deflate (directories and symlinks are always stored).
    pub stored: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    File(Vec<u8>),
    Dir,
    /// A symlink to this target (stored as the entry's content).
    Symlink(String),
}

impl Entry {
    /// A deflated file.
    pub fn file(name: &str, data: &[u8], mode: u32) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::File(data.to_vec()),
            mode,
            stored: false,
        }
    }

    /// A directory, mode 0755.
    pub fn dir(name: &str) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::Dir,
            mode: 0o755,
            stored: true,
        }
    }

    /// A symlink, mode 0777.
    pub fn symlink(name: &str, target: &str) -> Entry {
        Entry {
            name: name.to_string(),
            kind: EntryKind::Symlink(target.to_string()),
            mode: 0o777,
            stored: true,
        }
    }

    /// The same entry, stored instead of deflated.
    pub fn stored(mut self) -> Entry {
        self.stored = true;
        self
    }
}

/// The timestamp of every entry: 2025-01-02 03:04:06.
fn fixed_time() -> DateTime {
    DateTime::from_date_and_time(2025, 1, 2, 3, 4, 6).unwrap_or_default()
}

fn add_entry<W: Write + Seek>(w: &mut ZipWriter<W>, e: &Entry) -> zip::result::ZipResult<()> {
    let type_bits = match e.kind {
        EntryKind::File(_) => S_IFREG,
        EntryKind::Dir => S_IFDIR,
        EntryKind::Symlink(_) => S_IFLNK,
    };
    let opts = SimpleFileOptions::default()
        .compression_method(if e.stored {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        })
        .system(zip::System::Unix)
        .last_modified_time(fixed_time())
        .external_attributes((type_bits | (e.mode & 0o7777)) << 16);
    match &e.kind {
        EntryKind::File(data) => {
            w.start_file(e.name.as_str(), opts)?;
            w.write_all(data)?;
        }
        EntryKind::Dir => w.add_directory(e.name.as_str(), opts)?,
        EntryKind::Symlink(target) => w.add_symlink(e.name.as_str(), target.as_str(), opts)?,
    }
    Ok(())
}

/// A zip archive of these entries, in this order, written by the `zip` crate (sizes and CRCs
/// in the local headers, no data descriptors).
///
/// # Panics
/// If the `zip` writer refuses an entry (e.g. a duplicate name): use [`raw_zip`] for those.
pub fn build(entries: &[Entry]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    for e in entries {
        add_entry(&mut w, e).expect("zips::build: the zip writer refused an entry");
    }
    w.finish()
        .expect("zips::build: finishing the archive")
        .into_inner()
}

/// Like [`build`], but written as a stream (no seeking back): each entry's CRC and sizes
/// follow its data in a data descriptor, as gitlab-runner's archiver writes them.
///
/// # Panics
/// As [`build`].
pub fn build_streaming(entries: &[Entry]) -> Vec<u8> {
    let mut w = ZipWriter::new_stream(Vec::new());
    for e in entries {
        add_entry(&mut w, e).expect("zips::build_streaming: the zip writer refused an entry");
    }
    w.finish()
        .expect("zips::build_streaming: finishing the archive")
        .into_inner()
}

/// The entries of [`sample`], in archive order (sorted, like gitlab-runner writes them).
///
/// | name | kind | mode | method |
/// |---|---|---|---|
/// | `dist/app` | file, a shell script | 0755 | deflate |
/// | `dist/current` | symlink → `app` | 0777 | store |
/// | `dist/lib/util.js` | file | 0644 | deflate |
/// | `dist/logo.png` | file (PNG signature + bytes) | 0644 | **store** |
/// | `logs/` | empty directory | 0755 | store |
/// | `reports/junit.xml` | file | 0644 | deflate |
pub fn sample_entries() -> Vec<Entry> {
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend((0u8..=255).cycle().take(248));
    vec![
        Entry::file(
            "dist/app",
            b"#!/bin/sh\necho 'hello from the build job'\n",
            0o755,
        ),
        Entry::symlink("dist/current", "app"),
        Entry::file(
            "dist/lib/util.js",
            b"export function add(a, b) {\n  return a + b;\n}\n\nexport const VERSION = \"1.2.3\";\n",
            0o644,
        ),
        Entry::file("dist/logo.png", &png, 0o644).stored(),
        Entry::dir("logs/"),
        Entry::file(
            "reports/junit.xml",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites>\n  <testsuite name=\"unit\" tests=\"2\" failures=\"0\">\n    <testcase classname=\"util\" name=\"adds\"/>\n    <testcase classname=\"util\" name=\"exports a version\"/>\n  </testsuite>\n</testsuites>\n",
            0o644,
        ),
    ]
}

/// A realistic multi-file artifact archive: [`sample_entries`] written as a stream with data
/// descriptors, as gitlab-runner does. Every "right" archive of the demo world is this one.
pub fn sample() -> Vec<u8> {
    build_streaming(&sample_entries())
}

/// Name of the big entry of [`write_large`].
pub const LARGE_ENTRY: &str = "big.bin";
/// Name of the small entry that follows it.
pub const LARGE_TAIL_ENTRY: &str = "after-big.txt";
/// Content of [`LARGE_TAIL_ENTRY`].
pub const LARGE_TAIL: &[u8] = b"the entry after the big one\n";

/// Deterministic, practically incompressible bytes: the content of [`LARGE_ENTRY`].
///
/// Byte `p` of the stream depends only on `p`: each 64 KiB block is a window of a 1 MiB
/// xorshift-random pool at an offset hashed from the block number. That makes it fast even in
/// a debug build (two `memcpy`s per block), lets a test check any range without reading from
/// the start ([`PseudoRandom::range`]), and no two blocks are alike, so a resume at the wrong
/// offset cannot go unnoticed. Deflate finds next to nothing to compress.
#[derive(Debug, Clone)]
pub struct PseudoRandom {
    pos: u64,
    end: u64,
}

const POOL_LEN: usize = (1 << 20) + 7;
const BLOCK: u64 = 64 * 1024;

fn pool() -> &'static [u8] {
    static POOL: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut pool = Vec::with_capacity(POOL_LEN + 8);
        while pool.len() < POOL_LEN {
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            pool.extend_from_slice(&state.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
        }
        pool.truncate(POOL_LEN);
        pool
    })
}

/// splitmix64: where in the pool block `n` starts.
fn block_offset(n: u64) -> usize {
    let mut z = n.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) % POOL_LEN as u64) as usize
}

impl PseudoRandom {
    /// The first `len` bytes of the stream.
    pub fn new(len: u64) -> PseudoRandom {
        PseudoRandom::range(0, len)
    }

    /// Bytes `start .. start + len` of the stream (what a `Range` request should return).
    pub fn range(start: u64, len: u64) -> PseudoRandom {
        PseudoRandom {
            pos: start,
            end: start.saturating_add(len),
        }
    }
}

impl Read for PseudoRandom {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let pool = pool();
        let n = out
            .len()
            .min(usize::try_from(self.end - self.pos).unwrap_or(usize::MAX));
        let mut done = 0;
        while done < n {
            let in_block = self.pos % BLOCK;
            let take = ((BLOCK - in_block) as usize).min(n - done);
            let mut at = (block_offset(self.pos / BLOCK) + in_block as usize) % POOL_LEN;
            let mut left = take;
            while left > 0 {
                let k = left.min(POOL_LEN - at);
                out[done..done + k].copy_from_slice(&pool[at..at + k]);
                done += k;
                left -= k;
                at = 0;
            }
            self.pos += take as u64;
        }
        Ok(n)
    }
}

/// Writes a Zip64 archive to `path`: [`LARGE_ENTRY`] with `file_size` bytes of
/// [`PseudoRandom`] data (stored, as runners store what does not compress), then
/// [`LARGE_TAIL_ENTRY`]. Streams to disk in 1 MiB chunks; memory use does not grow with size.
/// Under 2 s per GiB in a debug build.
pub fn write_large(path: &Path, file_size: u64) -> io::Result<()> {
    let mut w = ZipWriter::new(BufWriter::with_capacity(1 << 20, File::create(path)?));
    let opts = SimpleFileOptions::default()
        .system(zip::System::Unix)
        .last_modified_time(fixed_time());
    w.start_file(
        LARGE_ENTRY,
        opts.compression_method(CompressionMethod::Stored)
            .large_file(true)
            .external_attributes((S_IFREG | 0o644) << 16),
    )
    .map_err(io::Error::other)?;
    // Big writes: the zip writer's per-call overhead is noticeable in debug builds.
    let mut data = PseudoRandom::new(file_size);
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = data.read(&mut buf)?;
        if n == 0 {
            break;
        }
        w.write_all(&buf[..n])?;
    }
    w.start_file(
        LARGE_TAIL_ENTRY,
        opts.compression_method(CompressionMethod::Deflated)
            .external_attributes((S_IFREG | 0o644) << 16),
    )
    .map_err(io::Error::other)?;
    w.write_all(LARGE_TAIL)?;
    w.finish().map_err(io::Error::other)?.flush()
}

/// One entry of a hand-written archive: every field lands in the headers as given, so it can
/// describe things the `zip` writer refuses to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawEntry {
    /// Name in the local header (any bytes: `../x`, `/etc/x`, `a\\b`, `C:x`, NUL, non-UTF-8).
    pub name: Vec<u8>,
    /// Name in the central directory, when it should differ from the local one.
    pub central_name: Option<Vec<u8>>,
    /// The uncompressed content.
    pub data: Vec<u8>,
    /// 0 = stored, 8 = deflated (compressed here); any other value is written as given with
    /// `data` copied unchanged (an unsupported method).
    pub method: u16,
    /// CRC-32 to declare instead of the real one.
    pub crc_override: Option<u32>,
    /// Uncompressed size to declare instead of the real one.
    pub size_override: Option<u64>,
    /// Unix mode. Without file-type bits, the type comes from `is_symlink` / a trailing `/`.
    pub mode: u32,
    pub is_symlink: bool,
    /// General-purpose flags. Bit 3 (0x0008) moves CRC and sizes to a data descriptor after
    /// the data; bit 11 (0x0800) marks a UTF-8 name.
    pub flags: u16,
}

impl RawEntry {
    /// A deflated regular file, mode 0644.
    pub fn file(name: &str, data: &[u8]) -> RawEntry {
        RawEntry {
            name: name.as_bytes().to_vec(),
            central_name: None,
            data: data.to_vec(),
            method: 8,
            crc_override: None,
            size_override: None,
            mode: 0o644,
            is_symlink: false,
            flags: utf8_flag(name),
        }
    }

    /// A stored symlink, mode 0777, whose content is `target`.
    pub fn symlink(name: &str, target: &str) -> RawEntry {
        RawEntry {
            method: 0,
            mode: 0o777,
            is_symlink: true,
            ..RawEntry::file(name, target.as_bytes())
        }
    }

    /// A directory (a `/` is appended when missing), mode 0755.
    pub fn dir(name: &str) -> RawEntry {
        let name = if name.ends_with('/') {
            name.to_string()
        } else {
            format!("{name}/")
        };
        RawEntry {
            method: 0,
            mode: 0o755,
            ..RawEntry::file(&name, b"")
        }
    }

    fn external_attributes(&self) -> u32 {
        let mode = if self.mode & S_IFMT != 0 {
            self.mode
        } else if self.is_symlink {
            S_IFLNK | self.mode
        } else if self.name.ends_with(b"/") {
            S_IFDIR | self.mode
        } else {
            S_IFREG | self.mode
        };
        mode << 16
    }
}

fn utf8_flag(name: &str) -> u16 {
    if name.is_ascii() { 0 } else { 0x0800 }
}

fn crc32(data: &[u8]) -> u32 {
    let mut c = Crc::new();
    c.update(data);
    c.sum()
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(data);
    enc.finish().unwrap_or_default()
}

/// What a central-directory record needs to know about an entry already written.
struct Written {
    name: Vec<u8>,
    method: u16,
    flags: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    offset: u64,
    external: u32,
}

const DOS_TIME: u16 = (3 << 11) | (4 << 5) | (6 / 2);
const DOS_DATE: u16 = ((2025 - 1980) << 9) | (1 << 5) | 2;
const MAX32: u64 = 0xFFFF_FFFF;

fn put16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(&v.to_le_bytes());
}

/// Writes a local header, the data and (flag bit 3) a data descriptor.
#[allow(clippy::too_many_arguments)] // one header's fields, written in order
fn write_local(
    out: &mut Vec<u8>,
    name: &[u8],
    flags: u16,
    method: u16,
    crc: u32,
    csize: u64,
    usize: u64,
    data: &[u8],
) {
    let zip64 = csize >= MAX32 || usize >= MAX32;
    let descriptor = flags & 0x0008 != 0;
    put32(out, 0x0403_4b50);
    put16(out, if zip64 { 45 } else { 20 });
    put16(out, flags);
    put16(out, method);
    put16(out, DOS_TIME);
    put16(out, DOS_DATE);
    if descriptor {
        put32(out, 0);
        put32(out, if zip64 { u32::MAX } else { 0 });
        put32(out, if zip64 { u32::MAX } else { 0 });
    } else {
        put32(out, crc);
        put32(out, if zip64 { u32::MAX } else { csize as u32 });
        put32(out, if zip64 { u32::MAX } else { usize as u32 });
    }
    put16(out, name.len() as u16);
    put16(out, if zip64 { 20 } else { 0 });
    out.extend_from_slice(name);
    if zip64 {
        put16(out, 0x0001);
        put16(out, 16);
        put64(out, if descriptor { 0 } else { usize });
        put64(out, if descriptor { 0 } else { csize });
    }
    out.extend_from_slice(data);
    if descriptor {
        put32(out, 0x0807_4b50);
        put32(out, crc);
        if zip64 {
            put64(out, csize);
            put64(out, usize);
        } else {
            put32(out, csize as u32);
            put32(out, usize as u32);
        }
    }
}

/// Writes the central directory and the end records (Zip64 ones when needed).
fn write_central(out: &mut Vec<u8>, entries: &[Written]) {
    let cd_start = out.len() as u64;
    for e in entries {
        let zip64 = e.csize >= MAX32 || e.usize >= MAX32 || e.offset >= MAX32;
        put32(out, 0x0201_4b50);
        put16(out, (3 << 8) | if zip64 { 45 } else { 20 }); // made by: Unix
        put16(out, if zip64 { 45 } else { 20 });
        put16(out, e.flags);
        put16(out, e.method);
        put16(out, DOS_TIME);
        put16(out, DOS_DATE);
        put32(out, e.crc);
        put32(out, if zip64 { u32::MAX } else { e.csize as u32 });
        put32(out, if zip64 { u32::MAX } else { e.usize as u32 });
        put16(out, e.name.len() as u16);
        put16(out, if zip64 { 28 } else { 0 });
        put16(out, 0); // comment
        put16(out, 0); // disk
        put16(out, 0); // internal attributes
        put32(out, e.external);
        put32(out, if zip64 { u32::MAX } else { e.offset as u32 });
        out.extend_from_slice(&e.name);
        if zip64 {
            put16(out, 0x0001);
            put16(out, 24);
            put64(out, e.usize);
            put64(out, e.csize);
            put64(out, e.offset);
        }
    }
    let cd_end = out.len() as u64;
    let count = entries.len() as u64;
    let cd_size = cd_end - cd_start;
    if count >= 0xFFFF || cd_start >= MAX32 || cd_size >= MAX32 {
        put32(out, 0x0606_4b50);
        put64(out, 44);
        put16(out, (3 << 8) | 45);
        put16(out, 45);
        put32(out, 0);
        put32(out, 0);
        put64(out, count);
        put64(out, count);
        put64(out, cd_size);
        put64(out, cd_start);
        put32(out, 0x0706_4b50);
        put32(out, 0);
        put64(out, cd_end);
        put32(out, 1);
    }
    put32(out, 0x0605_4b50);
    put16(out, 0);
    put16(out, 0);
    put16(out, count.min(0xFFFF) as u16);
    put16(out, count.min(0xFFFF) as u16);
    put32(out, cd_size.min(MAX32) as u32);
    put32(out, cd_start.min(MAX32) as u32);
    put16(out, 0); // comment
}

/// A zip archive written byte by byte from these entries: correct local headers (with a data
/// descriptor when flag bit 3 is set), central directory and end of central directory, Zip64
/// records where a value needs them. Only what the entries override is wrong.
pub fn raw_zip(entries: &[RawEntry]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut written = Vec::with_capacity(entries.len());
    for e in entries {
        let data = if e.method == 8 {
            deflate(&e.data)
        } else {
            e.data.clone()
        };
        let crc = e.crc_override.unwrap_or_else(|| crc32(&e.data));
        let usize = e.size_override.unwrap_or(e.data.len() as u64);
        let offset = out.len() as u64;
        let csize = data.len() as u64;
        write_local(
            &mut out, &e.name, e.flags, e.method, crc, csize, usize, &data,
        );
        written.push(Written {
            name: e.central_name.clone().unwrap_or_else(|| e.name.clone()),
            method: e.method,
            flags: e.flags,
            crc,
            csize,
            usize,
            offset,
            external: e.external_attributes(),
        });
    }
    write_central(&mut out, &written);
    out
}

/// A non-recursive zip bomb: one deflated local entry holding `size` zero bytes, and `n`
/// central-directory entries (`bomb-000000.bin`, …) that all point at it. Unpacked naively it
/// is `n × size` bytes. Deflating takes about a second per GiB of `size` (debug build).
pub fn bomb_overlapping(n: usize, size: u64) -> Vec<u8> {
    let mut enc = DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
    let zeros = vec![0u8; 64 * 1024];
    let mut crc = Crc::new();
    let mut left = size;
    while left > 0 {
        let k = left.min(zeros.len() as u64) as usize;
        // Writing to a Vec cannot fail.
        let _ = enc.write_all(&zeros[..k]);
        crc.update(&zeros[..k]);
        left -= k as u64;
    }
    let data = enc.finish().unwrap_or_default();
    let crc = crc.sum();
    let name = |i: usize| format!("bomb-{i:06}.bin").into_bytes();
    let mut out = Vec::new();
    write_local(
        &mut out,
        &name(0),
        0,
        8,
        crc,
        data.len() as u64,
        size,
        &data,
    );
    let written: Vec<Written> = (0..n)
        .map(|i| Written {
            name: name(i),
            method: 8,
            flags: 0,
            crc,
            csize: data.len() as u64,
            usize: size,
            offset: 0,
            external: (S_IFREG | 0o644) << 16,
        })
        .collect();
    write_central(&mut out, &written);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (name, is_dir, is_symlink, unix mode, content) of an entry, via the zip reader.
    type EntryRead = (String, bool, bool, Option<u32>, Vec<u8>);

    fn read_all(bytes: &[u8]) -> Vec<EntryRead> {
        let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("readable archive");
        (0..z.len())
            .map(|i| {
                let mut f = z.by_index(i).expect("entry");
                let mut data = Vec::new();
                f.read_to_end(&mut data).expect("entry content");
                (
                    f.name().expect("utf-8 name").into_owned(),
                    f.is_dir(),
                    f.is_symlink(),
                    f.unix_mode(),
                    data,
                )
            })
            .collect()
    }

    #[test]
    fn build_and_build_streaming_are_readable() {
        let entries = sample_entries();
        for bytes in [build(&entries), build_streaming(&entries), sample()] {
            let got = read_all(&bytes);
            assert_eq!(got.len(), entries.len());
            for (e, (name, is_dir, is_symlink, mode, data)) in entries.iter().zip(got) {
                assert_eq!(name, e.name);
                let mode = mode.expect("unix mode");
                assert_eq!(mode & 0o7777, e.mode, "{name}");
                match &e.kind {
                    EntryKind::File(d) => {
                        assert_eq!(&data, d);
                        assert_eq!(mode & S_IFMT, S_IFREG);
                    }
                    EntryKind::Dir => assert!(is_dir),
                    EntryKind::Symlink(t) => {
                        assert!(is_symlink);
                        assert_eq!(data, t.as_bytes());
                    }
                }
            }
        }
        let mut z = zip::ZipArchive::new(Cursor::new(sample())).expect("archive");
        let png = z.by_name("dist/logo.png").expect("entry");
        assert_eq!(png.compression(), CompressionMethod::Stored);
    }

    #[test]
    fn build_keeps_setuid_bits() {
        // The zip reader clears setuid/setgid/sticky in `unix_mode()`, so read the central
        // directory's external attributes directly.
        let bytes = build(&[Entry::file("suid", b"x", 0o4755)]);
        let cd = bytes
            .windows(4)
            .position(|w| w == b"PK\x01\x02")
            .expect("central header");
        let attrs = u32::from_le_bytes(bytes[cd + 38..cd + 42].try_into().expect("4 bytes"));
        assert_eq!(attrs >> 16, S_IFREG | 0o4755);
    }

    #[test]
    fn raw_zip_is_readable() {
        let mut descriptor = RawEntry::file("with-descriptor.txt", b"described later");
        descriptor.flags |= 0x0008;
        let entries = vec![
            RawEntry::dir("d"),
            RawEntry::file("d/a.txt", b"hello hello hello hello"),
            RawEntry {
                method: 0,
                ..RawEntry::file("d/stored.bin", &[1, 2, 3])
            },
            RawEntry::symlink("d/link", "a.txt"),
            RawEntry::file("ünï.txt", b"utf-8"),
            descriptor,
        ];
        let got = read_all(&raw_zip(&entries));
        assert_eq!(got.len(), 6);
        assert_eq!(got[0].0, "d/");
        assert!(got[0].1);
        assert_eq!(got[1].4, b"hello hello hello hello");
        assert_eq!(got[2].4, [1, 2, 3]);
        assert!(got[3].2);
        assert_eq!(got[3].4, b"a.txt");
        assert_eq!(got[4].0, "ünï.txt");
        assert_eq!(got[5].4, b"described later");
    }

    #[test]
    fn raw_zip_writes_the_lies_it_is_told() {
        let mut e = RawEntry::file("x", b"abc");
        e.crc_override = Some(1);
        e.central_name = Some(b"y".to_vec());
        let bytes = raw_zip(&[e]);
        let mut z = zip::ZipArchive::new(Cursor::new(&bytes[..])).expect("archive");
        let mut f = z.by_index(0).expect("entry");
        assert_eq!(f.name_raw(), b"y");
        assert_eq!(f.crc32(), 1);
        let mut out = Vec::new();
        assert!(
            f.read_to_end(&mut out).is_err(),
            "CRC mismatch must be noticed"
        );
    }

    #[test]
    fn bomb_has_many_entries_over_one() {
        let bytes = bomb_overlapping(70_000, 1 << 20);
        assert!(bytes.len() < 5 << 20);
        let z = zip::ZipArchive::new(Cursor::new(&bytes[..])).expect("archive");
        assert_eq!(z.len(), 70_000);
    }

    #[test]
    fn pseudo_random_does_not_depend_on_read_sizes() {
        let mut whole = Vec::new();
        PseudoRandom::new(1000)
            .read_to_end(&mut whole)
            .expect("read");
        let mut pieces = Vec::new();
        let mut r = PseudoRandom::new(1000);
        for size in [1, 3, 8, 13, 64].iter().cycle() {
            let mut buf = vec![0u8; *size];
            let n = r.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            pieces.extend_from_slice(&buf[..n]);
        }
        assert_eq!(whole.len(), 1000);
        assert!(whole == pieces);

        let mut long = Vec::new();
        PseudoRandom::new(3 * BLOCK + 10)
            .read_to_end(&mut long)
            .expect("read");
        let mut mid = Vec::new();
        PseudoRandom::range(BLOCK - 5, BLOCK + 20)
            .read_to_end(&mut mid)
            .expect("read");
        assert!(mid[..] == long[(BLOCK - 5) as usize..(2 * BLOCK + 15) as usize]);
        assert!(long[..BLOCK as usize] != long[BLOCK as usize..2 * BLOCK as usize]);
        let deflated = deflate(&long);
        assert!(
            deflated.len() as u64 > 3 * BLOCK,
            "practically incompressible"
        );
    }

    #[test]
    fn write_large_streams_a_zip64_archive() {
        let dir = std::env::temp_dir().join(format!("fake-gitlab-zips-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("large.zip");
        write_large(&path, 3 << 20).expect("write_large");
        let mut z = zip::ZipArchive::new(File::open(&path).expect("open")).expect("archive");
        let mut big = z.by_name(LARGE_ENTRY).expect("big entry");
        assert_eq!(big.size(), 3 << 20);
        let mut want = Vec::new();
        PseudoRandom::new(3 << 20)
            .read_to_end(&mut want)
            .expect("pseudo-random");
        let mut got = Vec::new();
        big.read_to_end(&mut got).expect("big content");
        assert!(got == want);
        drop(big);
        let mut tail = Vec::new();
        z.by_name(LARGE_TAIL_ENTRY)
            .expect("tail")
            .read_to_end(&mut tail)
            .expect("tail content");
        assert_eq!(tail, LARGE_TAIL);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
