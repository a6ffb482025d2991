//! Streams an artifact archive to a file: constant memory, length verified, resumed with
//! `Range` after an interruption.
//!
//! Each attempt starts at the API URL, so GitLab hands out a fresh object-storage redirect
//! (presigned URLs expire). A resume sends `Range: bytes=N-` with `If-Range` when the first
//! answer had a strong ETag or a Last-Modified date; a `206` whose range starts at N is
//! appended, a `200` starts over. Failures are retried while the download makes progress,
//! and given up after `GLJOB_RETRIES` attempts in a row that brought no new bytes.

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use anyhow::Result;
use ureq::Body;
use ureq::http::Response;

use crate::error::{Failure, Kind, fail};
use crate::extract::fs_failure;
use crate::progress::Progress;
use crate::signals;
use crate::transport::{Transport, backoff, redact};

/// What a finished download brought.
pub struct Downloaded {
    pub bytes: u64,
}

/// Downloads `url` into a new file at `path`.
pub fn to_file(
    transport: &Transport,
    url: &str,
    path: &Path,
    progress: &mut Progress,
) -> Result<Downloaded> {
    let file = File::create_new(path)
        .map_err(|e| fs_failure("cannot create the temporary archive", path, e))?;
    let mut out = BufWriter::with_capacity(256 * 1024, file);
    let mut have: u64 = 0;
    let mut total: Option<u64> = None;
    let mut validator: Option<String> = None;
    let mut fruitless: u32 = 0;
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        signals::check()?;
        let range = format!("bytes={have}-");
        let mut headers: Vec<(&str, &str)> = Vec::new();
        if have > 0 {
            headers.push(("Range", &range));
            if let Some(v) = &validator {
                headers.push(("If-Range", v));
            }
        }
        let response = transport.get(url, &headers)?;
        let start = match response.status().as_u16() {
            206 => content_range_start(&response).unwrap_or(u64::MAX),
            200 => 0,
            other => return Err(unexpected(url, other, "an archive").into()),
        };
        if start != have {
            // A 200 (Range ignored or the archive changed) or an unexpected range: start over.
            out.flush()
                .map_err(|e| fs_failure("cannot write", path, e))?;
            out.get_mut()
                .set_len(0)
                .map_err(|e| fs_failure("cannot truncate", path, e))?;
            out.get_mut()
                .seek(SeekFrom::Start(0))
                .map_err(|e| fs_failure("cannot seek", path, e))?;
            have = 0;
        }
        check_content_type(url, &response)?;
        if have == 0 {
            total = response.body().content_length();
            validator = validator_of(&response);
        }
        let before = have;
        let mut reader = response.into_body().into_reader();
        let outcome = loop {
            match reader.read(&mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    out.write_all(&buf[..n])
                        .map_err(|e| fs_failure("cannot write the temporary archive", path, e))?;
                    have += n as u64;
                    progress.update(have, total);
                    signals::check()?;
                }
                Err(e) => break Err(e),
            }
        };
        let complete = outcome.is_ok() && total.is_none_or(|t| have >= t);
        if let Some(t) = total.filter(|t| have > *t) {
            return Err(fail(
                Kind::Network,
                format!("the server sent {have} bytes for an archive of {t}"),
            )
            .detail(format!("tried: GET {}", redact(url)))
            .hint("a proxy may be altering downloads; retry the job")
            .into());
        }
        if complete {
            out.flush()
                .map_err(|e| fs_failure("cannot write the temporary archive", path, e))?;
            progress.clear();
            return Ok(Downloaded { bytes: have });
        }
        fruitless = if have > before { 1 } else { fruitless + 1 };
        let why = match outcome {
            Err(e) => e.to_string(),
            Ok(()) => "the connection closed early".to_string(),
        };
        if fruitless > transport.retries() {
            return Err(fail(Kind::Network, format!("the download kept failing at {have} of {} bytes: {why}", total.map_or("?".into(), |t| t.to_string())))
                .detail(format!("tried: GET {} ({fruitless} attempts in a row without progress)", redact(url)))
                .hint("the network or object storage is unreliable; retry the job, or raise GLJOB_RETRIES")
                .into());
        }
        let wait = backoff(fruitless);
        progress.clear();
        transport.warn(format_args!(
            "download interrupted at {have} bytes ({why}); resuming in {:.1} s",
            wait.as_secs_f64()
        ));
        std::thread::sleep(wait);
    }
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(response: &Response<Body>) -> Option<u64> {
    let value = response.headers().get("content-range")?.to_str().ok()?;
    value
        .strip_prefix("bytes ")?
        .split('-')
        .next()?
        .trim()
        .parse()
        .ok()
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
