//! HTTP with GitLab's rules: who gets the token, which redirects to follow, when to retry.
//!
//! ureq does the wire work; this module owns the policy, because the library defaults are
//! wrong for a CI credential:
//! - `JOB-TOKEN` (or `fetch`'s `PRIVATE-TOKEN` from `GLJOB_TOKEN`) goes only to the API
//!   origin (scheme, host and port). ureq's redirect handling strips only `Authorization`,
//!   so redirects are followed here (at most [`MAX_REDIRECTS`] hops), and an https→http
//!   downgrade is refused.
//! - No credential from a URL is ever sent or printed: userinfo is dropped before every
//!   request (ureq would send it as Basic auth, to whichever host the URL names), and
//!   [`redact`] hides it and credential-like query values in everything gljob prints.
//! - 429, 5xx and transport errors are retried with exponential backoff and jitter, honouring
//!   `Retry-After` (seconds or HTTP date) and `RateLimit-Reset`, within a bounded number of
//!   attempts and a bounded total wait. 401, 403 and 404 are never retried.
//! - A connect timeout and an idle (per-read) timeout, but no total timeout: artifact
//!   downloads can take long.
//! - TLS through rustls with Mozilla's roots built in, plus `CI_SERVER_TLS_CA_FILE` /
//!   `SSL_CERT_FILE`, so it works in images with no CA bundle at all.

use std::fmt;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use ureq::http::Response;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::{Agent, Body};

use crate::config::{Config, Token};
use crate::error::{Failure, Kind, fail};
use crate::term;
use crate::url::{Origin, redact, resolve, without_userinfo};

pub const MAX_REDIRECTS: usize = 5;
/// The longest gljob waits in total between attempts of one request.
const MAX_TOTAL_WAIT: Duration = Duration::from_secs(120);
/// The first backoff; it doubles per attempt, with jitter, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(500);
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// The longest wait gljob takes from a server's `Retry-After` or `RateLimit-Reset`: longer
/// asks are cut to this. It is still more than [`MAX_TOTAL_WAIT`], so a cut ask keeps its
/// meaning (one more try, then the answer is final), and no sum of waits can overflow.
pub const MAX_SERVER_WAIT: Duration = Duration::from_secs(24 * 60 * 60);
const _: () = assert!(MAX_SERVER_WAIT.as_secs() > MAX_TOTAL_WAIT.as_secs());
/// Error bodies are read only this far: enough for GitLab's JSON, bounded against a hostile server.
const ERROR_BODY_LIMIT: u64 = 64 * 1024;

/// A final HTTP status of 400 or more, kept typed so each command can explain it.
#[derive(Debug)]
pub struct HttpError {
    pub method: &'static str,
    /// The URL with secrets removed from its query.
    pub url: String,
    pub status: u16,
    /// GitLab's `message` or `error`, a storage XML code, or the first line of a text body.
    pub message: Option<String>,
    pub attempts: u32,
    /// Whether GitLab's API answered (rather than object storage behind a redirect).
    pub api_origin: bool,
    /// GitLab's API has no such route: its catch-all answers `{"error":"404 Not Found"}`,
    /// where a route that exists says `{"message":"404 Not Found"}` for a missing thing
    /// (`CI_API_V4_URL` without `/api/v4` gets the first). Without this, "no route" read
    /// as "no artifacts archive".
    pub no_route: bool,
}

impl HttpError {
    /// "GET https://… → 404 (404 Project Not Found)": what gljob tried, for error details.
    pub fn tried(&self) -> String {
        let mut s = format!("tried: {} {} → {}", self.method, self.url, self.status);
        if let Some(m) = &self.message {
            s.push_str(&format!(" {m:?}"));
        }
        if self.attempts > 1 {
            s.push_str(&format!(" after {} attempts", self.attempts));
        }
        s
    }

    /// Whether GitLab's message says exactly this (e.g. "404 Project Not Found").
    pub fn says(&self, text: &str) -> bool {
        self.message.as_deref() == Some(text)
    }

