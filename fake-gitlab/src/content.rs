//! Serving a whole archive the way Go's `http.ServeContent` does (Workhorse for local storage,
//! and near enough S3 for the storage origin): `ETag`, `Last-Modified`, `Accept-Ranges`,
//! single byte ranges (206 / 416), `If-Range`, `If-None-Match` / `If-Modified-Since` (304).
//!
//! The validators differ by origin, as they do in production. Object storage sends a strong
//! ETag of the object. GitLab's own downloads carry the ETag that Rails' `Rack::ETag` puts on
//! the empty body of a send-file answer — one weak ETag, the same for every file
//! ([`GITLAB_WEAK_ETAG`]) — which Workhorse's `ServeContent` then honours: `If-None-Match`
//! compares weakly (304 for any file), `If-Range` strongly (never a match: the whole file).
//! So a client must not take that ETag for the file's identity; `Last-Modified` is usable.
//!
//! These are what a resuming downloader depends on, so they follow Go's rules closely;
//! multi-range requests, which no downloader sends, get the whole body (200), which RFC 9110
//! allows.

use std::fs;
use std::io;
use std::time::SystemTime;

use crate::http::{Body, Request, Response, hex, http_date};
use crate::world::Archive;

/// The ETag GitLab sends on every download today (archive, single file, package): Rails'
/// digest of an empty body, weak, and so the same for every file.
pub(crate) const GITLAB_WEAK_ETAG: &str = "W/\"12ae32cb1ec02d01eda3581b127c1fee\"";

/// Length and validators of an archive, and where its bytes are.
pub(crate) struct Content {
    pub len: u64,
    /// Quoted strong ETag, `"<sha256 hex>"` (what storage sends), until
    /// [`Content::with_gitlabs_validators`] replaces it.
    pub etag: String,
    pub last_modified: String,
    archive: Archive,
}

impl Content {
    /// Looks the archive up. A `File` archive that is gone is an error (the caller's 404).
    /// In-memory archives are dated `fallback_mtime`; their ETag is the SHA-256 of the bytes
    /// (GitLab's own format). File archives are hashed by path, size and mtime instead, so a
    /// 1 GiB archive is never read just to name it.
    pub fn of(archive: &Archive, fallback_mtime: SystemTime) -> io::Result<Content> {
        let (len, digest, mtime) = match archive {
            Archive::Bytes(b) => (
                b.len() as u64,
                ring::digest::digest(&ring::digest::SHA256, b),
                fallback_mtime,
            ),
            Archive::File(p) => {
                let meta = fs::metadata(p)?;
                if !meta.is_file() {
                    return Err(io::ErrorKind::NotFound.into());
                }
                let mtime = meta.modified().unwrap_or(fallback_mtime);
                let nanos = mtime
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                let id = format!("{}\0{}\0{}", p.display(), meta.len(), nanos);
                (
                    meta.len(),
                    ring::digest::digest(&ring::digest::SHA256, id.as_bytes()),
                    mtime,
                )
            }
        };
        Ok(Content {
            len,
            etag: format!("\"{}\"", hex(digest.as_ref())),
            last_modified: http_date(mtime),
            archive: archive.clone(),
        })
    }

    /// The validators of a download from GitLab's API origin: [`GITLAB_WEAK_ETAG`] for every
    /// file, and the file's `Last-Modified`.
    pub fn with_gitlabs_validators(mut self) -> Content {
        self.etag = GITLAB_WEAK_ETAG.to_string();
        self
    }

    fn body(&self, start: u64, len: u64) -> Body {
        match &self.archive {
            Archive::Bytes(b) => Body::Shared {
                data: b.clone(),
                start: start as usize,
                len: len as usize,
            },
            Archive::File(p) => Body::File {
                path: p.clone(),
                start,
                len,
            },
        }
    }
}

/// A parsed `Range` header.
#[derive(Debug, PartialEq, Eq)]
enum Range {
    /// Serve the whole body (no header, several ranges).
    Whole,
    /// One satisfiable range: start and length.
    One(u64, u64),
    /// Syntactically invalid: 416 without `Content-Range`.
    Invalid,
    /// No range overlaps the content: 416 with `Content-Range: bytes */LEN`.
    NoOverlap,
}

