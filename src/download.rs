//! Fetching an artifact archive: in pieces, with HTTP Range.
//!
//! [`Remote::open`] asks for the archive's tail (`Range: bytes=-N`), where the zip end
//! records and usually the central directory are, into a sparse temporary file, so gljob
//! can plan before the bulk arrives. Then each unpacking worker reads its segments of
//! entries ([`Stream`]: one ranged request each) straight from the network into the
//! entries' files: every byte is written once, the archive never lands on disk beside the
//! tree, and download and extraction overlap on both cores. `--path` streams only the
//! selected entries' segments, `--list` nothing but the directory.
//!
//! The old path stays for what cannot be streamed: a server that ignores Range answers
//! `200` with the whole archive, which is taken as such into the file, and an archive whose
//! entries' data is out of directory order is downloaded on one thread while the workers
//! read each entry from the file as soon as its bytes are there ([`Source::read_at`] waits).
//!
//! Every request starts at the API URL, so an expired object-storage link is replaced by a
//! fresh redirect. A broken response is resumed from the last byte received, with
//! `If-Range` when the first answer had a strong ETag or a Last-Modified date; failures are
//! retried while they make progress, and given up after `GLJOB_RETRIES` attempts in a row
//! that brought nothing.
//!
//! What was planned is what is unpacked: bytes that have arrived are never written again,
//! and a stream is never read backwards. A `206` must cover exactly the range asked for,
//! and a body may not run past it; a `200` once bytes have arrived (a server that ignored
//! `Range` while resuming, or a different archive of the same length) is never spliced in:
//! the fetch starts over with a fresh plan ([`is_restart`]).

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};

use anyhow::Result;
use ureq::Body;
use ureq::http::Response;

use crate::error::{Failure, Kind, fail, fs_failure};
use crate::progress::Progress;
use crate::signals;
use crate::transport::{Transport, backoff};
use crate::url::redact;
use crate::zipfmt::{self, Source};

/// Ranges closer than this are fetched as one: a request costs more than the gap.
const COALESCE_GAP: u64 = 256 * 1024;
const CHUNK: usize = 256 * 1024;

/// An archive on the server, mirrored into a sparse local file as its ranges arrive.
pub struct Remote<'a> {
    transport: &'a Transport,
    url: String,
    file: File,
    /// The temporary archive's path, for messages.
    path: std::path::PathBuf,
    len: u64,
    /// A strong ETag or Last-Modified date, for `If-Range`.
    validator: Option<String>,
    state: Mutex<Arrived>,
    changed: Condvar,
    received: AtomicU64,
}

/// Which byte ranges of the file hold the archive's bytes, and whether more are coming.
#[derive(Default)]
struct Arrived {
    /// Sorted, disjoint, merged.
    ranges: Vec<(u64, u64)>,
    /// A background fetch is running: readers wait for bytes instead of failing.
    filling: bool,
    /// The background fetch failed (readers stop waiting) or was cancelled.
    stopped: Option<String>,
}

impl Arrived {
    fn add(&mut self, start: u64, end: u64) {
        self.ranges.push((start, end));
        self.ranges.sort_unstable();
        let mut merged: Vec<(u64, u64)> = Vec::with_capacity(self.ranges.len());
        for &(s, e) in &self.ranges {
            match merged.last_mut() {
                Some(last) if s <= last.1 => last.1 = last.1.max(e),
                _ => merged.push((s, e)),
            }
        }
        self.ranges = merged;
    }

    /// Whether any byte of `[start, end)` has arrived already.
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.ranges.iter().any(|&(s, e)| s < end && start < e)
    }

    /// How many bytes from `offset` on have arrived.
    fn available(&self, offset: u64) -> u64 {
        self.ranges
            .iter()
            .find(|&&(s, e)| s <= offset && offset < e)
            .map_or(0, |&(_, e)| e - offset)
    }
}