    /// The generic explanation, for statuses a command has nothing special to say about.
    pub fn into_failure(self) -> Failure {
        let kind = Kind::for_status(self.status);
        let title = match self.status {
            401 => "GitLab rejected the job token (401 Unauthorized)".to_string(),
            403 => "GitLab refused access (403 Forbidden)".to_string(),
            404 if self.no_route => "GitLab has no such route (404)".to_string(),
            404 => "GitLab answered 404 Not Found".to_string(),
            429 => "GitLab kept answering 429 Too Many Requests".to_string(),
            s if s >= 500 => format!("the server kept failing ({s})"),
            s => format!("GitLab answered {s}"),
        };
        let mut failure = fail(kind, title).detail(self.tried());
        match self.status {
            401 => failure = failure.hint(TOKEN_HINT),
            404 if self.no_route => failure = failure.hint(NO_ROUTE_HINT),
            429 => failure = failure.hint(RETRY_HINT),
            s if s >= 500 => failure = failure.hint(RETRY_HINT),
            _ => {}
        }
        failure
    }
}

pub const TOKEN_HINT: &str = "CI_JOB_TOKEN is valid only while its job is running; make sure GitLab set it (do not override it) and that this step runs inside that job";
/// What every command says when GitLab's API has no route for a request: most likely the
/// base URL (`CI_API_V4_URL` without `/api/v4`), else a GitLab too old for the route.
pub const NO_ROUTE_HINT: &str = "check that CI_API_V4_URL is GitLab's API base, ending in /api/v4 (e.g. https://gitlab.example.com/api/v4), and that --project is an id or a full path";
const RETRY_HINT: &str =
    "GitLab or the network is having trouble; retry the job later, or raise GLJOB_RETRIES";

impl fmt::Display for HttpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} → {}", self.method, self.url, self.status)
    }
}

impl std::error::Error for HttpError {}

/// Which credential a transport sends to the API origin (and only there).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    /// `CI_JOB_TOKEN`, as `JOB-TOKEN`.
    JobToken,
    /// `GLJOB_TOKEN`, a project or group access token, as `PRIVATE-TOKEN` (GitLab reads a
    /// job token's header as a job token only: an access token there is a 401).
    AccessToken,
}

impl Credential {
    /// The request header it goes in.
    pub fn header(self) -> &'static str {
        match self {
            Credential::JobToken => "JOB-TOKEN",
            Credential::AccessToken => "PRIVATE-TOKEN",
        }
    }

    /// The variable it comes from, for messages.
    pub fn variable(self) -> &'static str {
        match self {
            Credential::JobToken => "CI_JOB_TOKEN",
            Credential::AccessToken => "GLJOB_TOKEN",
        }
    }
}

/// The one HTTP client of gljob.
pub struct Transport {
    agent: Agent,
    api: Origin,
    token: Token,
    credential: Credential,
    retries: u32,
    debug: bool,
    quiet: bool,
}

impl Transport {
    /// Builds the client for `config` with the job token: the agent, TLS roots and proxy. A
    /// bad CA file is exit 3.
    pub fn new(config: &Config) -> Result<Transport> {
        Transport::with(
            config,
            config.require_token()?.clone(),
            Credential::JobToken,
        )
    }

    /// The client of `fetch`: `GLJOB_TOKEN` when it is set (what a job token cannot do),
    /// else the job token.
    pub fn for_fetch(config: &Config) -> Result<Transport> {
        match &config.access_token {
            Some(token) => Transport::with(config, token.clone(), Credential::AccessToken),
            None => Transport::new(config),
        }
    }

    /// Which credential this client sends.
    pub fn credential(&self) -> Credential {
        self.credential
    }

    fn with(config: &Config, token: Token, credential: Credential) -> Result<Transport> {
        let api_url = config.require_api_url()?;
        let api = Origin::of(api_url).ok_or_else(|| {
            fail(
                Kind::Config,
                format!("CI_API_V4_URL is not a usable URL: {:?}", redact(api_url)),
            )
        })?;

        let agent = Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(format!("gljob/{}", env!("CARGO_PKG_VERSION")))
            .timeout_connect(Some(config.connect_timeout))
            .timeout_per_read(Some(config.idle_timeout))
            .tls_config(TlsConfig::builder().root_certs(root_certs(config)?).build())
            .proxy(proxy(config)?)
            .build()
            .new_agent();

        Ok(Transport {
            agent,
            api,
            token,
            credential,
            retries: config.retries,
            debug: config.debug,
            quiet: false,
        })
    }

    /// How many times transient failures are retried (`GLJOB_RETRIES`).
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// Silences retry warnings (`--quiet`); errors still reach stderr.
    pub fn set_quiet(&mut self, quiet: bool) {
        self.quiet = quiet;
    }

