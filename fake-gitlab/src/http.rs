//! The wire protocol: a small, hand-written HTTP/1.1 server side.
//!
//! Hand-written rather than taken from a crate so that every byte on the wire is under the
//! test's control: a fault can cut a body after N bytes, stall in the middle of it, or close
//! the socket with a TCP RST, which no general-purpose server library lets a handler do.
//!
//! What it understands: a request line, headers, and a request body framed by
//! `Content-Length` or `Transfer-Encoding: chunked` (with `Expect: 100-continue`); keep-alive
//! (HTTP/1.1 default, `Connection: close`, HTTP/1.0). What it writes: a status line, the
//! handler's headers, `Date`, `Content-Length` (always, except for 1xx/204/304), and a body
//! from memory, from a file on disk (64 KiB at a time) or from one zip entry.

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::world::Archive;

/// Most bytes accepted for a request line plus headers.
const MAX_HEAD: u64 = 64 * 1024;
/// Most bytes accepted for a request body (kept in memory).
const MAX_BODY: u64 = 256 * 1024 * 1024;
/// Size of the chunks in which file and zip-entry bodies are copied to the socket.
pub(crate) const CHUNK: usize = 64 * 1024;

/// One parsed request.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: String,
    /// The request target exactly as received.
    pub target: String,
    /// The raw (not decoded) path: the target up to the first `?`.
    pub path: String,
    /// Decoded query pairs (`+` is a space, as Rack decodes them).
    pub query: Vec<(String, String)>,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub keep_alive: bool,
    /// When the request line was read.
    pub at: Instant,
}

impl Request {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The first query parameter with this name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Drops the headers with this name (used by the `IgnoreRange` fault).
    pub fn without_header(mut self, name: &str) -> Request {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self
    }
}

/// Why no request could be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// The peer closed the connection between requests: the normal end of keep-alive.
    Closed,
    /// The bytes are not HTTP this server understands; answer 400 and close.
    Bad(&'static str),
    /// A transport error (reset, timeout): just drop the connection.
    Io,
}

impl From<io::Error> for ReadError {
    fn from(_: io::Error) -> ReadError {
        ReadError::Io
    }
}

/// Reads one request. `Expect: 100-continue` is answered on the same stream before the body
/// is read, as curl waits for it before a large PUT.
pub(crate) fn read_request<S: Read + Write>(
    reader: &mut BufReader<S>,
) -> Result<Request, ReadError> {
    let mut budget = MAX_HEAD;
    // RFC 9112 §2.2: ignore empty lines before the request line.
    let line = loop {
        match read_line(reader, &mut budget)? {
            None => return Err(ReadError::Closed),
            Some(l) if l.is_empty() => continue,
            Some(l) => break l,
        }
    };
    let at = Instant::now();
    let line = String::from_utf8(line).map_err(|_| ReadError::Bad("request line is not UTF-8"))?;
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ReadError::Bad("malformed request line"));
    };
    if method.is_empty() || target.is_empty() || !version.starts_with("HTTP/1.") {
        return Err(ReadError::Bad("malformed request line"));
    }
    let http10 = version == "HTTP/1.0";

    let mut headers = Vec::new();
    loop {
        let Some(l) = read_line(reader, &mut budget)? else {
            return Err(ReadError::Bad("connection closed inside the headers"));
        };
        if l.is_empty() {
            break;
        }
        let l = String::from_utf8_lossy(&l);
        let Some((name, value)) = l.split_once(':') else {
            return Err(ReadError::Bad("header line without a colon"));
        };
        if name.is_empty() || name.ends_with([' ', '\t']) {
            return Err(ReadError::Bad("malformed header name"));
        }
        headers.push((
            name.to_ascii_lowercase(),
            value.trim_matches([' ', '\t']).to_string(),
        ));
    }

    let find = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let connection = find("connection").unwrap_or("").to_ascii_lowercase();
    let keep_alive = if http10 {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    let chunked =
        find("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    let length = match find("content-length") {
        None => 0,
        Some(v) => v
            .parse::<u64>()
            .map_err(|_| ReadError::Bad("bad Content-Length"))?,
    };
    if length > MAX_BODY {
        return Err(ReadError::Bad("request body too large"));
    }
    if (chunked || length > 0)
        && find("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    {
        let stream = reader.get_mut();
        stream.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        stream.flush()?;
    }
    let body = if chunked {
        read_chunked(reader)?
    } else {
        let mut body = Vec::with_capacity(length.min(1 << 20) as usize);
        reader.by_ref().take(length).read_to_end(&mut body)?;
        if (body.len() as u64) < length {
            return Err(ReadError::Io);
        }
        body
    };

    let origin_form = origin_form(target);
    let (path, query) = origin_form.split_once('?').unwrap_or((origin_form, ""));
    Ok(Request {
        method: method.to_string(),
        target: target.to_string(),
        path: path.to_string(),
        query: parse_query(query),
        headers,
        body,
        keep_alive,
        at,
    })
}

