//! The server machinery between sockets and routes: the state both origins share, the accept
//! loops, one thread per connection, the request log, and where faults are applied.
//!
//! A connection thread reads a request, logs it, takes the first queued fault that matches it,
//! asks the origin's routes for a response (unless the fault replaces it), and writes it as
//! the fault shapes it. Every error on a connection ends only that connection: a client that
//! hangs up is normal, so nothing here panics on I/O, and every lock tolerates poisoning.
//!
//! Every response goes out through a [`Metered`] socket, which counts the bytes for
//! [`Server::bytes_sent`](crate::Server::bytes_sent) and, under
//! [`Config::throttle_bytes_per_sec`], paces archive bodies through the one shared [`Link`].

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use crate::http::{self, Body, Ending, ReadError, Request, Response, Shape, Stream};
use crate::world::World;
use crate::{Config, Fault, FaultKind, LoggedRequest, Origin, routes, storage};

/// Idle keep-alive connections (and clients that stop reading) are dropped after this long.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Locks a mutex, ignoring poisoning: the data stays usable after a panicking test thread.
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A presigned URL's state.
pub(crate) struct Signature {
    pub job_id: u64,
    pub expired: bool,
}

/// Everything the connection threads of both origins share.
pub(crate) struct Shared {
    pub config: Config,
    /// `http(s)://127.0.0.1:PORT` of the API origin.
    pub api_base: String,
    /// `http(s)://127.0.0.1:PORT` of the storage origin.
    pub storage_base: String,
    pub world: Mutex<World>,
    pub log: Mutex<Vec<LoggedRequest>>,
    /// Notified on every logged request, for [`crate::Server::wait_for_request`].
    pub logged: Condvar,
    pub faults: Mutex<VecDeque<Fault>>,
    /// Presigned-URL signatures minted so far.
    pub signatures: Mutex<HashMap<String, Signature>>,
    /// Dates in-memory archives (`Last-Modified`).
    pub started: SystemTime,
    pub log_to_stderr: AtomicBool,
    /// Bytes written to client sockets, both origins (`Server::bytes_sent`).
    pub bytes_sent: AtomicU64,
    /// The simulated network link that throttled bodies share.
    link: Mutex<Link>,
    stopping: Mutex<bool>,
    wake: Condvar,
    /// Clones of the open connections' sockets, to shut them down when the server stops.
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_conn: AtomicU64,
}

impl Shared {
    pub fn new(config: Config, api_base: String, storage_base: String) -> Shared {
        Shared {
            config,
            api_base,
            storage_base,
            world: Mutex::new(World::demo()),
            log: Mutex::new(Vec::new()),
            logged: Condvar::new(),
            faults: Mutex::new(VecDeque::new()),
            signatures: Mutex::new(HashMap::new()),
            started: SystemTime::now(),
            log_to_stderr: AtomicBool::new(false),
            bytes_sent: AtomicU64::new(0),
            link: Mutex::new(Link { free_at: None }),
            stopping: Mutex::new(false),
            wake: Condvar::new(),
            conns: Mutex::new(HashMap::new()),
            next_conn: AtomicU64::new(0),
        }
    }

    pub fn is_stopping(&self) -> bool {
        *lock(&self.stopping)
    }

