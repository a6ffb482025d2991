//! The zip format, read by hand: end-of-central-directory records (Zip64 too), central
//! directory entries streamed one at a time, local headers checked against them, and entry
//! data inflated with its size and CRC verified.
//!
//! Why not the zip crate's reader: it holds the whole central directory in memory (86 MiB
//! for 100,000 entries), and gljob promises flat memory. Streaming the directory also lets
//! gljob read an archive that is only partly downloaded (see `download.rs`), and every
//! field a hostile archive could lie about is checked here, where it is parsed. Reads use
//! positioned I/O (`pread`) so several workers share one file.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const EOCD_SIG: u32 = 0x0605_4b50;
const ZIP64_LOCATOR_SIG: u32 = 0x0706_4b50;
const ZIP64_EOCD_SIG: u32 = 0x0606_4b50;
const CENTRAL_SIG: u32 = 0x0201_4b50;
const LOCAL_SIG: u32 = 0x0403_4b50;
const S_IFMT: u32 = 0o170_000;
const S_IFDIR: u32 = 0o040_000;
const S_IFLNK: u32 = 0o120_000;

/// A malformed archive, said in words for the error message.
pub type Bad = String;

/// Where the central directory is.
#[derive(Debug, Clone, Copy)]
pub struct Directory {
    pub start: u64,
    pub size: u64,
    pub entries: u64,
}

/// One central-directory entry, as parsed (names are raw bytes; `archive.rs` judges them).
#[derive(Debug, Clone)]
pub struct Central {
    pub name: Vec<u8>,
    pub flags: u16,
    pub method: u16,
    pub crc: u32,
    pub compressed: u64,
    pub size: u64,
    pub offset: u64,
    /// Unix mode with type bits, when the archive was made on Unix.
    pub mode: Option<u32>,
    /// No Unix mode, but the MS-DOS read-only attribute.
    pub dos_read_only: bool,
    pub mtime: Option<SystemTime>,
}

/// What an entry is, by its mode bits and name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    File,
    Dir,
    Symlink,
}

impl Central {
    pub fn kind(&self) -> Type {
        match self.mode.map(|m| m & S_IFMT) {
            Some(S_IFLNK) => Type::Symlink,
            Some(S_IFDIR) => Type::Dir,
            _ if self.name.ends_with(b"/") => Type::Dir,
            _ => Type::File,
        }
    }

    pub fn encrypted(&self) -> bool {
        self.flags & 1 != 0
    }
}

/// Something positioned reads can be made on: a file, or a file still being downloaded.
pub trait Source: Sync {
    /// Reads at `offset`, waiting until those bytes exist (for partial downloads).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;
    fn size(&self) -> u64;
}

impl Source for File {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        FileExt::read_at(self, buf, offset)
    }

    fn size(&self) -> u64 {
        self.metadata().map(|m| m.len()).unwrap_or(0)
    }
}

/// A byte range of a source, read sequentially.
pub struct Region<'a, S: Source + ?Sized> {
    source: &'a S,
    pos: u64,
    end: u64,
}

impl<'a, S: Source + ?Sized> Region<'a, S> {
    pub fn new(source: &'a S, start: u64, len: u64) -> Region<'a, S> {
        Region {
            source,
            pos: start,
            end: start.saturating_add(len),
        }
    }
}

impl<S: Source + ?Sized> Read for Region<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf.len().min(self.end.saturating_sub(self.pos) as usize);
        if want == 0 {
            return Ok(0);
        }
        let n = self.source.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends early",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}

fn read_exact_at<S: Source + ?Sized>(source: &S, buf: &mut [u8], offset: u64) -> Result<(), Bad> {
    let mut done = 0;
    while done < buf.len() {
        match source.read_at(&mut buf[done..], offset + done as u64) {
            Ok(0) => return Err(format!("it ends early (at byte {})", offset + done as u64)),
            Ok(n) => done += n,
            Err(e) => return Err(format!("it cannot be read: {e}")),
        }
    }
    Ok(())
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_le_bytes([b[i], b[i + 1]])
}
fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}
fn u64_at(b: &[u8], i: usize) -> u64 {
    u64::from_le_bytes([
        b[i],
        b[i + 1],
        b[i + 2],
        b[i + 3],
        b[i + 4],
        b[i + 5],
        b[i + 6],
        b[i + 7],
    ])
}