/// The origin-form part (`/path?query`) of a request target. A client talking to a proxy
/// sends the absolute form (`http://host/path?query`), which RFC 9112 §3.2.2 says a server
/// must accept too; the authority form of `CONNECT` (`host:443`) and `*` are kept as they are
/// (and so match no route).
fn origin_form(target: &str) -> &str {
    if target.starts_with('/') {
        return target;
    }
    match target.split_once("://") {
        Some((scheme, rest)) if !scheme.is_empty() && !scheme.contains('/') => {
            match rest.find(['/', '?']) {
                Some(i) => &rest[i..],
                None => "/",
            }
        }
        _ => target,
    }
}

/// One CRLF- (or LF-) terminated line without its terminator; `None` at a clean EOF.
fn read_line(reader: &mut impl BufRead, budget: &mut u64) -> Result<Option<Vec<u8>>, ReadError> {
    let mut line = Vec::new();
    let n = reader
        .by_ref()
        .take(*budget + 1)
        .read_until(b'\n', &mut line)?;
    if n == 0 {
        return Ok(None);
    }
    if line.last() != Some(&b'\n') {
        return if n as u64 > *budget {
            Err(ReadError::Bad("request head too large"))
        } else {
            Err(ReadError::Io)
        };
    }
    *budget -= n as u64;
    line.pop();
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    Ok(Some(line))
}

/// A `Transfer-Encoding: chunked` body (trailers are read and dropped).
fn read_chunked(reader: &mut impl BufRead) -> Result<Vec<u8>, ReadError> {
    let mut body = Vec::new();
    let mut budget = MAX_HEAD;
    loop {
        let Some(size_line) = read_line(reader, &mut budget)? else {
            return Err(ReadError::Io);
        };
        let size_line = String::from_utf8_lossy(&size_line);
        let hex = size_line.split(';').next().unwrap_or("").trim();
        let size = u64::from_str_radix(hex, 16).map_err(|_| ReadError::Bad("bad chunk size"))?;
        if size == 0 {
            while let Some(l) = read_line(reader, &mut budget)? {
                if l.is_empty() {
                    break;
                }
            }
            return Ok(body);
        }
        if body.len() as u64 + size > MAX_BODY {
            return Err(ReadError::Bad("request body too large"));
        }
        let before = body.len();
        reader.by_ref().take(size).read_to_end(&mut body)?;
        if ((body.len() - before) as u64) < size {
            return Err(ReadError::Io);
        }
        if read_line(reader, &mut budget)?.is_none_or(|l| !l.is_empty()) {
            return Err(ReadError::Bad("chunk not followed by CRLF"));
        }
    }
}

/// Decodes `%XX` escapes (a `%` not followed by two hex digits stays as it is). `+` is kept.
pub(crate) fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && i + 2 < b.len()
            && let (Some(h), Some(l)) = (hex_val(b[i + 1]), hex_val(b[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

fn hex_val(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// `a=1&b=x+y%21` → `[("a","1"),("b","x y!")]`; invalid UTF-8 is replaced, not refused.
pub(crate) fn parse_query(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let dec = |s: &str| {
                String::from_utf8_lossy(&percent_decode(&s.replace('+', " "))).into_owned()
            };
            (dec(k), dec(v))
        })
        .collect()
}

/// Lower-case hex of some bytes.
pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A UTC time broken down: year, month (1–12), day, hour, minute, second, weekday (0 = Sunday).
struct Civil {
    year: i64,
    month: usize,
    day: i64,
    hour: u64,
    minute: u64,
    second: u64,
    weekday: usize,
}

fn civil(t: SystemTime) -> Civil {
    let secs = t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    Civil {
        year: yoe + era * 400 + i64::from(month <= 2),
        month: month as usize,
        day,
        hour: rem / 3600,
        minute: rem / 60 % 60,
        second: rem % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7) as usize,
    }
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), as `Date`, `Last-Modified` use.
pub(crate) fn http_date(t: SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[c.weekday],
        c.day,
        MONTHS[c.month - 1],
        c.year,
        c.hour,
        c.minute,
        c.second
    )
}

/// ISO 8601 in UTC with milliseconds (`2015-12-24T15:51:21.880Z`), as GitLab's JSON has its
/// times (whole seconds here, so always `.000`).
pub(crate) fn iso8601(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.000Z",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    )
}

