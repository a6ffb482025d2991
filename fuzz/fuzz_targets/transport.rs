//! Fuzz target `transport`: arbitrary bytes as the values a server controls, through the
//! pure parsers of `gljob::transport` and `gljob::time` (issue 11, classes 6 and 11).
//!
//! The input is split at `\n` into: `Retry-After`, `RateLimit-Reset`, the clock (decimal
//! Unix seconds; anything else is a fixed 2015 date), a request URL, a `Location`, and the
//! rest as an error body. Missing parts are absent headers or empty strings.
//!
//! Asserted for every input:
//! - no panic (a debug-assertions build, so any overflow is one);
//! - every wait `server_wait` gives, for each combination of the two headers, is at most
//!   `MAX_SERVER_WAIT`, and `backoff` stays at most `MAX_BACKOFF` for any attempt;
//! - an HTTP date that parses is no later than the end of year 9999;
//! - `resolve` from an http(s) URL yields only http(s) URLs; `without_userinfo` is idempotent
//!   and `redact` a fixed point (what it shows needs no more hiding);
//! - a credential placed in a URL around the fuzzer's text (as userinfo, as the value of
//!   `password=`, as a fragment) never appears in `redact`'s output more often than the
//!   fuzzer's own text holds it.

#![no_main]

use std::time::Duration;

use gljob::time::parse_http_date;
use gljob::transport::{
    MAX_BACKOFF, MAX_SERVER_WAIT, backoff, error_message, ratelimit_reset_secs, retry_after_secs,
    server_wait,
};
use gljob::url::{Origin, redact, resolve, without_userinfo};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| check(data));

/// Wed, 21 Oct 2015 07:28:00 GMT: the clock when the input does not set one.
const NOW: u64 = 1_445_412_480;
/// Fri, 31 Dec 9999 23:59:60 GMT: the last second a four-digit year reaches (a leap second).
const LAST_DATE: u64 = 253_402_300_800;
/// What the credential checks plant; the fuzzer may write it too, so they count.
const MARK: &str = "zz-fuzz-s3cr3t";

fn check(data: &[u8]) {
    let mut parts = data.splitn(6, |&b| b == b'\n');
    let mut next = || {
        parts
            .next()
            .map(|p| String::from_utf8_lossy(p).into_owned())
    };
    let (retry_after, reset) = (next(), next());
    let now = next()
        .and_then(|n| n.trim().parse::<u64>().ok())
        .unwrap_or(NOW);
    let (from, location) = (next().unwrap_or_default(), next().unwrap_or_default());
    let body = next().unwrap_or_default();

    waits(retry_after.as_deref(), reset.as_deref(), now);
    let attempt = data
        .iter()
        .take(4)
        .fold(0u32, |n, &b| (n << 8) | u32::from(b));
    assert!(backoff(attempt) <= MAX_BACKOFF, "backoff({attempt})");

    let _ = Origin::of(&from);
    let _ = error_message(body.as_bytes());
    for url in [from.as_str(), location.as_str()] {
        urls(url);
    }
    if let Some(to) = resolve(&from, &location) {
        let http = |u: &str| u.starts_with("http://") || u.starts_with("https://");
        assert!(
            http(&to) || !http(&from),
            "resolve({from:?}, {location:?}) = {to:?}"
        );
        urls(&to);
    }
    planted(&from);
}

fn waits(retry_after: Option<&str>, reset: Option<&str>, now: u64) {
    for (ra, rr) in [
        (retry_after, reset),
        (retry_after, None),
        (None, reset),
        (reset, retry_after),
    ] {
        let wait = server_wait(ra, rr, now);
        assert!(
            wait.is_none_or(|w| w <= MAX_SERVER_WAIT),
            "server_wait({ra:?}, {rr:?}, {now}) = {wait:?}"
        );
        // The sum send_with_retries makes must never overflow.
        let _ = Duration::from_secs(119).saturating_add(wait.unwrap_or(Duration::ZERO));
    }
    for value in [retry_after, reset].into_iter().flatten() {
        let _ = (
            retry_after_secs(value, now),
            ratelimit_reset_secs(value, now),
        );
        if let Some(at) = parse_http_date(value) {
            assert!(at <= LAST_DATE, "parse_http_date({value:?}) = {at}");
        }
    }
}

fn urls(url: &str) {
    let sent = without_userinfo(url);
    assert_eq!(without_userinfo(&sent), sent, "without_userinfo({url:?})");
    let shown = redact(url);
    assert_eq!(
        redact(&shown),
        shown,
        "redact({url:?}) hides more the second time"
    );
    let _ = redact(&sent);
}

/// The fuzzer's text as a URL's query, with a credential planted around it.
fn planted(text: &str) {
    let url = format!("https://u:{MARK}@h.example/p?{text}&password={MARK}#{MARK}");
    let shown = redact(&url);
    assert!(
        shown.matches(MARK).count() <= text.matches(MARK).count(),
        "{url:?} shown as {shown:?}"
    );
    assert!(
        without_userinfo(&url).matches(MARK).count() <= text.matches(MARK).count() + 2,
        "userinfo kept: {url:?}"
    );
}