impl<'a> Remote<'a> {
    /// Fetches the archive's tail and central directory into `file` (new and empty; `path`
    /// names it in messages). A server that ignores `Range` sends the whole archive, which
    /// is taken as such.
    pub fn open(
        transport: &'a Transport,
        url: &str,
        file: File,
        path: &Path,
        progress: &mut Progress,
    ) -> Result<Remote<'a>> {
        Remote::open_with(transport, url, file, path, progress, true)?
            .ok_or_else(|| anyhow::anyhow!("the whole archive was refused"))
    }

    /// [`Remote::open`], but `None` when the server ignores `Range` (answers `200`, the
    /// whole archive), before reading its body: for `--file`, which then asks GitLab's
    /// single-file route for the one entry instead of downloading every other one too.
    pub fn open_ranged(
        transport: &'a Transport,
        url: &str,
        file: File,
        path: &Path,
        progress: &mut Progress,
    ) -> Result<Option<Remote<'a>>> {
        Remote::open_with(transport, url, file, path, progress, false)
    }

    fn open_with(
        transport: &'a Transport,
        url: &str,
        file: File,
        path: &Path,
        progress: &mut Progress,
        whole: bool,
    ) -> Result<Option<Remote<'a>>> {
        let tail = format!("bytes=-{}", zipfmt::TAIL);
        let response = transport.get(url, &[("Range", &tail)])?;
        check_content_type(url, &response)?;
        let (start, len) = match response.status().as_u16() {
            // A suffix: it must end at the archive's last byte.
            206 => match content_range(&response) {
                Some((start, end, total)) if end + 1 == total => (start, total),
                _ => return Err(unexpected(url, 206, "a usable Content-Range").into()),
            },
            200 if !whole => return Ok(None),
            200 => (
                0,
                response
                    .body()
                    .content_length()
                    .ok_or_else(|| unexpected(url, 200, "a Content-Length"))?,
            ),
            other => return Err(unexpected(url, other, "an archive").into()),
        };
        file.set_len(len)
            .map_err(|e| fs_failure("cannot size the temporary archive", path, e))?;
        let remote = Remote {
            transport,
            url: url.to_string(),
            file,
            path: path.to_path_buf(),
            len,
            validator: validator_of(&response),
            state: Mutex::new(Arrived::default()),
            changed: Condvar::new(),
            received: AtomicU64::new(0),
        };
        // A broken first answer is resumed like any other.
        let got = match remote.receive(response, start, len, progress) {
            Ok(n) => n,
            Err((_, Broken::Local(e))) => {
                return Err(fs_failure("cannot write the temporary archive", path, e).into());
            }
            Err((_, Broken::Overrun)) => return Err(overrun(url, len).into()),
            // A signal is never a reason to resume: unwind at once (no "resuming" warning).
            Err((_, Broken::Signal(interrupted))) => return Err(interrupted.into()),
            Err((_, Broken::Stopped)) => return Err(Cancelled.into()),
            Err((n, Broken::Network(why))) => {
                progress.clear();
                transport.warn(format_args!(
                    "download interrupted at byte {} ({why}); resuming",
                    start + n
                ));
                n
            }
        };
        if start + got < len {
            remote.fetch(start + got, len, progress)?;
        }
        let dir = zipfmt::find_directory(&remote).map_err(|why| {
            fail(Kind::Archive, format!("refused the archive: it is not a readable zip archive: {why}"))
                .hint("nothing was written; the artifact may be truncated or not a zip (GitLab's report formats gzip/raw are not archives)")
        })?;
        remote.fetch_missing(dir.start, dir.start + dir.size, progress)?;
        Ok(Some(remote))
    }

    /// The bytes received from the server so far (what the network carried).
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Fetches whatever of `[start, end)` has not arrived yet.
    pub fn fetch_missing(&self, start: u64, end: u64, progress: &mut Progress) -> Result<()> {
        let mut pos = start;
        while pos < end {
            let have = self.lock().available(pos);
            if have > 0 {
                pos += have;
                continue;
            }
            let gap_end = self
                .lock()
                .ranges
                .iter()
                .map(|&(s, _)| s)
                .find(|&s| s > pos)
                .unwrap_or(end)
                .min(end);
            self.fetch(pos, gap_end, progress)?;
            pos = gap_end;
        }
        Ok(())
    }

    /// Fetches the given ranges (sorted by start), joining those close together.
    pub fn fetch_ranges(&self, ranges: &[(u64, u64)], progress: &mut Progress) -> Result<()> {
        let mut joined: Vec<(u64, u64)> = Vec::new();
        for &(s, e) in ranges {
            match joined.last_mut() {
                Some(last) if s <= last.1 + COALESCE_GAP => last.1 = last.1.max(e),
                _ => joined.push((s, e)),
            }
        }
        for (s, e) in joined {
            self.fetch_missing(s, e, progress)?;
        }
        Ok(())
    }

    /// Tells readers that a [`Remote::fill`] is coming, so they wait for bytes instead of
    /// failing. Call it before starting the fill's thread: a reader may get there first.
    pub fn will_fill(&self) {
        self.lock().filling = true;
    }

    /// Downloads `[start, end)` on the calling thread while readers on other threads wait for
    /// the bytes they need (after [`Remote::will_fill`]). On failure the readers are released
    /// with an error, and the download's own error is returned (it explains more than theirs).
    pub fn fill(&self, start: u64, end: u64, progress: &mut Progress) -> Result<()> {
        let result = self.fetch_missing(start, end, progress);
        let mut state = self.lock();
        state.filling = false;
        if let Err(e) = &result {
            state.stopped = Some(format!("{e:#}"));
        }
        self.changed.notify_all();
        result
    }

    /// Stops a background [`Remote::fill`] (unpacking failed: the rest is not needed).
    pub fn cancel(&self) {
        self.lock()
            .stopped
            .get_or_insert_with(|| "cancelled".to_string());
        self.changed.notify_all();
    }

    fn lock(&self) -> MutexGuard<'_, Arrived> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Downloads `[start, end)` with resume. A `200` is the whole archive from byte 0.
    fn fetch(&self, start: u64, end: u64, progress: &mut Progress) -> Result<()> {
        let mut pos = start;
        let mut fruitless: u32 = 0;
        while pos < end {
            signals::check()?;
            if self.lock().stopped.is_some() {
                return Err(Cancelled.into());
            }
            let response = self.ranged(pos, end, &mut fruitless)?;
            let before = pos;
            let got = self.receive(response, pos, end, progress);
            pos += got.as_ref().map_or_else(|(n, _)| *n, |n| *n);
            let why = match got {
                Ok(_) if pos >= end => return Ok(()),
                Ok(_) => "the connection closed early".to_string(),
                Err((_, Broken::Network(why))) => why,
                // Never reported as a retry: the fetch unwinds and cleans up now.
                Err((_, Broken::Signal(interrupted))) => return Err(interrupted.into()),
                Err((_, Broken::Stopped)) => return Err(Cancelled.into()),
                Err((_, Broken::Overrun)) => return Err(overrun(&self.url, end).into()),
                Err((_, Broken::Local(e))) => {
                    return Err(
                        fs_failure("cannot write the temporary archive", &self.path, e).into(),
                    );
                }
            };
            progress.clear();
            self.broke(before, pos, &why, &mut fruitless)?;
        }
        Ok(())
    }

    /// Asks for bytes `[pos, end)` and checks the answer: a `206` with exactly that range.
    /// A `200` is [`Restart`]: bytes have arrived already (at least the planned directory),
    /// and a whole archive now is not spliced into them, whatever its length and validator.
    fn ranged(&self, pos: u64, end: u64, fruitless: &mut u32) -> Result<Response<Body>> {
        let range = format!("bytes={pos}-{}", end - 1);
        let mut headers: Vec<(&str, &str)> = vec![("Range", &range)];
        if let Some(v) = &self.validator {
            headers.push(("If-Range", v));
        }
        let response = loop {
            match self.transport.get(&self.url, &headers) {
                Ok(response) => break response,
                // Object storage refusing a presigned URL that worked before: it expired.
                // The next attempt starts at the API again, which hands out a fresh one.
                Err(e)
                    if pos > 0
                        && *fruitless < self.transport.retries()
                        && is_storage_refusal(&e) =>
                {
                    *fruitless += 1;
                    self.transport.warn(format_args!("object storage refused the download link ({e}); asking GitLab for a fresh one"));
                }
                Err(e) => return Err(e),
            }
        };
        check_content_type(&self.url, &response)?;
        match response.status().as_u16() {
            206 if content_range(&response) == Some((pos, end - 1, self.len)) => Ok(response),
            206 => Err(
                unexpected(&self.url, 206, "exactly the range gljob asked for")
                    .detail(format!(
                        "asked for bytes {pos}-{} of {}; it sent Content-Range: {}",
                        end - 1,
                        self.len,
                        header_text(&response, "content-range")
                    ))
                    .into(),
            ),
            200 => Err(Restart.into()),
            other => Err(unexpected(&self.url, other, "an archive").into()),
        }
    }

    /// A response broke at `pos` (it began at `before`, `why` says how): gives up after
    /// `GLJOB_RETRIES` attempts in a row that brought nothing, else warns and waits before
    /// the next attempt.
    fn broke(&self, before: u64, pos: u64, why: &str, fruitless: &mut u32) -> Result<()> {
        *fruitless = if pos > before { 1 } else { *fruitless + 1 };
        if *fruitless > self.transport.retries() {
            return Err(fail(Kind::Network, format!("the download kept failing at byte {pos} of {}: {why}", self.len))
                .detail(format!("tried: GET {} ({fruitless} attempts in a row without progress)", redact(&self.url)))
                .hint("the network or object storage is unreliable; retry the job, or raise GLJOB_RETRIES")
                .into());
        }
        let wait = backoff(*fruitless);
        self.transport.warn(format_args!(
            "download interrupted at byte {pos} ({why}); resuming in {:.1} s",
            wait.as_secs_f64()
        ));
        signals::sleep(wait)?;
        Ok(())
    }

    /// Writes a response body into the file from `at` up to `limit` (what was asked for),
    /// marking bytes as arrived. Returns the bytes written, and on a broken connection also
    /// why. A body that runs past `limit` is [`Broken::Overrun`]; bytes that have arrived
    /// already are never written again (the directory that was planned stays as it was).
    fn receive(
        &self,
        response: Response<Body>,
        at: u64,
        limit: u64,
        progress: &mut Progress,
    ) -> Result<u64, (u64, Broken)> {
        let mut reader = response.into_body().into_reader();
        let mut buf = vec![0u8; CHUNK];
        let mut done = 0u64;
        let limit = limit.min(self.len);
        loop {
            if let Err(interrupted) = signals::check() {
                return Err((done, Broken::Signal(interrupted)));
            }
            if self.lock().stopped.is_some() {
                return Err((done, Broken::Stopped));
            }
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(done),
                Ok(n) => n,
                Err(e) => return Err((done, Broken::Network(e.to_string()))),
            };
            let pos = at + done;
            let room = limit.saturating_sub(pos);
            if n as u64 > room {
                return Err((done, Broken::Overrun));
            }
            if self.lock().overlaps(pos, pos + n as u64) {
                return Err((done, Broken::Overrun));
            }
            if let Err(e) = self.file.write_all_at(&buf[..n], pos) {
                return Err((done, Broken::Local(e)));
            }
            self.received.fetch_add(n as u64, Ordering::Relaxed);
            {
                let mut state = self.lock();
                state.add(pos, pos + n as u64);
                progress.update(
                    state.ranges.iter().map(|(s, e)| e - s).sum(),
                    Some(self.len),
                );
            }
            self.changed.notify_all();
            done += n as u64;
        }
    }
}