    /// Sleeps for `d`, or less if the server stops meanwhile.
    pub fn pause(&self, d: Duration) {
        let deadline = Instant::now() + d;
        let mut stopping = lock(&self.stopping);
        while !*stopping {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            stopping = self
                .wake
                .wait_timeout(stopping, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }

    /// Marks the server as stopping, wakes paused connections and shuts all sockets down.
    pub fn stop(&self) {
        *lock(&self.stopping) = true;
        self.wake.notify_all();
        for (_, s) in lock(&self.conns).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }

    /// Takes the first queued fault for this origin whose `path_contains` is in `path` (and
    /// whose endpoint, if it names one, is the path's).
    fn take_fault(&self, origin: Origin, path: &str) -> Option<FaultKind> {
        let endpoint = match origin {
            Origin::Api => routes::endpoint(path),
            Origin::Storage => None,
        };
        let mut faults = lock(&self.faults);
        let i = faults.iter().position(|f| {
            f.origin == origin
                && f.times > 0
                && path.contains(&f.path_contains)
                && f.endpoint.is_none_or(|e| endpoint == Some(e))
        })?;
        let kind = faults[i].kind.clone();
        faults[i].times -= 1;
        if faults[i].times == 0 {
            faults.remove(i);
        }
        Some(kind)
    }

    /// A fresh presigned storage URL for a job's archive.
    pub fn mint_presigned_url(&self, job_id: u64) -> String {
        let mut raw = [0u8; 32];
        let signature =
            match ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut raw) {
                Ok(()) => http::hex(&raw),
                // No system randomness: still unique within this server.
                Err(_) => format!(
                    "{:064x}",
                    self.next_conn.fetch_add(1, Ordering::Relaxed) ^ 0x5eed
                ),
            };
        lock(&self.signatures).insert(
            signature.clone(),
            Signature {
                job_id,
                expired: false,
            },
        );
        format!(
            "{}/artifacts/{job_id}/artifacts.zip?X-Amz-Expires=300&X-Amz-Signature={signature}",
            self.storage_base
        )
    }
}

/// Accepts connections until the server stops; one thread per connection.
pub(crate) fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    origin: Origin,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    for conn in listener.incoming() {
        if shared.is_stopping() {
            break;
        }
        let Ok(tcp) = conn else {
            // EMFILE and the like: back off a little rather than spin.
            thread::sleep(Duration::from_millis(10));
            continue;
        };
        let Ok(clone) = tcp.try_clone() else {
            continue;
        };
        let id = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        lock(&shared.conns).insert(id, clone);
        let shared2 = shared.clone();
        let tls = tls.clone();
        let spawned = thread::Builder::new()
            .name(format!("fake-gitlab-{origin:?}-{id}").to_lowercase())
            .spawn(move || connection(&shared2, id, origin, tcp, tls));
        if spawned.is_err() {
            lock(&shared.conns).remove(&id);
        }
    }
}

/// Runs one connection to its end, then closes it (with a RST if a fault asked for one).
fn connection(
    shared: &Shared,
    id: u64,
    origin: Origin,
    tcp: TcpStream,
    tls: Option<Arc<rustls::ServerConfig>>,
) {
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(Some(IDLE_TIMEOUT));
    // A client that stops reading (without closing) must not hold a thread forever.
    let _ = tcp.set_write_timeout(Some(IDLE_TIMEOUT));
    let stream = match tls {
        None => Stream::Plain(tcp),
        Some(cfg) => match rustls::ServerConnection::new(cfg) {
            Ok(c) => Stream::Tls(Box::new(rustls::StreamOwned::new(c, tcp))),
            Err(_) => {
                lock(&shared.conns).remove(&id);
                return;
            }
        },
    };
    let mut reader = BufReader::new(stream);
    let ending = serve_requests(shared, origin, &mut reader);
    // The registry's clone must go first: the socket closes when its last descriptor does.
    lock(&shared.conns).remove(&id);
    let mut stream = reader.into_inner();
    match ending {
        Ending::Reset => {
            let _ = socket2::SockRef::from(stream.tcp()).set_linger(Some(Duration::ZERO));
        }
        Ending::Close | Ending::KeepAlive => {
            stream.close_notify();
            let _ = stream.tcp().shutdown(Shutdown::Write);
            // Read what the client still sends (its close_notify, its FIN) so that closing
            // does not turn into a RST because of unread data.
            let _ = stream.tcp().set_read_timeout(Some(Duration::from_secs(2)));
            let mut sink = [0u8; 4096];
            let mut tcp = stream.tcp();
            for _ in 0..64 {
                match tcp.read(&mut sink) {
                    Ok(n) if n > 0 => continue,
                    _ => break,
                }
            }
        }
    }
    drop(stream);
}