/// The bytes at the end of an archive that hold the end-of-central-directory record: the
/// 22-byte record plus the longest comment, plus the Zip64 locator before it.
pub const TAIL: u64 = 22 + 65_535 + 20;

/// Finds the central directory from the archive's tail. The directory must end exactly
/// where the end records begin: data prepended to an archive, or a directory that points
/// elsewhere, is refused rather than guessed around. Bytes *after* the end record are
/// allowed, as unzip, bsdtar and Python allow them (bsdtar pads its zip output to
/// 10240-byte blocks): the last end record within [`TAIL`] whose directory checks out is
/// taken.
pub fn find_directory<S: Source + ?Sized>(source: &S) -> Result<Directory, Bad> {
    let len = source.size();
    if len < 22 {
        return Err(format!(
            "it is {len} bytes long, too short for a zip archive"
        ));
    }
    let tail_len = TAIL.min(len);
    let mut tail = vec![0u8; tail_len as usize];
    read_exact_at(source, &mut tail, len - tail_len)?;
    let mut first_error: Option<Bad> = None;
    for i in (0..=tail.len() - 22).rev() {
        if u32_at(&tail, i) != EOCD_SIG || i + 22 + u16_at(&tail, i + 20) as usize > tail.len() {
            continue;
        }
        match directory_at(source, &tail, i, len - tail_len + i as u64) {
            Ok(dir) => return Ok(dir),
            Err(why) => {
                first_error.get_or_insert(why);
            }
        }
    }
    Err(first_error.unwrap_or_else(|| {
        "it has no end-of-central-directory record: not a zip archive, or truncated".into()
    }))
}

/// The directory that the end record at `tail[eocd..]` (archive offset `eocd_pos`)
/// describes, checked.
fn directory_at<S: Source + ?Sized>(
    source: &S,
    tail: &[u8],
    eocd: usize,
    eocd_pos: u64,
) -> Result<Directory, Bad> {
    let r = &tail[eocd..];
    let mut dir = Directory {
        start: u32_at(r, 16).into(),
        size: u32_at(r, 12).into(),
        entries: u16_at(r, 10).into(),
    };
    let mut dir_end = eocd_pos;
    // Writers that use Zip64 may set every classic field to its maximum, the disk numbers
    // included (the specification allows it; PHPZipStreamer does it): the Zip64 record
    // then says what they are.
    let (disk, cd_disk) = (u16_at(r, 4), u16_at(r, 6));
    let zip64 = dir.start == 0xFFFF_FFFF
        || dir.size == 0xFFFF_FFFF
        || dir.entries == 0xFFFF
        || disk == 0xFFFF
        || cd_disk == 0xFFFF;
    let locator = eocd >= 20 && u32_at(tail, eocd - 20) == ZIP64_LOCATOR_SIG;
    if !locator && (disk != 0 || cd_disk != 0) {
        return Err("it is a multi-disk (split) archive".into());
    }
    if locator {
        let record_pos = u64_at(tail, eocd - 20 + 8);
        if u32_at(tail, eocd - 20 + 4) != 0 || u32_at(tail, eocd - 20 + 16) > 1 {
            return Err("it is a multi-disk (split) archive".into());
        }
        let mut rec = [0u8; 56];
        if record_pos
            .checked_add(56)
            .is_none_or(|e| e > eocd_pos.saturating_sub(20))
        {
            return Err("its Zip64 end record points outside the archive".into());
        }
        read_exact_at(source, &mut rec, record_pos)?;
        if u32_at(&rec, 0) != ZIP64_EOCD_SIG {
            return Err("its Zip64 end record is missing".into());
        }
        if u32_at(&rec, 16) != 0 || u32_at(&rec, 20) != 0 {
            return Err("it is a multi-disk (split) archive".into());
        }
        dir = Directory {
            entries: u64_at(&rec, 32),
            size: u64_at(&rec, 40),
            start: u64_at(&rec, 48),
        };
        dir_end = record_pos;
    } else if zip64 {
        return Err("it needs Zip64 end records but has none".into());
    }
    if dir.start.checked_add(dir.size) != Some(dir_end) {
        return Err(format!(
            "its central directory ({} bytes at {}) does not end where the end record begins ({dir_end}): data was added before or inside the archive",
            dir.size, dir.start
        ));
    }
    if dir.entries > dir.size / 46 {
        return Err(format!(
            "it claims {} entries in a {}-byte central directory",
            dir.entries, dir.size
        ));
    }
    Ok(dir)
}