impl<'a> Remote<'a> {
    /// Bytes `[start, end)` of the archive as a [`Stream`]: nothing is requested until the
    /// first read.
    pub fn stream(&self, start: u64, end: u64) -> Stream<'_, 'a> {
        Stream {
            remote: self,
            state: Mutex::new(Reading {
                body: None,
                pos: start,
                began: start,
                end: end.min(self.len),
                fruitless: 0,
                failure: None,
            }),
        }
    }

    /// Whether the whole archive is on disk (a server that ignored `Range`, or an archive
    /// no longer than the tail): nothing is left to stream.
    pub fn complete(&self) -> bool {
        self.lock().available(0) >= self.len
    }
}

/// A byte range of the archive read straight from the network, in order: one unpacking
/// worker's segment (`archive::Segment`). The bytes go from the socket into the entries'
/// files and are never written to disk as an archive. The range's answer must be a `206`
/// of exactly the bytes asked for; a broken one is resumed at the next byte not yet read
/// (what was read is in the worker's inflater and files already), with the same retry
/// rules as [`Remote::fetch`]. Reading behind the position is refused: nothing a later
/// response sends can stand in for bytes that were checked.
pub struct Stream<'r, 'a> {
    remote: &'r Remote<'a>,
    state: Mutex<Reading>,
}