    /// GET `url`, following redirects under gljob's policy and retrying transient failures.
    /// Returns the final response when its status is below 400; otherwise an [`HttpError`]
    /// (exit code by status) or a network [`Failure`] (exit 7).
    pub fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response<Body>> {
        // Userinfo is never sent (ureq would make it Basic auth): config refuses it in the
        // API URL, and this drops it from whatever URL a caller passes.
        let mut url = without_userinfo(url);
        for _ in 0..=MAX_REDIRECTS {
            let (response, attempts) = self.send_with_retries(&url, headers)?;
            let status = response.status().as_u16();
            if matches!(status, 301 | 302 | 303 | 307 | 308) {
                url = self.next_hop(&url, &response)?;
                continue;
            }
            if status >= 400 {
                let api_origin = Origin::of(&url).as_ref() == Some(&self.api);
                return Err(read_http_error(&url, response, attempts, api_origin).into());
            }
            return Ok(response);
        }
        Err(fail(
            Kind::Network,
            format!("more than {MAX_REDIRECTS} redirects"),
        )
        .detail(format!("last: GET {}", redact(&url)))
        .hint("a proxy or GitLab's object storage configuration is redirecting in a loop")
        .into())
    }

    fn next_hop(&self, from: &str, response: &Response<Body>) -> Result<String> {
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                fail(Kind::Network, "a redirect without a usable Location header").detail(format!(
                    "tried: GET {} → {}",
                    redact(from),
                    response.status().as_u16()
                ))
            })?;
        let to = resolve(from, location).ok_or_else(|| {
            fail(Kind::Network, "a redirect to an unusable URL").detail(format!(
                "tried: GET {} → {}",
                redact(from),
                response.status().as_u16()
            ))
        })?;
        if from.starts_with("https:") && to.starts_with("http:") {
            return Err(fail(Kind::Network, "refused a redirect from https to plain http")
                .detail(format!("tried: GET {} → {}, Location: {}", redact(from), response.status().as_u16(), redact(&to)))
                .hint("GitLab's object storage (or a proxy) must be served over https; ask the GitLab administrators")
                .into());
        }
        self.log(format_args!("redirect → {}", redact(&to)));
        // Userinfo in a Location is dropped, not sent (the log above shows it was there as
        // `REDACTED@`): presigned storage URLs never need it, and ureq would make it Basic
        // auth for a host gljob does not trust with credentials.
        Ok(without_userinfo(&to))
    }

    /// One hop, with retries. Returns the response (any status) and the attempts it took.
    fn send_with_retries(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<(Response<Body>, u32)> {
        let mut waited = Duration::ZERO;
        let mut attempt: u32 = 1;
        loop {
            // `asked`: the header that set the wait, when the server set it.
            let (wait, why, asked) = match self.send_once(url, headers) {
                Ok(response) => {
                    let status = response.status().as_u16();
                    if !(status == 429 || status >= 500) || attempt > self.retries {
                        return Ok((response, attempt));
                    }
                    match asked_wait(&response) {
                        Some((wait, asked)) => (wait, format!("{status}"), Some(asked)),
                        None => (backoff(attempt), format!("{status}"), None),
                    }
                }
                Err(err) => {
                    let failure = network_failure(&err, url, attempt);
                    if !is_transient(&err) || attempt > self.retries {
                        return Err(failure.into());
                    }
                    (backoff(attempt), failure.title, None)
                }
            };
            // A signal that came meanwhile ends the fetch here: never reported as a retry.
            crate::signals::check()?;
            // Saturating, although capped waits cannot overflow: the sum must never panic.
            if waited.saturating_add(wait) > MAX_TOTAL_WAIT {
                // Asked to wait longer than gljob ever waits: one more try, and whatever it
                // answers is final.
                let max = MAX_TOTAL_WAIT.as_secs();
                let longer = match asked {
                    Some(asked) => format!("the server asks for a longer wait ({asked})"),
                    None => format!("another {:.1} s of waiting", wait.as_secs_f64()),
                };
                self.warn(format_args!(
                    "GET {}: {why}; {longer} would pass the {max} s gljob waits in all: one more try, and its answer is final",
                    redact(url),
                ));
                return self
                    .send_once(url, headers)
                    .map(|r| (r, attempt + 1))
                    .map_err(|e| network_failure(&e, url, attempt + 1).into());
            }
            self.warn(format_args!(
                "GET {}: {why}; retrying in {:.1} s (attempt {} of {})",
                redact(url),
                wait.as_secs_f64(),
                attempt + 1,
                self.retries + 1
            ));
            crate::signals::sleep(wait)?;
            waited = waited.saturating_add(wait);
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        url: &str,
        headers: &[(&str, &str)],
    ) -> Result<Response<Body>, ureq::Error> {
        let with_token = Origin::of(url).as_ref() == Some(&self.api);
        let mut request = self.agent.get(url);
        if with_token {
            request = request.header(self.credential.header(), self.token.expose());
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let started = Instant::now();
        let result = request.call();
        let outcome = match &result {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) => format!("error: {e}"),
        };
        self.log(format_args!(
            "GET {} → {outcome} in {} ms{}",
            redact(url),
            started.elapsed().as_millis(),
            if with_token {
                match self.credential {
                    Credential::JobToken => " (sent JOB-TOKEN)",
                    Credential::AccessToken => " (sent PRIVATE-TOKEN from GLJOB_TOKEN)",
                }
            } else {
                " (no token: not the API origin)"
            }
        ));
        result
    }

    fn log(&self, args: fmt::Arguments) {
        if self.debug {
            term::stderr(&format!(
                "gljob: debug: {}\n",
                term::escape(&args.to_string())
            ));
        }
    }

    /// A warning on stderr (retries, resumes), unless `--quiet`.
    pub fn warn(&self, args: fmt::Arguments) {
        if !self.quiet || self.debug {
            term::stderr(&format!(
                "gljob: warning: {}\n",
                term::escape(&args.to_string())
            ));
        }
    }
}

/// Mozilla's roots (built in) plus the certificates of the CA files named in the environment.
fn root_certs(config: &Config) -> Result<RootCerts, Failure> {
    let mut certs: Vec<Certificate<'static>> = webpki_root_certs::TLS_SERVER_ROOT_CERTS
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()).to_owned())
        .collect();
    for (name, path) in &config.ca_files {
        let bad = |why: String| {
            fail(Kind::Config, format!("{name} ({}) {why}", path.display())).hint(format!(
                "point {name} at a readable PEM file of CA certificates, or unset it"
            ))
        };
        let pem = std::fs::read(path).map_err(|e| bad(format!("cannot be read: {e}")))?;
        let before = certs.len();
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(PemItem::Certificate(cert)) => certs.push(cert),
                Ok(_) => {}
                Err(e) => return Err(bad(format!("is not valid PEM: {e}"))),
            }
        }
        if certs.len() == before {
            return Err(bad("holds no PEM certificate".to_string()));
        }
    }
    Ok(RootCerts::Specific(Arc::new(certs)))
}

