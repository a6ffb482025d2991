//! URLs as gljob treats them: the origin that decides who may receive a credential,
//! redirects resolved against where they came from, and what of a URL may be sent or shown.
//! Credentials in a URL — userinfo, credential-like query values, fragments — are never
//! sent on ([`without_userinfo`]) and never printed ([`redact`]). Its own module because
//! the configuration (a bad `CI_API_V4_URL`), the transport and the messages all need it.

use ureq::http::Uri;

/// Scheme, host and port: what decides whether a URL may receive the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub scheme: String,
    pub host: String,
    pub port: u16,
}

impl Origin {
    pub fn of(url: &str) -> Option<Origin> {
        let uri: Uri = url.parse().ok()?;
        let scheme = uri.scheme_str()?.to_ascii_lowercase();
        let default_port = if scheme == "https" { 443 } else { 80 };
        Some(Origin {
            host: uri.host()?.to_ascii_lowercase(),
            port: uri.port_u16().unwrap_or(default_port),
            scheme,
        })
    }
}

/// Resolves a `Location` against the URL it came from (absolute URLs and absolute paths).
/// Public for the fuzz target: the `Location` is the server's.
pub fn resolve(from: &str, location: &str) -> Option<String> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse::<Uri>().ok().map(|_| location.to_string());
    }
    if location.starts_with('/') && !location.starts_with("//") {
        let uri: Uri = from.parse().ok()?;
        return Some(format!(
            "{}://{}{location}",
            uri.scheme_str()?,
            uri.authority()?
        ));
    }
    None
}

/// The byte range of `userinfo@` in a URL's authority (after `scheme://`, up to the first
/// `/`, `?` or `#`; the userinfo ends at the authority's last `@`), as the http crate and
/// ureq read it. A string without a leading `scheme://` is read as starting with its
/// authority, so that `user:pass@host` (a mistyped variable) is hidden too.
pub(crate) fn userinfo_span(url: &str) -> Option<std::ops::Range<usize>> {
    let start = match url.find("://") {
        Some(i) if !url[..i].contains(['/', '?', '#']) => i + 3,
        _ => 0,
    };
    let rest = &url[start..];
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    authority.rfind('@').map(|at| start..start + at + 1)
}

/// `url` without its userinfo: what gljob sends. Never a user name or password from a URL,
/// because ureq turns them into Basic auth for whichever host the URL names.
pub fn without_userinfo(url: &str) -> String {
    match userinfo_span(url) {
        Some(span) => format!("{}{}", &url[..span.start], &url[span.end..]),
        None => url.to_string(),
    }
}

/// Substrings of query keys that mark a credential, matched against the key percent-decoded,
/// lower-cased and without anything but letters and digits: `sig` covers `sig`, `signature`,
/// `X-Amz-Signature` and `X-Goog-Signature`; `token` covers `private_token`, `job_token` and
/// `X-Amz-Security-Token`; `pass` covers `password` (and `pass%77ord`, `PassWord`).
const SECRET_KEYS: [&str; 9] = [
    "token",
    "sig",
    "credential",
    "key",
    "secret",
    "auth",
    "pass",
    "pwd",
    "session",
];

/// The URL for logs and messages. Userinfo becomes `REDACTED@`; the value of a query
/// parameter whose key looks like a credential or a signature (see [`SECRET_KEYS`];
/// presigned storage URLs, `job_token=`) becomes `REDACTED`, whether pairs are separated by
/// `&` or `;`; a fragment (never sent, but it can hold a token) becomes `#REDACTED`. The
/// rest is kept, as it says what gljob tried. Any string is fine: it never panics.
pub fn redact(url: &str) -> String {
    let (url, fragment) = match url.split_once('#') {
        Some((url, fragment)) => (url, Some(fragment)),
        None => (url, None),
    };
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = String::with_capacity(url.len() + 16);
    match userinfo_span(base) {
        Some(span) => {
            out.push_str(&base[..span.start]);
            out.push_str("REDACTED@");
            out.push_str(&base[span.end..]);
        }
        None => out.push_str(base),
    }
    if let Some(query) = query {
        out.push('?');
        for piece in query.split_inclusive(['&', ';']) {
            let (pair, separator) = match piece.strip_suffix(['&', ';']) {
                Some(pair) => (pair, &piece[pair.len()..]),
                None => (piece, ""),
            };
            let name = pair.split_once('=').map_or(pair, |(name, _)| name);
            if is_secret_key(name) {
                out.push_str(name);
                out.push_str("=REDACTED");
            } else {
                out.push_str(pair);
            }
            out.push_str(separator);
        }
    }
    match fragment {
        Some("") => out.push('#'),
        Some(_) => out.push_str("#REDACTED"),
        None => {}
    }
    out
}

/// Whether a query key names a credential ([`SECRET_KEYS`]), however it is spelled:
/// percent-encoding is undone (up to four times, for double encoding), case and punctuation
/// are ignored.
fn is_secret_key(name: &str) -> bool {
    let mut key = name.to_string();
    for _ in 0..4 {
        let decoded = percent_decode(&key);
        if decoded == key {
            break;
        }
        key = decoded;
    }
    let key: String = key
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    SECRET_KEYS.iter().any(|s| key.contains(s))
}