/// Streams the central directory's entries, one at a time.
pub struct Entries<'a, S: Source + ?Sized> {
    reader: BufReader<Region<'a, S>>,
    left: u64,
    index: u64,
    crc: crc32fast::Hasher,
    /// Directory bytes parsed so far, counted from the directory's start.
    position: u64,
    /// Only some of the entries ([`entries_from`]): more may follow the last one.
    part: bool,
}

pub fn entries<S: Source + ?Sized>(source: &S, dir: Directory) -> Entries<'_, S> {
    Entries {
        reader: BufReader::with_capacity(64 * 1024, Region::new(source, dir.start, dir.size)),
        left: dir.entries,
        index: 0,
        crc: crc32fast::Hasher::new(),
        position: 0,
        part: false,
    }
}

/// Where a run of entries starts in the directory: `position` bytes in, at entry `index`,
/// after bytes whose CRC is `crc` (what [`Entries::position`] and [`Entries::crc`] said
/// there).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    pub position: u64,
    pub index: u64,
    pub crc: u32,
}

/// Streams `count` entries from `from` on: one unpacking worker's share of the directory.
/// [`Entries::crc`] continues the CRC of the bytes before, so it ends at what a full pass
/// says at the run's end.
pub fn entries_from<S: Source + ?Sized>(
    source: &S,
    dir: Directory,
    from: Mark,
    count: u64,
) -> Entries<'_, S> {
    let start = dir.start.saturating_add(from.position);
    let len = dir.size.saturating_sub(from.position);
    Entries {
        reader: BufReader::with_capacity(64 * 1024, Region::new(source, start, len)),
        left: count.min(dir.entries.saturating_sub(from.index)),
        index: from.index,
        crc: crc32fast::Hasher::new_with_initial(from.crc),
        position: from.position,
        part: true,
    }
}

impl<S: Source + ?Sized> Entries<'_, S> {
    /// The CRC of the directory bytes parsed so far: after a full pass, two passes that
    /// agree on it read the same entries (the plan and each unpacking worker).
    pub fn crc(&self) -> u32 {
        self.crc.clone().finalize()
    }

    /// Where the next entry starts.
    pub fn mark(&self) -> Mark {
        Mark {
            position: self.position,
            index: self.index,
            crc: self.crc(),
        }
    }
}

impl<S: Source + ?Sized> Iterator for Entries<'_, S> {
    type Item = Result<Central, Bad>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 && self.part {
            return None;
        }
        if self.left == 0 {
            return match self.reader.fill_buf() {
                Ok([]) => None,
                _ => {
                    self.left = u64::MAX; // report once, then stop
                    Some(Err(
                        "its central directory holds more entries than its end record says".into(),
                    ))
                }
            };
        }
        if self.left == u64::MAX {
            return None;
        }
        self.left -= 1;
        self.index += 1;
        let result = self.parse();
        if result.is_err() {
            self.left = u64::MAX;
        }
        Some(result)
    }
}