struct Reading {
    body: Option<std::io::BufReader<ureq::BodyReader<'static>>>,
    /// The next byte of the archive the body delivers.
    pos: u64,
    /// Where the current response began.
    began: u64,
    end: u64,
    fruitless: u32,
    /// Why the stream gave up (a network failure, a signal, [`Restart`]): what the worker
    /// reports instead of the read error it saw.
    failure: Option<anyhow::Error>,
}

impl Stream<'_, '_> {
    fn lock(&self) -> MutexGuard<'_, Reading> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads and discards bytes up to `to` (unselected entries, local extra fields, data
    /// descriptors). `Err` is final and its reason is in `failure`.
    fn skip_to(&self, st: &mut Reading, to: u64) -> Result<(), ()> {
        let mut skip = [0u8; 4096];
        while st.pos < to {
            let n = ((to - st.pos) as usize).min(skip.len());
            self.pull(st, &mut skip[..n])?;
        }
        Ok(())
    }

    /// Reads at the position into `buf`, with resume. `Err` is final and its reason is in
    /// `failure`.
    fn pull(&self, st: &mut Reading, buf: &mut [u8]) -> Result<usize, ()> {
        let give_up = |st: &mut Reading, e: anyhow::Error| {
            st.body = None;
            st.failure = Some(e);
        };
        loop {
            if let Err(e) = signals::check() {
                give_up(st, e.into());
                return Err(());
            }
            if st.body.is_none() {
                match self.remote.ranged(st.pos, st.end, &mut st.fruitless) {
                    Ok(response) => {
                        st.began = st.pos;
                        st.body = Some(std::io::BufReader::with_capacity(
                            CHUNK,
                            response.into_body().into_reader(),
                        ));
                    }
                    Err(e) => {
                        give_up(st, e);
                        return Err(());
                    }
                }
            }
            let want = buf.len().min((st.end - st.pos).min(CHUNK as u64) as usize);
            let body = st.body.as_mut().ok_or(())?;
            let why = match body.read(&mut buf[..want]) {
                Ok(0) => "the connection closed early".to_string(),
                Ok(n) => {
                    st.pos += n as u64;
                    self.remote.received.fetch_add(n as u64, Ordering::Relaxed);
                    return Ok(n);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => e.to_string(),
            };
            st.body = None;
            if let Err(e) = self.remote.broke(st.began, st.pos, &why, &mut st.fruitless) {
                give_up(st, e);
                return Err(());
            }
        }
    }
}

impl Source for Stream<'_, '_> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        let failed = || std::io::Error::other("the download failed");
        let mut st = self.lock();
        if st.failure.is_some() {
            return Err(failed());
        }
        if offset < st.pos {
            return Err(std::io::Error::other(format!(
                "byte {offset} of the archive was read already (the stream is at {})",
                st.pos
            )));
        }
        if offset >= st.end || buf.is_empty() {
            return Ok(0);
        }
        self.skip_to(&mut st, offset).map_err(|()| failed())?;
        self.pull(&mut st, buf).map_err(|()| failed())
    }

    fn size(&self) -> u64 {
        self.remote.len
    }
}