/// The proxy for the API's scheme, bypassed for hosts in `NO_PROXY` with curl's matching
/// (`example.com` also covers its subdomains).
fn proxy(config: &Config) -> Result<Option<ureq::Proxy>, Failure> {
    let Some(url) = &config.proxy else {
        return Ok(None);
    };
    let bad = |e: ureq::Error| {
        fail(
            Kind::Config,
            format!("the proxy variable is not a usable proxy URL ({e})"),
        )
        .hint("set HTTPS_PROXY / http_proxy / ALL_PROXY like http://proxy.example.com:3128")
    };
    let parsed = ureq::Proxy::new(url).map_err(bad)?;
    let mut builder = ureq::Proxy::builder(parsed.protocol())
        .host(parsed.host())
        .port(parsed.port());
    if let Some(user) = parsed.username() {
        builder = builder.username(user);
    }
    if let Some(password) = parsed.password() {
        builder = builder.password(password);
    }
    for entry in curl_no_proxy(config.no_proxy.as_deref().unwrap_or("")) {
        builder = builder.no_proxy(&entry); // one expression per call
    }
    builder.build().map(Some).map_err(bad)
}

/// Rewrites curl's `NO_PROXY` (a bare domain also matches its subdomains) as ureq's
/// expressions (exact hosts, and `.suffix` patterns).
fn curl_no_proxy(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|e| !e.is_empty())
        .flat_map(|entry| {
            let bare = entry.trim_start_matches('.').trim_start_matches("*.");
            if entry == "*" {
                vec!["*".to_string()]
            } else {
                vec![bare.to_string(), format!(".{bare}")]
            }
        })
        .collect()
}

/// Transport errors that may pass: resets, timeouts, refused connections, DNS hiccups.
/// TLS verification failures and bad URLs are final.
fn is_transient(err: &ureq::Error) -> bool {
    use ureq::Error::*;
    match err {
        Io(io) => io.kind() != std::io::ErrorKind::InvalidData,
        Timeout(_) | HostNotFound | ConnectionFailed | BodyStalled | Protocol(_) => true,
        _ => false,
    }
}