impl<S: Source + ?Sized> Entries<'_, S> {
    fn parse(&mut self) -> Result<Central, Bad> {
        let at = self.index;
        let mut h = [0u8; 46];
        self.reader
            .read_exact(&mut h)
            .map_err(|_| format!("its central directory ends inside entry {at}"))?;
        if u32_at(&h, 0) != CENTRAL_SIG {
            return Err(format!("central directory entry {at} has a bad signature"));
        }
        let (name_len, extra_len, comment_len) = (
            u16_at(&h, 28) as usize,
            u16_at(&h, 30) as usize,
            u16_at(&h, 32) as usize,
        );
        let mut var = vec![0u8; name_len + extra_len + comment_len];
        self.reader
            .read_exact(&mut var)
            .map_err(|_| format!("its central directory ends inside entry {at}"))?;
        self.crc.update(&h);
        self.crc.update(&var);
        self.position += (h.len() + var.len()) as u64;
        let name = var[..name_len].to_vec();
        let extra = &var[name_len..name_len + extra_len];
        let made_on_unix = matches!(h[5], 3 | 19);
        let external = u32_at(&h, 38);
        // MS-DOS/NTFS attributes: bit 0 is read-only (Windows tools, Python on Windows).
        let dos_read_only = !made_on_unix && external & 1 != 0;
        let mut c = Central {
            name,
            flags: u16_at(&h, 8),
            method: u16_at(&h, 10),
            crc: u32_at(&h, 16),
            compressed: u32_at(&h, 20).into(),
            size: u32_at(&h, 24).into(),
            offset: u32_at(&h, 42).into(),
            mode: (made_on_unix && external >> 16 != 0).then_some(external >> 16),
            dos_read_only,
            mtime: dos_time(u16_at(&h, 14), u16_at(&h, 12)),
        };
        if u16_at(&h, 34) != 0 && u16_at(&h, 34) != 0xFFFF {
            return Err(format!("entry {at} lies on another disk"));
        }
        apply_extra(&mut c, extra)
            .map_err(|why| format!("entry {:?}: {why}", String::from_utf8_lossy(&c.name)))?;
        Ok(c)
    }
}

/// Zip64 sizes and offsets (0x0001) and the Unix modification time: the extended timestamp
/// (0x5455, gitlab-runner, Info-ZIP) first, else the old Info-ZIP Unix field (0x5855,
/// macOS Archive Utility), else the DOS time already read.
fn apply_extra(c: &mut Central, mut extra: &[u8]) -> Result<(), Bad> {
    let mut old_unix: Option<SystemTime> = None;
    let mut extended = false;
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        let data = extra
            .get(4..4 + len)
            .ok_or("an extra field runs past its end")?;
        match id {
            0x0001 => {
                let mut fields = data.chunks_exact(8).map(|b| u64_at(b, 0));
                let mut take = |value: &mut u64| -> Result<(), Bad> {
                    if *value == 0xFFFF_FFFF {
                        *value = fields.next().ok_or("a Zip64 field is missing")?;
                    }
                    Ok(())
                };
                take(&mut c.size)?;
                take(&mut c.compressed)?;
                take(&mut c.offset)?;
            }
            0x5455 if !data.is_empty() && data[0] & 1 != 0 && data.len() >= 5 => {
                c.mtime = Some(UNIX_EPOCH + Duration::from_secs(u32_at(data, 1).into()));
                extended = true;
            }
            // atime, mtime (then uid, gid in the local header's copy).
            0x5855 if data.len() >= 8 => {
                old_unix = Some(UNIX_EPOCH + Duration::from_secs(u32_at(data, 4).into()));
            }
            _ => {}
        }
        extra = &extra[4 + len..];
    }
    if !extended && old_unix.is_some() {
        c.mtime = old_unix;
    }
    if [c.size, c.compressed, c.offset].contains(&0xFFFF_FFFF) {
        return Err("it needs a Zip64 field it does not have".into());
    }
    Ok(())
}

/// A DOS date and time, read as UTC (zip has no time zone; gitlab-runner's extended
/// timestamp, when present, replaces it).
fn dos_time(date: u16, time: u16) -> Option<SystemTime> {
    let (y, m, d) = (
        1980 + u64::from(date >> 9),
        u64::from((date >> 5) & 15),
        u64::from(date & 31),
    );
    if !(1..=12).contains(&m) || d == 0 {
        return None;
    }
    let secs =
        u64::from(time >> 11) * 3600 + u64::from((time >> 5) & 63) * 60 + u64::from(time & 31) * 2;
    Some(UNIX_EPOCH + Duration::from_secs(crate::time::days_from_civil(y, m, d)? * 86400 + secs))
}