impl crate::extract::Data for Stream<'_, '_> {
    fn failure(&self) -> Option<anyhow::Error> {
        self.lock().failure.take()
    }

    /// Reads what is left of the range (data descriptors, unselected bytes) and checks that
    /// the answer ends there: a body longer than the range asked for is refused.
    fn finish(&self) -> Result<()> {
        let mut st = self.lock();
        let end = st.end;
        if self.skip_to(&mut st, end).is_err() {
            return Err(st
                .failure
                .take()
                .unwrap_or_else(|| anyhow::anyhow!("the download failed")));
        }
        if let Some(body) = st.body.as_mut()
            && matches!(body.read(&mut [0u8; 1]), Ok(n) if n > 0)
        {
            return Err(overrun(&self.remote.url, end).into());
        }
        Ok(())
    }
}

impl Source for Remote<'_> {
    /// Reads arrived bytes; while a background fill runs, waits for them.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<usize> {
        if offset >= self.len || buf.is_empty() {
            return Ok(0);
        }
        let mut state = self.lock();
        let have = loop {
            let have = state.available(offset);
            if have > 0 {
                break have;
            }
            if let Some(why) = &state.stopped {
                return Err(std::io::Error::other(format!(
                    "the download stopped: {why}"
                )));
            }
            if !state.filling {
                return Err(std::io::Error::other(format!(
                    "byte {offset} of the archive was not downloaded"
                )));
            }
            if signals::check().is_err() {
                return Err(std::io::Error::other("interrupted"));
            }
            // Wake up now and then to notice a signal.
            state = match self
                .changed
                .wait_timeout(state, std::time::Duration::from_millis(100))
            {
                Ok((guard, _)) => guard,
                Err(p) => p.into_inner().0,
            };
        };
        drop(state);
        let n = buf.len().min(have as usize);
        FileExt::read_at(&self.file, &mut buf[..n], offset)
    }

    fn size(&self) -> u64 {
        self.len
    }
}