/// The reason phrase for a status code.
pub(crate) fn reason(code: u16) -> &'static str {
    match code {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        413 => "Payload Too Large",
        416 => "Range Not Satisfiable",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Unknown",
    }
}

/// Where a response body comes from.
pub(crate) enum Body {
    Empty,
    Bytes(Vec<u8>),
    /// A slice of an in-memory archive (no copy).
    Shared {
        data: Arc<Vec<u8>>,
        start: usize,
        len: usize,
    },
    /// A byte range of a file, streamed from disk.
    File {
        path: PathBuf,
        start: u64,
        len: u64,
    },
    /// The uncompressed content of entry `index` of a zip archive, streamed.
    ZipEntry {
        archive: Archive,
        index: usize,
        len: u64,
    },
}

impl Body {
    pub fn len(&self) -> u64 {
        match self {
            Body::Empty => 0,
            Body::Bytes(b) => b.len() as u64,
            Body::Shared { len, .. } => *len as u64,
            Body::File { len, .. } | Body::ZipEntry { len, .. } => *len,
        }
    }
}

/// A response a handler built; written by [`write_response`].
pub(crate) struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Body,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    /// `Content-Type: application/json` with this exact body.
    pub fn json(status: u16, body: impl Into<String>) -> Response {
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(body.into().into_bytes())
    }

    /// A text body with this exact Content-Type.
    pub fn typed(status: u16, content_type: &str, body: impl Into<String>) -> Response {
        Response::new(status)
            .header("Content-Type", content_type)
            .body(body.into().into_bytes())
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Response {
        self.body = Body::Bytes(body);
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// How the body of a response is to be (mis)delivered; see `FaultKind`.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Shape {
    Normal,
    /// Send this many body bytes, then RST.
    ResetAfter(u64),
    /// Send this many body bytes, then FIN.
    Truncate(u64),
    /// Send this many body bytes, pause, then the rest.
    StallAfter(u64, Duration),
}

/// What the connection must do after a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ending {
    KeepAlive,
    /// Close cleanly (FIN).
    Close,
    /// Close with a TCP RST.
    Reset,
}

/// Writes a response. `pause` sleeps (interruptibly) for `StallAfter`.
pub(crate) fn write_response<W: Write>(
    out: &mut W,
    resp: &Response,
    head_only: bool,
    keep_alive: bool,
    shape: Shape,
    pause: &dyn Fn(Duration),
) -> io::Result<Ending> {
    let mut head = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    let mut has_date = false;
    for (k, v) in &resp.headers {
        has_date |= k.eq_ignore_ascii_case("date");
        let _ = write!(head, "{k}: {v}\r\n");
    }
    if !has_date {
        let _ = write!(head, "Date: {}\r\n", http_date(SystemTime::now()));
    }
    let body_len = resp.body.len();
    let bodiless = resp.status < 200 || resp.status == 204 || resp.status == 304;
    if !bodiless && resp.get_header("content-length").is_none() {
        let _ = write!(head, "Content-Length: {body_len}\r\n");
    }
    let close_after = !keep_alive || matches!(shape, Shape::ResetAfter(_) | Shape::Truncate(_));
    if close_after && !matches!(shape, Shape::ResetAfter(_) | Shape::Truncate(_)) {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())?;

    let (limit, stall) = match shape {
        Shape::Normal => (None, None),
        Shape::ResetAfter(n) | Shape::Truncate(n) => (Some(n), None),
        Shape::StallAfter(n, d) => (None, Some((n, d))),
    };
    if !head_only && !bodiless {
        let mut sink = Shaped {
            out: &mut *out,
            sent: 0,
            limit,
            stall,
            pause,
        };
        copy_body(&resp.body, &mut sink)?;
    }
    out.flush()?;
    Ok(match shape {
        Shape::ResetAfter(_) => Ending::Reset,
        Shape::Truncate(_) => Ending::Close,
        _ if close_after => Ending::Close,
        _ => Ending::KeepAlive,
    })
}

/// A writer that stops after `limit` bytes and pauses once at `stall`.
struct Shaped<'a, W: Write> {
    out: &'a mut W,
    sent: u64,
    limit: Option<u64>,
    stall: Option<(u64, Duration)>,
    pause: &'a dyn Fn(Duration),
}