/// Reads an entry's local header, checks it against the central one, and returns where the
/// entry's data starts.
pub fn data_start<S: Source + ?Sized>(source: &S, c: &Central) -> Result<u64, Bad> {
    // The header and the name the directory gives, in one read: one syscall fewer per entry,
    // which counts with 100,000 small files (measured).
    let mut h = vec![0u8; 30 + c.name.len()];
    read_exact_at(source, &mut h, c.offset)?;
    let shown = String::from_utf8_lossy(&c.name);
    if u32_at(&h, 0) != LOCAL_SIG {
        return Err(format!(
            "entry {shown:?} has no local header where the directory says"
        ));
    }
    let (name_len, extra_len) = (u16_at(&h, 26) as u64, u16_at(&h, 28) as u64);
    if name_len as usize != c.name.len() || h[30..] != c.name[..] {
        // Only the bytes already read: a longer local name may run past what a `--path`
        // fetch downloaded.
        let name = &h[30..30 + (name_len as usize).min(c.name.len())];
        let more = if name_len as usize > c.name.len() {
            "…"
        } else {
            ""
        };
        return Err(format!(
            "entry {shown:?} is named {:?}{more} in its local header",
            String::from_utf8_lossy(name)
        ));
    }
    if u16_at(&h, 8) != c.method {
        return Err(format!(
            "entry {shown:?} has another compression method in its local header"
        ));
    }
    Ok(c.offset + 30 + name_len + extra_len)
}

/// The entry's uncompressed bytes, checked: at most its declared size, and at the end
/// exactly that size with the declared CRC (else an `InvalidData` error).
pub fn open<'a, S: Source + ?Sized>(
    source: &'a S,
    c: &Central,
    start: u64,
) -> Result<Checked<Box<dyn Read + 'a>>, Bad> {
    let raw = Region::new(source, start, c.compressed);
    let inner: Box<dyn Read + 'a> = match c.method {
        0 if c.compressed == c.size => Box::new(raw),
        0 => {
            return Err(format!(
                "stored entry {:?} declares two different sizes",
                String::from_utf8_lossy(&c.name)
            ));
        }
        // No bigger than the entry: BufReader zeroes its buffer before the first read, and
        // zeroing 64 KiB for each small file was 3% of the CPU time of 100,000 of them.
        8 => Box::new(flate2::bufread::DeflateDecoder::new(
            BufReader::with_capacity((c.compressed as usize).clamp(1, 64 * 1024), raw),
        )),
        m => {
            return Err(format!(
                "entry {:?} uses compression method {m}, which gitlab-runner never writes",
                String::from_utf8_lossy(&c.name)
            ));
        }
    };
    Ok(Checked {
        inner,
        hasher: crc32fast::Hasher::new(),
        read: 0,
        size: c.size,
        crc: c.crc,
    })
}

/// Entries whose data and contents both fit in this many bytes are unpacked whole
/// ([`Inflater::whole`]) instead of through [`open`]'s reader.
pub const WHOLE: usize = 256 * 1024;

/// A worker's whole-entry inflater and input buffer, kept from entry to entry. Whole
/// entries go to libdeflate, which decodes straight into the output (no window, no
/// state to set up per entry): on the small entries of mixed and many-small it took 0.29 s
/// and 0.33 s on one core where zlib-rs, reset between entries, took 0.49 s and 0.54 s
/// (measured in memory, 2026-12-02). Larger entries stream through [`open`]'s zlib-rs
/// reader in constant memory.
pub struct Inflater {
    state: libdeflater::Decompressor,
    input: Vec<u8>,
    /// One byte more than [`WHOLE`]: room past the declared size tells a longer stream from
    /// an exact one.
    output: Vec<u8>,
}