/// Go's `parseRange`, reduced to one range.
fn parse_range(header: &str, size: u64) -> Range {
    let Some(spec) = header.strip_prefix("bytes=") else {
        return Range::Invalid;
    };
    let mut ranges = Vec::new();
    let mut no_overlap = false;
    for part in spec.split(',') {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((start, end)) = part.split_once('-') else {
            return Range::Invalid;
        };
        let (start, end) = (start.trim(), end.trim());
        if start.is_empty() {
            // Suffix range: the last N bytes.
            let Ok(n) = end.parse::<u64>() else {
                return Range::Invalid;
            };
            if n == 0 || size == 0 {
                no_overlap = true;
                continue;
            }
            let n = n.min(size);
            ranges.push((size - n, n));
        } else {
            let Ok(a) = start.parse::<u64>() else {
                return Range::Invalid;
            };
            if a >= size {
                no_overlap = true;
                continue;
            }
            let b = if end.is_empty() {
                size - 1
            } else {
                match end.parse::<u64>() {
                    Ok(b) if b >= a => b.min(size - 1),
                    _ => return Range::Invalid,
                }
            };
            ranges.push((a, b - a + 1));
        }
    }
    match ranges.as_slice() {
        [] if no_overlap => Range::NoOverlap,
        [] => Range::Invalid,
        [(a, n)] => Range::One(*a, *n),
        _ => Range::Whole,
    }
}

/// Whether an `If-None-Match` value matches this ETag (weak comparison, as Go does).
fn none_match(header: &str, etag: &str) -> bool {
    header.split(',').map(str::trim).any(|t| {
        t == "*" || t.strip_prefix("W/").unwrap_or(t) == etag.strip_prefix("W/").unwrap_or(etag)
    })
}

/// Answers a GET/HEAD for `content`. `headers` (Content-Type, Content-Disposition, …) are put
/// on 200 and 206 responses.
pub(crate) fn serve(req: &Request, content: &Content, headers: &[(&str, String)]) -> Response {
    let validators = |r: Response| {
        r.header("ETag", content.etag.clone())
            .header("Last-Modified", content.last_modified.clone())
    };
    if let Some(inm) = req.header("if-none-match") {
        if none_match(inm, &content.etag) {
            return validators(Response::new(304));
        }
    } else if req.header("if-modified-since") == Some(content.last_modified.as_str()) {
        return validators(Response::new(304));
    }

    let range = match req.header("range") {
        None => Range::Whole,
        Some(r) => {
            let honour = match req.header("if-range") {
                None => true,
                // A strong match of a strong ETag, or the exact Last-Modified date (RFC 9110
                // §13.1.5, Go's checkIfRange): a weak ETag never matches.
                Some(v) => {
                    (v == content.etag && !v.starts_with("W/")) || v == content.last_modified
                }
            };
            if honour {
                parse_range(r, content.len)
            } else {
                Range::Whole
            }
        }
    };
    let full = |status: u16, start: u64, len: u64| {
        let mut r = Response::new(status);
        for (k, v) in headers {
            r = r.header(k, v.clone());
        }
        let mut r = validators(r.header("Accept-Ranges", "bytes"));
        r.body = content.body(start, len);
        r
    };
    match range {
        Range::Whole => full(200, 0, content.len),
        Range::One(start, len) => full(206, start, len).header(
            "Content-Range",
            format!("bytes {}-{}/{}", start, start + len - 1, content.len),
        ),
        Range::Invalid => Response::typed(416, "text/plain; charset=utf-8", "invalid range\n")
            .header("X-Content-Type-Options", "nosniff"),
        Range::NoOverlap => Response::typed(
            416,
            "text/plain; charset=utf-8",
            "invalid range: failed to overlap\n",
        )
        .header("X-Content-Type-Options", "nosniff")
        .header("Content-Range", format!("bytes */{}", content.len)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ranges_like_go() {
        assert_eq!(parse_range("bytes=0-9", 100), Range::One(0, 10));
        assert_eq!(parse_range("bytes=90-", 100), Range::One(90, 10));
        assert_eq!(parse_range("bytes=-10", 100), Range::One(90, 10));
        assert_eq!(parse_range("bytes=-1000", 100), Range::One(0, 100));
        assert_eq!(parse_range("bytes=95-200", 100), Range::One(95, 5));
        assert_eq!(parse_range("bytes=100-", 100), Range::NoOverlap);
        assert_eq!(parse_range("bytes=-0", 100), Range::NoOverlap);
        assert_eq!(parse_range("bytes=5-1", 100), Range::Invalid);
        assert_eq!(parse_range("items=0-1", 100), Range::Invalid);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Range::Whole);
        assert_eq!(parse_range("bytes=0-1,500-", 100), Range::One(0, 2));
    }

    #[test]
    fn matches_etags() {
        assert!(none_match("\"a\", \"b\"", "\"b\""));
        assert!(none_match("W/\"b\"", "\"b\""));
        assert!(none_match("*", "\"b\""));
        assert!(!none_match("\"a\"", "\"b\""));
    }
}