/// Whether the TLS handshake failed because the server answered in plain HTTP: its first
/// bytes (`HTTP/1.1 …`) are no TLS record, which rustls reports as a record of an invalid
/// content type ("received corrupt message of type InvalidContentType"), a message that
/// says nothing to the person who typed https:// for an http server.
fn answered_plain_http(err: &ureq::Error) -> bool {
    let tls = match err {
        ureq::Error::Rustls(e) => Some(e),
        ureq::Error::Io(io) => io.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>()),
        _ => None,
    };
    matches!(
        tls,
        Some(rustls::Error::InvalidMessage(
            rustls::InvalidMessage::InvalidContentType
        ))
    )
}

fn network_failure(err: &ureq::Error, url: &str, attempts: u32) -> Failure {
    let host = Origin::of(url)
        .map(|o| format!("{}:{}", o.host, o.port))
        .unwrap_or_default();
    let tried = format!(
        "tried: GET {}{}",
        redact(url),
        if attempts > 1 {
            format!(" ({attempts} attempts)")
        } else {
            String::new()
        }
    );
    let tls = matches!(err, ureq::Error::Rustls(_) | ureq::Error::Tls(_))
        || matches!(err, ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData);
    if answered_plain_http(err) {
        return fail(
            Kind::Network,
            format!("{host} answered in plain HTTP, not TLS, to an https:// URL"),
        )
        .detail(tried)
        .hint("check the scheme in CI_API_V4_URL (or CI_SERVER_URL): http:// for a server without TLS, https:// only where the server speaks it; check the port too");
    }
    if tls {
        return fail(Kind::Network, format!("TLS with {host} failed: {err}"))
            .detail(tried)
            .hint("if this GitLab uses a private CA, set CI_SERVER_TLS_CA_FILE to its PEM certificate (GitLab sets it for runners configured with tls-ca-file)");
    }
    let what = match err {
        ureq::Error::HostNotFound => format!("could not resolve {host}"),
        ureq::Error::Timeout(_) => format!("{host} did not answer in time"),
        ureq::Error::ConnectionFailed => format!("could not connect to {host}"),
        ureq::Error::Io(io) if io.kind() == std::io::ErrorKind::ConnectionRefused => {
            format!("could not connect to {host} (connection refused)")
        }
        other => format!("network error talking to {host}: {other}"),
    };
    fail(Kind::Network, what)
        .detail(tried)
        .hint("check CI_API_V4_URL, the proxy variables and the runner's network; GLJOB_LOG=debug shows each request")
}

/// Reads a bounded part of an error body and picks out what GitLab (or storage) said.
fn read_http_error(
    url: &str,
    response: Response<Body>,
    attempts: u32,
    api_origin: bool,
) -> HttpError {
    let status = response.status().as_u16();
    let mut body = Vec::new();
    let _ = response
        .into_body()
        .into_reader()
        .take(ERROR_BODY_LIMIT)
        .read_to_end(&mut body);
    HttpError {
        method: "GET",
        url: redact(url),
        status,
        message: error_message(&body),
        attempts,
        api_origin,
        no_route: status == 404 && is_no_route(&body),
    }
}

/// Grape's catch-all answer for a path no API route matches (`lib/api/api.rb`: `route
/// :any, '*path'` → `error!('404 Not Found', 404)`): the text under `error`, not `message`.
fn is_no_route(body: &[u8]) -> bool {
    serde_json::from_slice::<serde_json::Value>(body).is_ok_and(|v| {
        v.get("message").is_none()
            && v.get("error").and_then(|e| e.as_str()) == Some("404 Not Found")
    })
}

/// GitLab's `{"message": …}` (a string, or `{"error": …}` from the app rate limiter),
/// `{"error": …}`, an object-storage XML `<Code>`, or the first line of a text body.
pub fn error_message(body: &[u8]) -> Option<String> {
    if let Ok(json) = serde_json::from_slice::<serde_json::Value>(body) {
        let field = json.get("message").or_else(|| json.get("error"))?;
        return Some(match field {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Object(o) => match o.get("error") {
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => field.to_string(),
            },
            other => other.to_string(),
        });
    }
    let text = String::from_utf8_lossy(body);
    if let Some(code) = xml_tag(&text, "Code") {
        return Some(match xml_tag(&text, "Message") {
            Some(message) => format!("{code}: {message}"),
            None => code.to_string(),
        });
    }
    if text.trim_start().starts_with('<') {
        return Some("an HTML page instead of GitLab's answer (a proxy in between?)".to_string());
    }
    let line = text.lines().map(str::trim).find(|l| !l.is_empty())?;
    Some(line.chars().take(200).collect())
}