impl Default for Inflater {
    fn default() -> Self {
        Inflater {
            state: libdeflater::Decompressor::new(),
            input: vec![0; WHOLE],
            output: vec![0; WHOLE + 1],
        }
    }
}

impl Inflater {
    /// Whether [`Inflater::whole`] takes this entry.
    pub fn takes(c: &Central) -> bool {
        c.method == 8 && c.compressed <= WHOLE as u64 && c.size <= WHOLE as u64
    }

    /// Reads an entry [`Inflater::takes`] (its data at `start`) in one go and inflates it in
    /// one call, checked as [`open`]'s reader checks it: exactly the declared size, with the
    /// declared CRC. Returns the entry's bytes.
    pub fn whole<S: Source + ?Sized>(
        &mut self,
        source: &S,
        c: &Central,
        start: u64,
    ) -> Result<&[u8], Bad> {
        if !Inflater::takes(c) {
            return Err("it is too large to inflate whole".to_string());
        }
        // Both sizes are at most WHOLE: the casts cannot truncate.
        let (compressed, size) = (c.compressed as usize, c.size as usize);
        let input = &mut self.input[..compressed];
        read_exact_at(source, input, start)?;
        let n = match self
            .state
            .deflate_decompress(input, &mut self.output[..size + 1])
        {
            Ok(n) if n <= size => n,
            Ok(_) | Err(libdeflater::DecompressionError::InsufficientSpace) => {
                return Err(format!("it unpacks to more than its declared {size} bytes"));
            }
            Err(libdeflater::DecompressionError::BadData) => {
                return Err("corrupt deflate stream".to_string());
            }
        };
        let bytes = &self.output[..n];
        check_end(n as u64, c.size, crc32fast::hash(bytes), c.crc).map_err(|e| e.to_string())?;
        Ok(bytes)
    }
}

/// The checks at an entry's end: all of its declared size, and its declared CRC.
fn check_end(read: u64, size: u64, crc: u32, declared: u32) -> io::Result<()> {
    if read != size {
        return Err(invalid(format!(
            "it unpacks to {read} bytes, not its declared {size}"
        )));
    }
    if crc != declared {
        return Err(invalid(format!(
            "its CRC is {crc:08x}, not the declared {declared:08x}"
        )));
    }
    Ok(())
}

/// A reader that verifies the declared size and CRC as the bytes go by.
pub struct Checked<R> {
    inner: R,
    hasher: crc32fast::Hasher,
    read: u64,
    size: u64,
    crc: u32,
}

impl<R: Read> Read for Checked<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.size {
            return Err(invalid(format!(
                "it unpacks to more than its declared {} bytes",
                self.size
            )));
        }
        if n == 0 {
            check_end(
                self.read,
                self.size,
                self.hasher.clone().finalize(),
                self.crc,
            )?;
        }
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