/// Serves requests on a connection until it should end; returns how to end it.
fn serve_requests(shared: &Shared, origin: Origin, reader: &mut BufReader<Stream>) -> Ending {
    loop {
        let req = match http::read_request(reader) {
            Ok(r) => r,
            Err(ReadError::Closed | ReadError::Io) => return Ending::Close,
            Err(ReadError::Bad(why)) => {
                let resp = Response::typed(400, "text/plain; charset=utf-8", format!("{why}\n"));
                let _ = http::write_response(
                    &mut Metered::new(shared, reader.get_mut(), &resp),
                    &resp,
                    false,
                    false,
                    Shape::Normal,
                    &|_| {},
                );
                return Ending::Close;
            }
        };
        log_request(shared, origin, &req);
        let fault = shared.take_fault(origin, &req.path);

        let mut shape = Shape::Normal;
        let mut delay = None;
        let mut req = req;
        let resp = match fault {
            Some(FaultKind::Reset) => {
                log_stderr(shared, origin, &req, "RST");
                return Ending::Reset;
            }
            Some(FaultKind::Status {
                code,
                headers,
                body,
            }) => {
                let mut r = Response::new(code).body(body.into_bytes());
                r.headers = headers;
                r
            }
            Some(FaultKind::Html(code)) => html_error(code),
            Some(FaultKind::Respond {
                code,
                headers,
                body,
            }) => {
                let mut r = Response::new(code).body(body);
                r.headers = headers;
                r
            }
            Some(FaultKind::StripValidators) => {
                let mut r = match origin {
                    Origin::Api => routes::handle(shared, &req),
                    Origin::Storage => storage::handle(shared, &req),
                };
                r.headers.retain(|(name, _)| {
                    !name.eq_ignore_ascii_case("etag")
                        && !name.eq_ignore_ascii_case("last-modified")
                });
                r
            }
            other => {
                match other {
                    Some(FaultKind::ResetAfter(n)) => shape = Shape::ResetAfter(n),
                    Some(FaultKind::Truncate(n)) => shape = Shape::Truncate(n),
                    Some(FaultKind::StallAfter(n, d)) => shape = Shape::StallAfter(n, d),
                    Some(FaultKind::Delay(d)) => delay = Some(d),
                    Some(FaultKind::IgnoreRange) => {
                        req = req.without_header("range").without_header("if-range");
                    }
                    Some(FaultKind::ExpireSignatures) => {
                        for s in lock(&shared.signatures).values_mut() {
                            s.expired = true;
                        }
                    }
                    _ => {}
                }
                match origin {
                    Origin::Api => routes::handle(shared, &req),
                    Origin::Storage => storage::handle(shared, &req),
                }
            }
        };
        if let Some(d) = delay {
            shared.pause(d);
        }
        let head_only = req.method == "HEAD";
        let written = http::write_response(
            &mut Metered::new(shared, reader.get_mut(), &resp),
            &resp,
            head_only,
            req.keep_alive,
            shape,
            &|d| shared.pause(d),
        );
        let note = match shape {
            Shape::Normal => String::new(),
            Shape::ResetAfter(n) => format!(" (RST after {n} body bytes)"),
            Shape::Truncate(n) => format!(" (truncated after {n} body bytes)"),
            Shape::StallAfter(n, d) => format!(" (stalled {d:?} after {n} body bytes)"),
        };
        log_stderr(shared, origin, &req, &format!("{}{note}", resp.status));
        match written {
            Ok(Ending::KeepAlive) if !shared.is_stopping() => continue,
            Ok(ending) => return ending,
            Err(_) => return Ending::Close,
        }
    }
}

/// The one network link of a throttled server: when it is next free to carry bytes.
struct Link {
    free_at: Option<Instant>,
}

/// How far a link that was idle may run ahead: a token bucket this deep, so that a pacing
/// sleep that overshoots is made up for instead of lowering the rate.
const LINK_BURST: Duration = Duration::from_millis(10);

impl Shared {
    /// Books `n` bytes on the link at `rate` bytes/s and returns when they will have passed.
    fn book_link(&self, n: u64, rate: u64) -> Instant {
        let now = Instant::now();
        let mut link = lock(&self.link);
        let earliest = now.checked_sub(LINK_BURST).unwrap_or(now);
        let start = link.free_at.map_or(earliest, |t| t.max(earliest));
        let done = start + Duration::from_secs_f64(n as f64 / rate.max(1) as f64);
        link.free_at = Some(done);
        done
    }
}