impl<W: Write> Shaped<'_, W> {
    /// Sends what it may of `data`; `false` once the limit is reached (stop copying).
    fn emit(&mut self, mut data: &[u8]) -> io::Result<bool> {
        if let Some(limit) = self.limit {
            let room = limit.saturating_sub(self.sent);
            if (data.len() as u64) > room {
                data = &data[..room as usize];
            }
        }
        if let Some((at, d)) = self.stall
            && self.sent + data.len() as u64 >= at
        {
            let first = (at - self.sent) as usize;
            self.out.write_all(&data[..first])?;
            self.out.flush()?;
            self.sent += first as u64;
            (self.pause)(d);
            self.stall = None;
            data = &data[first..];
        }
        self.out.write_all(data)?;
        self.sent += data.len() as u64;
        Ok(self.limit.is_none_or(|l| self.sent < l))
    }
}

fn copy_body<W: Write>(body: &Body, sink: &mut Shaped<'_, W>) -> io::Result<()> {
    match body {
        Body::Empty => Ok(()),
        Body::Bytes(b) => sink.emit(b).map(drop),
        Body::Shared { data, start, len } => sink.emit(&data[*start..*start + *len]).map(drop),
        Body::File { path, start, len } => {
            let mut f = File::open(path)?;
            f.seek(SeekFrom::Start(*start))?;
            copy_reader(&mut f.take(*len), *len, sink)
        }
        Body::ZipEntry {
            archive,
            index,
            len,
        } => archive.with_entry(*index, &mut |r| copy_reader(r, *len, sink)),
    }
}

fn copy_reader<W: Write>(r: &mut dyn Read, len: u64, sink: &mut Shaped<'_, W>) -> io::Result<()> {
    let mut buf = vec![0u8; CHUNK];
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "body source shorter than its Content-Length",
            ));
        }
        left -= n as u64;
        if !sink.emit(&buf[..n])? {
            return Ok(());
        }
    }
    Ok(())
}

/// A connection's byte stream: plain TCP or TLS over TCP.
pub(crate) enum Stream {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ServerConnection, TcpStream>>),
}

impl Stream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            Stream::Plain(s) => s,
            Stream::Tls(s) => &s.sock,
        }
    }

    /// Sends TLS close_notify (nothing for plain TCP); errors are irrelevant at this point.
    pub fn close_notify(&mut self) {
        if let Stream::Tls(s) = self {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_percent_and_query() {
        assert_eq!(percent_decode("group%2Fsub%2fx"), b"group/sub/x");
        assert_eq!(percent_decode("a%2"), b"a%2");
        assert_eq!(percent_decode("a%zz+"), b"a%zz+");
        assert_eq!(
            parse_query("job=test+1%2F3&x&job_token="),
            vec![
                ("job".into(), "test 1/3".into()),
                ("x".into(), String::new()),
                ("job_token".into(), String::new())
            ]
        );
    }

    #[test]
    fn formats_http_dates() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        let t = UNIX_EPOCH + Duration::from_secs(951_782_400); // leap day 2000
        assert_eq!(http_date(t), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(iso8601(t), "2000-02-29T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_748_736_000 + 3_723);
        assert_eq!(iso8601(t), "2025-06-01T01:02:03.000Z");
    }

    #[test]
    fn parses_a_request_with_chunked_body() {
        let raw = b"\r\nPUT /x?a=1 HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
        let mut r = BufReader::new(io::Cursor::new(raw.to_vec()));
        let req = read_request(&mut r).map_err(|e| format!("{e:?}")).unwrap();
        assert_eq!(req.method, "PUT");
        assert_eq!(req.path, "/x");
        assert_eq!(req.query_param("a"), Some("1"));
        assert_eq!(req.header("HOST"), Some("h"));
        assert_eq!(req.body, b"abc");
        assert!(req.keep_alive);
        assert!(matches!(read_request(&mut r), Err(ReadError::Closed)));
    }

    #[test]
    fn accepts_absolute_form_targets() {
        let raw = b"GET http://gitlab.example.test/api/v4/job?a=1 HTTP/1.1\r\n\r\n";
        let mut r = BufReader::new(io::Cursor::new(raw.to_vec()));
        let req = read_request(&mut r).map_err(|e| format!("{e:?}")).unwrap();
        assert_eq!(req.target, "http://gitlab.example.test/api/v4/job?a=1");
        assert_eq!(req.path, "/api/v4/job");
        assert_eq!(req.query_param("a"), Some("1"));
        assert_eq!(origin_form("http://h"), "/");
        let raw = b"GET https://h/api/v4/job HTTP/1.1\r\n\r\n";
        let mut r = BufReader::new(io::Cursor::new(raw.to_vec()));
        let req = read_request(&mut r).map_err(|e| format!("{e:?}")).unwrap();
        assert_eq!(req.path, "/api/v4/job");
        assert_eq!(origin_form("h:443"), "h:443");
    }
}