fn invalid(why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, why)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An in-memory source for parser tests.
    struct Bytes(Vec<u8>);
    impl Source for Bytes {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let start = (offset as usize).min(self.0.len());
            let n = buf.len().min(self.0.len() - start);
            buf[..n].copy_from_slice(&self.0[start..start + n]);
            Ok(n)
        }
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
    }

    fn read_all(bytes: Vec<u8>) -> Result<Vec<(String, Vec<u8>)>, String> {
        let src = Bytes(bytes);
        let dir = find_directory(&src)?;
        let mut out = Vec::new();
        for c in entries(&src, dir) {
            let c = c?;
            let start = data_start(&src, &c)?;
            let mut data = Vec::new();
            open(&src, &c, start)?
                .read_to_end(&mut data)
                .map_err(|e| e.to_string())?;
            out.push((String::from_utf8_lossy(&c.name).into_owned(), data));
        }
        Ok(out)
    }

    fn sample(comment: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default().unix_permissions(0o755);
        w.start_file("a/b.txt", opts).unwrap();
        w.write_all(&b"hello ".repeat(100)).unwrap();
        w.start_file("c", opts.compression_method(zip::CompressionMethod::Stored))
            .unwrap();
        w.write_all(b"stored").unwrap();
        w.set_raw_comment(comment.to_vec().into()).unwrap();
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn reads_what_the_zip_crate_writes_with_and_without_a_comment() {
        for comment in [&b""[..], b"a comment with PK\x05\x06 inside"] {
            let got = read_all(sample(comment)).unwrap();
            assert_eq!(got[0], ("a/b.txt".to_string(), b"hello ".repeat(100)));
            assert_eq!(got[1], ("c".to_string(), b"stored".to_vec()));
        }
    }

    #[test]
    fn prepended_data_and_truncation_are_refused() {
        let mut prefixed = b"#!/bin/sh\nexit 0\n".to_vec();
        prefixed.extend(sample(b""));
        assert!(read_all(prefixed).unwrap_err().contains("data was added"));
        let mut short = sample(b"");
        short.truncate(short.len() - 5);
        assert!(read_all(short).is_err());
        assert!(
            read_all(b"<html><body>502 Bad Gateway</body></html>".to_vec())
                .unwrap_err()
                .contains("not a zip")
        );
    }

    #[test]
    fn a_flipped_data_byte_fails_the_crc() {
        let mut z = sample(b"");
        let pos = z.windows(6).position(|w| w == b"stored").unwrap();
        z[pos] = b'S';
        assert!(read_all(z).unwrap_err().contains("CRC"));
    }

    /// The whole-entry path (libdeflate) and the streaming reader (zlib-rs) must judge an
    /// entry alike: gljob takes one or the other by size alone.
    #[test]
    fn whole_entries_are_checked_as_streamed_ones_are() {
        let src = Bytes(sample(b""));
        let dir = find_directory(&src).unwrap();
        let c = entries(&src, dir).next().unwrap().unwrap();
        assert!(Inflater::takes(&c));
        let start = data_start(&src, &c).unwrap();
        let streamed = |c: &Central| -> Result<Vec<u8>, String> {
            let mut data = Vec::new();
            open(&src, c, start)?
                .read_to_end(&mut data)
                .map_err(|e| e.to_string())?;
            Ok(data)
        };
        let mut inflater = Inflater::default();
        let mut whole = |c: &Central| inflater.whole(&src, c, start).map(<[u8]>::to_vec);
        assert_eq!(whole(&c).unwrap(), b"hello ".repeat(100));
        type Lie = fn(&mut Central);
        let lies: [(&str, Lie, &str); 4] = [
            ("size too small", |c| c.size -= 1, "more than its declared"),
            ("size too large", |c| c.size += 1, "not its declared"),
            ("wrong CRC", |c| c.crc ^= 1, "CRC"),
            // Cut short: the stream loses its end (libdeflate refuses that outright).
            ("data cut short", |c| c.compressed -= 4, "corrupt deflate"),
        ];
        for (what, lie, says) in lies {
            let mut c = c.clone();
            lie(&mut c);
            assert!(streamed(&c).is_err(), "{what}: the stream took it");
            let err = whole(&c).expect_err(what);
            assert!(err.contains(says), "{what}: {err}");
        }
        let mut garbage = c.clone();
        garbage.crc = 0;
        let bytes = Bytes(vec![0xff; 64]);
        assert!(
            inflater
                .whole(&bytes, &garbage, 0)
                .unwrap_err()
                .contains("corrupt deflate")
        );
        // Past WHOLE either way, an entry streams.
        let mut big = c.clone();
        big.size = WHOLE as u64 + 1;
        assert!(!Inflater::takes(&big));
        assert!(
            inflater.whole(&src, &big, start).is_err(),
            "whole refuses it"
        );
        big.size = 1;
        big.compressed = WHOLE as u64 + 1;
        assert!(!Inflater::takes(&big));
    }

    #[test]
    fn dos_times_are_read_as_utc() {
        // 2025-01-02 03:04:06
        let date = ((2025 - 1980) << 9) | (1 << 5) | 2;
        let time = (3 << 11) | (4 << 5) | 3;
        let t = dos_time(date, time).unwrap();
        assert_eq!(
            t.duration_since(UNIX_EPOCH).unwrap().as_secs(),
            1_735_787_046
        );
    }
}