/// A client socket as `write_response` sees it: counts every byte written and, when the
/// server is throttled and the response carries archive bytes, paces the writes so that all
/// such bodies together go no faster than the configured rate.
struct Metered<'a, W: Write> {
    shared: &'a Shared,
    inner: &'a mut W,
    /// Bytes per second, when this response is paced.
    rate: Option<u64>,
}

impl<'a, W: Write> Metered<'a, W> {
    fn new(shared: &'a Shared, inner: &'a mut W, resp: &Response) -> Metered<'a, W> {
        let archive_bytes = matches!(
            resp.body,
            Body::File { .. } | Body::Shared { .. } | Body::ZipEntry { .. }
        );
        Metered {
            shared,
            inner,
            rate: shared
                .config
                .throttle_bytes_per_sec
                .filter(|_| archive_bytes),
        }
    }
}

impl<W: Write> Write for Metered<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let counter = &self.shared.bytes_sent;
        let Some(rate) = self.rate else {
            let n = self.inner.write(buf)?;
            counter.fetch_add(n as u64, Ordering::Relaxed);
            return Ok(n);
        };
        // Slices of at most 5 ms of link time (and 64 KiB), so pacing stays smooth.
        let slice = usize::try_from(rate / 200)
            .unwrap_or(usize::MAX)
            .clamp(1024, 64 * 1024);
        let n = self.inner.write(&buf[..buf.len().min(slice)])?;
        counter.fetch_add(n as u64, Ordering::Relaxed);
        let done = self.shared.book_link(n as u64, rate);
        let now = Instant::now();
        if done > now {
            thread::sleep(done - now);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

fn log_request(shared: &Shared, origin: Origin, req: &Request) {
    lock(&shared.log).push(LoggedRequest {
        origin,
        method: req.method.clone(),
        target: req.target.clone(),
        path: req.path.clone(),
        query: req.query.clone(),
        headers: req.headers.clone(),
        at: req.at,
    });
    shared.logged.notify_all();
}

/// One line per request on stderr (the binary turns this on), secrets in the query redacted.
fn log_stderr(shared: &Shared, origin: Origin, req: &Request, outcome: &str) {
    if !shared.log_to_stderr.load(Ordering::Relaxed) {
        return;
    }
    let origin = match origin {
        Origin::Api => "api",
        Origin::Storage => "storage",
    };
    eprintln!(
        "fake-gitlab: {origin} {} {} -> {outcome}",
        req.method,
        redact_target(&req.target)
    );
}

/// The target with the values of token and signature parameters replaced.
pub(crate) fn redact_target(target: &str) -> String {
    let Some((path, query)) = target.split_once('?') else {
        return target.to_string();
    };
    const SECRET: [&str; 5] = [
        "job_token",
        "token",
        "private_token",
        "access_token",
        "x-amz-signature",
    ];
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((k, _)) if SECRET.contains(&k.to_ascii_lowercase().as_str()) => {
                format!("{k}=[REDACTED]")
            }
            _ => pair.to_string(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// The HTML error page a reverse proxy in front of GitLab answers with.
fn html_error(code: u16) -> Response {
    let title = format!("{code} {}", http::reason(code));
    Response::typed(
        code,
        "text/html",
        format!(
            "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
        ),
    )
    .header("Server", "nginx")
}

/// Makes a listener's blocked `accept` return, so its loop sees the stop flag.
pub(crate) fn wake_listener(port: u16) {
    let _ = TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    );
}

/// A way for `io::Error` on listener setup to carry context.
pub(crate) fn context(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_secrets_in_targets() {
        assert_eq!(
            redact_target("/a?job=x&job_token=s3cr3t&X-Amz-Signature=ab&token="),
            "/a?job=x&job_token=[REDACTED]&X-Amz-Signature=[REDACTED]&token=[REDACTED]"
        );
        assert_eq!(redact_target("/a"), "/a");
    }
}