fn xml_tag<'a>(text: &'a str, tag: &str) -> Option<&'a str> {
    let start = text.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = text[start..].find(&format!("</{tag}>"))?;
    Some(&text[start..start + end])
}

/// The wait a response asks for ([`server_wait`]) and, for messages, the header that asked.
fn asked_wait(response: &Response<Body>) -> Option<(Duration, String)> {
    let header = |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (retry_after, reset) = (header("retry-after"), header("ratelimit-reset"));
    let wait = server_wait(retry_after, reset, now)?;
    // The one server_wait used: Retry-After when it parses, else RateLimit-Reset.
    let (name, value) = match retry_after.filter(|v| retry_after_secs(v, now).is_some()) {
        Some(v) => ("Retry-After", v),
        None => ("RateLimit-Reset", reset.unwrap_or_default()),
    };
    // Shown as sent (cut short: it is the server's text), so the user sees what was asked.
    let value: String = value.trim().chars().take(64).collect();
    Some((wait, format!("{name}: {value}")))
}

/// How long a server asked to wait, from its `Retry-After` (seconds or an HTTP date), else
/// its `RateLimit-Reset` (the Unix time GitLab's limit resets), at most [`MAX_SERVER_WAIT`].
/// A header that does not parse counts as absent. Pure, and total over any strings (the fuzz
/// target calls it): the values come from the server.
pub fn server_wait(
    retry_after: Option<&str>,
    ratelimit_reset: Option<&str>,
    now_unix: u64,
) -> Option<Duration> {
    let secs = retry_after
        .and_then(|v| retry_after_secs(v, now_unix))
        .or_else(|| ratelimit_reset.and_then(|v| ratelimit_reset_secs(v, now_unix)))?;
    Some(Duration::from_secs(secs).min(MAX_SERVER_WAIT))
}

/// `Retry-After` as seconds from `now_unix`: delta-seconds, or an HTTP date (0 once past).
/// A number too big for a u64 saturates rather than being refused: it still means "long".
pub fn retry_after_secs(value: &str, now_unix: u64) -> Option<u64> {
    let value = value.trim();
    saturating_number(value)
        .or_else(|| crate::time::parse_http_date(value).map(|at| at.saturating_sub(now_unix)))
}

/// `RateLimit-Reset` (GitLab: a Unix time) as seconds from `now_unix` (0 once past).
pub fn ratelimit_reset_secs(value: &str, now_unix: u64) -> Option<u64> {
    saturating_number(value.trim()).map(|at| at.saturating_sub(now_unix))
}

/// ASCII digits as a u64, `u64::MAX` when they are more than it holds. `None` for anything
/// else, `+1` and `-1` included (`str::parse` alone takes `+1`).
fn saturating_number(value: &str) -> Option<u64> {
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Only digits: the one way parsing can fail is overflow.
    Some(value.parse().unwrap_or(u64::MAX))
}