/// Why a response body stopped before its end.
enum Broken {
    /// The connection broke: resume.
    Network(String),
    /// SIGINT or SIGTERM: stop, never resume (and never say "resuming").
    Signal(Failure),
    /// The fill was cancelled ([`Remote::cancel`]): stop.
    Stopped,
    /// The body ran past the range asked for, or onto bytes that had arrived: final.
    Overrun,
    /// The temporary archive could not be written (disk full): give up, exit 9.
    Local(std::io::Error),
}

/// A 403 from an origin other than the API: object storage refusing an expired link.
fn is_storage_refusal(err: &anyhow::Error) -> bool {
    err.downcast_ref::<crate::transport::HttpError>()
        .is_some_and(|h| h.status == 403 && !h.api_origin)
}

/// The server answered a resumed request with a whole archive (`200`): the fetch must start
/// over with a fresh plan, never splice those bytes into what was planned.
#[derive(Debug)]
struct Restart;

impl std::fmt::Display for Restart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the server sent the whole archive again instead of the range asked for")
    }
}

impl std::error::Error for Restart {}

/// Runs a download attempt, starting over (a fresh download, a fresh plan) when the server
/// answered a resumed request with a whole archive ([`Restart`]), at most `GLJOB_RETRIES`
/// times. `attempt` must begin by clearing what an earlier attempt left.
pub fn with_restarts<T>(
    transport: &Transport,
    mut attempt: impl FnMut() -> Result<T>,
) -> Result<T> {
    let mut restarts = 0;
    loop {
        match attempt() {
            Err(e) if is_restart(&e) => {
                if restarts >= transport.retries() {
                    return Err(fail(Kind::Network, format!("{e}, {} times in a row", restarts + 1))
                        .hint("the server or a proxy ignores Range requests and the connection keeps breaking; retry the job, or raise GLJOB_RETRIES")
                        .into());
                }
                restarts += 1;
                transport.warn(format_args!("{e}; starting over with a fresh plan"));
            }
            other => return other,
        }
    }
}

/// Whether `err` asks for the whole fetch to start over ([`Restart`]).
pub fn is_restart(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Restart>().is_some()
}