/// `%XX` decoded (invalid escapes kept as they are, invalid UTF-8 replaced).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |at: usize| bytes.get(at).and_then(|&b| (b as char).to_digit(16));
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let (Some(high), Some(low)) = (hex(i + 1), hex(i + 2))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_includes_scheme_and_default_port() {
        assert_eq!(
            Origin::of("https://GitLab.example.com/api/v4"),
            Origin::of("https://gitlab.example.com:443/x")
        );
        assert_ne!(
            Origin::of("https://gitlab.example.com/"),
            Origin::of("http://gitlab.example.com/")
        );
        assert_ne!(
            Origin::of("http://127.0.0.1:1/"),
            Origin::of("http://127.0.0.1:2/")
        );
    }

    #[test]
    fn redirects_resolve_absolute_urls_and_paths() {
        assert_eq!(
            resolve("https://a/x/y?q", "/z?w").as_deref(),
            Some("https://a/z?w")
        );
        assert_eq!(
            resolve("https://a/x", "http://b:9/p").as_deref(),
            Some("http://b:9/p")
        );
        assert_eq!(resolve("https://a/x", "relative"), None);
    }

    #[test]
    fn secrets_in_queries_are_redacted() {
        let url = "https://s3/b/o?X-Amz-Signature=abc&X-Amz-Credential=k&X-Amz-Expires=300&job_token=t&job=build";
        let shown = redact(url);
        assert!(
            !shown.contains("abc") && !shown.contains("=k&") && !shown.contains("=t&"),
            "{shown}"
        );
        assert!(shown.contains("X-Amz-Expires=300") && shown.contains("job=build"));
    }

    /// Issue 11, class 11: every key the issue names, in any case, percent-encoded (once or
    /// twice), between `&` or `;`, and a fragment: none lets its value through.
    #[test]
    fn credential_query_keys_are_redacted_however_spelled() {
        for key in [
            "password",
            "PASSWORD",
            "pwd",
            "secret",
            "token",
            "private_token",
            "job_token",
            "sig",
            "signature",
            "X-Amz-Signature",
            "x-amz-credential",
            "X-Amz-Security-Token",
            "X-Goog-Signature",
            "key",
            "AWSAccessKeyId",
            "auth",
            "credential",
            "pass%77ord",
            "PASS%57ORD",
            "pass%2577ord",
            "%70%61%73%73%77%6f%72%64",
            "pass_word",
        ] {
            for separator in ["&", ";"] {
                let url = format!("https://s3/o?a=1{separator}{key}=hunter2{separator}b=2");
                let shown = redact(&url);
                assert!(!shown.contains("hunter2"), "{url} → {shown}");
                assert_eq!(
                    shown,
                    format!("https://s3/o?a=1{separator}{key}=REDACTED{separator}b=2")
                );
            }
        }
        assert_eq!(
            redact("https://s3/o?a=1#access_token=hunter2"),
            "https://s3/o?a=1#REDACTED"
        );
        assert_eq!(
            redact("https://s3/o#x?password=hunter2"),
            "https://s3/o#REDACTED"
        );
        assert_eq!(redact("https://s3/o?a=1#"), "https://s3/o?a=1#");
        assert_eq!(
            redact("https://s3/o?job=build&X-Amz-Expires=300&page=2"),
            "https://s3/o?job=build&X-Amz-Expires=300&page=2",
            "nothing else is hidden: it says what gljob tried"
        );
    }

    /// Issue 11, class 11: userinfo is shown as `REDACTED@` and is never in what is sent;
    /// an `@` elsewhere (a path, a query) is left alone.
    #[test]
    fn userinfo_is_redacted_and_never_sent() {
        for (url, shown, sent) in [
            (
                "https://user:s3cr3t@s3.example/b/o?x=1",
                "https://REDACTED@s3.example/b/o?x=1",
                "https://s3.example/b/o?x=1",
            ),
            (
                "http://user@127.0.0.1:9/p",
                "http://REDACTED@127.0.0.1:9/p",
                "http://127.0.0.1:9/p",
            ),
            (
                "https://a@b:s3cr3t@host",
                "https://REDACTED@host",
                "https://host",
            ),
            (
                "https://host/p@q?r=@#s@t",
                "https://host/p@q?r=@#REDACTED",
                "https://host/p@q?r=@#s@t",
            ),
            (
                "https://host?email=a@b.example",
                "https://host?email=a@b.example",
                "https://host?email=a@b.example",
            ),
            (
                "user:s3cr3t@gitlab.example/api",
                "REDACTED@gitlab.example/api",
                "gitlab.example/api",
            ),
            ("https://host/p", "https://host/p", "https://host/p"),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            assert_eq!(without_userinfo(url), sent, "{url}");
        }
        let sent: Uri = without_userinfo("https://user:s3cr3t@host:8443/x")
            .parse()
            .unwrap();
        assert_eq!(sent.authority().unwrap().as_str(), "host:8443");
    }
}