/// Exponential backoff with jitter: half the doubled delay plus a random part of the other half.
/// Any `attempt` is fine (0 counts as 1): the result is at most [`MAX_BACKOFF`].
pub fn backoff(attempt: u32) -> Duration {
    let full = BASE_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = (nanos as u64 ^ (std::process::id() as u64).wrapping_mul(0x9E37_79B9)) % 1000;
    full / 2 + (full / 2).mul_f64(jitter as f64 / 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use proptest::test_runner::{Config, FileFailurePersistence, TestRunner};

    #[test]
    fn backoff_grows_and_is_capped() {
        let first = backoff(1);
        assert!(first >= BASE_BACKOFF / 2 && first <= BASE_BACKOFF);
        assert!(backoff(4) >= BASE_BACKOFF * 4);
        assert!(backoff(30) <= MAX_BACKOFF);
        // 0 underflowed (a panic in a debug build); it counts as the first attempt.
        assert!(backoff(0) <= BASE_BACKOFF && backoff(u32::MAX) <= MAX_BACKOFF);
    }

    const NOW: u64 = 1_445_412_480; // Wed, 21 Oct 2015 07:28:00 GMT

    #[test]
    fn server_waits_from_retry_after_then_ratelimit_reset() {
        let secs = |s| Some(Duration::from_secs(s));
        assert_eq!(server_wait(Some("7"), None, NOW), secs(7));
        assert_eq!(server_wait(Some(" 7 "), Some("1"), NOW), secs(7));
        let date = "Wed, 21 Oct 2015 07:28:30 GMT";
        assert_eq!(server_wait(Some(date), None, NOW), secs(30));
        assert_eq!(
            server_wait(Some(date), None, NOW + 60),
            secs(0),
            "past: now"
        );
        let reset = (NOW + 12).to_string();
        assert_eq!(server_wait(None, Some(&reset), NOW), secs(12));
        assert_eq!(server_wait(Some("soon"), Some(&reset), NOW), secs(12));
        assert_eq!(server_wait(None, Some("1"), NOW), secs(0), "past: now");
        assert_eq!(server_wait(Some("+7"), None, NOW), None);
        assert_eq!(server_wait(Some("-7"), Some("x"), NOW), None);
        assert_eq!(server_wait(None, None, NOW), None);
    }

    /// Issue 11, class 6: a wait longer than gljob's is cut to [`MAX_SERVER_WAIT`], which
    /// is still longer than gljob waits (one more try, then final), and cannot overflow a sum.
    #[test]
    fn huge_server_waits_are_capped() {
        let max = Some(MAX_SERVER_WAIT);
        for value in [
            "18446744073709551615",
            "18446744073709551616",
            "99999999999999999999999999999999",
            "Fri, 31 Dec 9999 23:59:59 GMT",
        ] {
            assert_eq!(server_wait(Some(value), None, NOW), max, "{value}");
            if !value.contains(' ') {
                assert_eq!(server_wait(None, Some(value), 0), max, "{value}");
            }
        }
        assert_eq!(retry_after_secs("18446744073709551616", 0), Some(u64::MAX));
        let waited = Duration::from_secs(1);
        assert!(waited.saturating_add(MAX_SERVER_WAIT) > MAX_TOTAL_WAIT);
    }

    /// Header values as a server may send them: numbers of any size and sign, dates with
    /// fields of any size, and anything at all.
    fn header_value() -> impl Strategy<Value = String> {
        let field = prop_oneof![
            (0u64..100).prop_map(|n| format!("{n:02}")),
            any::<u64>().prop_map(|n| n.to_string()),
            "[0-9+-]{0,25}",
        ];
        let month = prop_oneof![
            proptest::sample::select(vec!["Jan", "Feb", "Mar", "Apr", "Dec"])
                .prop_map(String::from),
            ".{0,4}",
        ];
        prop_oneof![
            any::<u64>().prop_map(|n| n.to_string()),
            "[ ]?[+-]?[0-9]{0,40}[ ]?",
            (
                field.clone(),
                month,
                field.clone(),
                field.clone(),
                field.clone(),
                field
            )
                .prop_map(|(d, mo, y, h, mi, s)| format!("Wed, {d} {mo} {y} {h}:{mi}:{s} GMT")),
            any::<String>(),
        ]
    }

    /// The property test of the header parsers: whatever the strings and the clock, they do
    /// not panic, every wait is at most [`MAX_SERVER_WAIT`], and a number of seconds is taken
    /// as it is (saturating). `PROPTEST_CASES` sets the number of cases (default 4096).
    #[test]
    fn header_parsers_never_panic_and_stay_under_the_cap() {
        let mut config = Config {
            // A failing case is saved in src/transport.proptest-regressions, tried first next time.
            source_file: Some(file!()),
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
                "proptest-regressions",
            ))),
            ..Config::default()
        };
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = 4096;
        }
        let strategy = (
            proptest::option::of(header_value()),
            proptest::option::of(header_value()),
            prop_oneof![Just(NOW), any::<u64>()],
            any::<u32>(),
        );
        TestRunner::new(config)
            .run(&strategy, |(retry_after, reset, now, attempt)| {
                let (ra, rr) = (retry_after.as_deref(), reset.as_deref());
                let wait = server_wait(ra, rr, now);
                prop_assert!(wait.is_none_or(|w| w <= MAX_SERVER_WAIT), "{wait:?}");
                if let Some(date) = ra.and_then(crate::time::parse_http_date) {
                    // Fri, 31 Dec 9999 23:59:60 GMT, a leap second, is the last.
                    prop_assert!(date <= 253_402_300_800, "after 9999: {date}");
                }
                // Plain digits (str::parse also takes a `+`) are seconds, as sent.
                let digits = ra.map(str::trim).filter(|v| !v.starts_with('+'));
                if let Some(n) = digits.and_then(|v| v.parse::<u64>().ok()) {
                    let want = Duration::from_secs(n).min(MAX_SERVER_WAIT);
                    prop_assert_eq!(wait, Some(want));
                }
                let waited = Duration::from_secs(119);
                let _ = waited.saturating_add(wait.unwrap_or(backoff(attempt)));
                prop_assert!(backoff(attempt) <= MAX_BACKOFF);
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn error_messages_from_every_body_shape() {
        assert_eq!(
            error_message(br#"{"message":"404 Not found"}"#).as_deref(),
            Some("404 Not found")
        );
        assert_eq!(
            error_message(br#"{"error":"job is missing"}"#).as_deref(),
            Some("job is missing")
        );
        assert_eq!(
            error_message(br#"{"message":{"error":"This endpoint has been requested too many times. Try again later."}}"#).as_deref(),
            Some("This endpoint has been requested too many times. Try again later.")
        );
        assert_eq!(
            error_message(b"404 page not found\n").as_deref(),
            Some("404 page not found")
        );
        assert_eq!(
            error_message(b"<?xml version=\"1.0\"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>").as_deref(),
            Some("AccessDenied: Request has expired")
        );
        assert!(
            error_message(b"<html><body>502 Bad Gateway</body></html>")
                .unwrap()
                .contains("HTML")
        );
        assert_eq!(error_message(b""), None);
    }

    /// URLs and bodies as a server may send them: redact, without_userinfo, resolve,
    /// error_message and Origin::of never panic, and a generated credential (userinfo, a
    /// credential key however spelled, a fragment) never survives redact.
    #[test]
    fn url_functions_never_panic_and_redact_hides_credentials() {
        let mut config = Config {
            source_file: Some(file!()),
            failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
                "proptest-regressions",
            ))),
            ..Config::default()
        };
        if std::env::var_os("PROPTEST_CASES").is_none() {
            config.cases = 2048;
        }
        let keys = proptest::sample::select(vec![
            "password",
            "pwd",
            "secret",
            "token",
            "private_token",
            "job_token",
            "sig",
            "signature",
            "X-Amz-Signature",
            "X-Amz-Credential",
            "X-Goog-Signature",
            "key",
            "auth",
            "credential",
        ]);
        // Each character as it is, upper-cased, or percent-encoded (upper or lower hex).
        let key = (keys, any::<u64>()).prop_map(|(key, mask)| {
            key.chars()
                .enumerate()
                .map(|(i, c)| match (mask >> (2 * i % 64)) & 3 {
                    0 => c.to_string(),
                    1 => c.to_ascii_uppercase().to_string(),
                    2 => format!("%{:02X}", c as u32),
                    _ => format!("%{:02x}", c as u32),
                })
                .collect::<String>()
        });
        let strategy = (
            key,
            any::<(u64, u64, u64)>(),
            proptest::sample::select(vec!["&", ";"]),
            any::<bool>(),
            (any::<String>(), any::<String>(), any::<Vec<u8>>()),
        );
        TestRunner::new(config)
            .run(&strategy, |(key, (v, p, f), sep, frag, wild)| {
                let (value, pass, fragment) =
                    (format!("zq{v:x}"), format!("zp{p:x}"), format!("zf{f:x}"));
                let mut url = format!("https://u:{pass}@h.example/p?a=1{sep}{key}={value}{sep}b=2");
                if frag {
                    url.push_str(&format!("#t={fragment}"));
                }
                let shown = redact(&url);
                for secret in [&value, &pass, &fragment] {
                    prop_assert!(!shown.contains(secret.as_str()), "{url} → {shown}");
                }
                prop_assert!(shown.contains("a=1") && shown.contains("b=2"), "{shown}");
                prop_assert!(!without_userinfo(&url).contains(&pass));

                let (from, location, body) = wild;
                let _ = (redact(&from), Origin::of(&from), error_message(&body));
                prop_assert!(crate::url::userinfo_span(&without_userinfo(&from)).is_none());
                if let Some(to) = resolve(&from, &location) {
                    let _ = redact(&to);
                }
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn no_proxy_gets_curl_semantics() {
        assert_eq!(
            curl_no_proxy("example.com, .corp,*"),
            ["example.com", ".example.com", "corp", ".corp", "*"]
        );
    }
}