fn overrun(url: &str, end: u64) -> Failure {
    fail(
        Kind::Network,
        format!("the server sent more than the bytes gljob asked for (up to byte {end})"),
    )
    .detail(format!("tried: GET {}", redact(url)))
    .hint("a proxy or cache between gljob and GitLab may be mangling Range requests; nothing was unpacked from those bytes")
}

/// A header's value for a message, escaped and bounded.
fn header_text(response: &Response<Body>, name: &str) -> String {
    let value = response
        .headers()
        .get(name)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
        .unwrap_or_else(|| "(none)".to_string());
    crate::term::escape(&value.chars().take(100).collect::<String>())
}

/// A background fill stopped by [`Remote::cancel`].
#[derive(Debug)]
struct Cancelled;

impl std::fmt::Display for Cancelled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the download was cancelled")
    }
}

impl std::error::Error for Cancelled {}

/// Whether `err` is a fill that was cancelled because unpacking failed first.
pub fn is_cancelled(err: &anyhow::Error) -> bool {
    err.downcast_ref::<Cancelled>().is_some()
}

/// The response's `Content-Range` ([`parse_content_range`]).
fn content_range(response: &Response<Body>) -> Option<(u64, u64, u64)> {
    parse_content_range(response.headers().get("content-range")?.to_str().ok()?)
}

/// `bytes START-END/TOTAL` as (START, END, TOTAL), only when it is consistent:
/// START ≤ END < TOTAL. Anything else (`*` totals, overflowing numbers, signs) is `None`.
pub fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let (span, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
    let (start, end) = span.split_once('-')?;
    let number = |t: &str| {
        let t = t.trim();
        (!t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
            .then(|| t.parse::<u64>().ok())
            .flatten()
    };
    let (start, end, total) = (number(start)?, number(end)?, number(total)?);
    (start <= end && end < total).then_some((start, end, total))
}

/// A strong ETag, else Last-Modified: what `If-Range` may carry.
fn validator_of(response: &Response<Body>) -> Option<String> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    header("etag")
        .filter(|e| !e.starts_with("W/"))
        .or_else(|| header("last-modified"))
}

/// An HTML or JSON answer with a success status is a proxy's page or an API error, never an
/// archive: it must not be unpacked or written anywhere.
pub fn check_content_type(url: &str, response: &Response<Body>) -> Result<(), Failure> {
    let kind = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if kind.starts_with("text/html") || kind.starts_with("application/json") {
        return Err(unexpected(url, response.status().as_u16(), "an archive")
            .detail(format!("it sent Content-Type: {kind}")));
    }
    Ok(())
}

fn unexpected(url: &str, status: u16, wanted: &str) -> Failure {
    fail(Kind::Network, format!("the server answered {status} but not with {wanted}"))
        .detail(format!("tried: GET {}", redact(url)))
        .hint("a proxy or captive portal may be answering instead of GitLab; check CI_API_V4_URL and the proxy variables")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrived_ranges_merge_and_answer_availability() {
        let mut a = Arrived::default();
        a.add(100, 200);
        a.add(0, 50);
        a.add(50, 100);
        a.add(300, 400);
        assert_eq!(a.ranges, [(0, 200), (300, 400)]);
        assert_eq!(a.available(150), 50);
        assert_eq!(a.available(250), 0);
        assert_eq!(a.available(399), 1);
        assert!(a.overlaps(150, 160) && a.overlaps(199, 300) && !a.overlaps(200, 300));
    }

    #[test]
    fn content_ranges_must_be_consistent() {
        assert_eq!(parse_content_range("bytes 0-99/100"), Some((0, 99, 100)));
        assert_eq!(parse_content_range("bytes 5-5/6"), Some((5, 5, 6)));
        for bad in [
            "bytes 0-100/100",
            "bytes 10-5/100",
            "bytes 0-99/*",
            "bytes -1-5/10",
            "bytes +1-5/10",
            "bytes 0-18446744073709551616/18446744073709551617",
            "items 0-1/2",
            "bytes 0-1",
        ] {
            assert_eq!(parse_content_range(bad), None, "{bad}");
        }
    }
}
