//! Configuration from the environment GitLab puts in every CI job.
//!
//! [`Config::from_lookup`] takes a lookup function instead of reading the process environment
//! directly, so the rules are unit-tested without `env::set_var` (unsafe in edition 2024).
//! A missing or malformed variable is a configuration error (exit 3) naming the variable and
//! saying how to set it for a local try.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Failure, Kind, fail};

/// A credential: the job token, or the access token of `GLJOB_TOKEN`. It has no `Display`,
/// and its `Debug` is redacted, so it cannot end up in an error message or a debug log by
/// accident. Only the transport reads it, to set `JOB-TOKEN` (or `PRIVATE-TOKEN`), and
/// [`Config::from_env`] hands it to [`crate::term::add_secret`], so that a copy that comes
/// back in text gljob did not write (a server message echoing it) is redacted too.
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(redacted)")
    }
}

/// Everything gljob reads from the environment.
#[derive(Debug, Clone)]
pub struct Config {
    /// `None` when `CI_JOB_TOKEN` is unset; commands that call GitLab require it.
    pub token: Option<Token>,
    /// `GLJOB_TOKEN`: a project or group access token that `fetch` sends instead of the job
    /// token, for what a job token cannot do (GitLab EE without Premium refuses job tokens on
    /// every artifact route). `job` and `agents` never use it: `GET /job` is about the job.
    pub access_token: Option<Token>,
    /// API base without a trailing slash, e.g. `https://gitlab.example.com/api/v4`.
    pub api_url: Option<String>,
    /// `CI_PROJECT_ID`: the default project for `fetch`.
    pub project_id: Option<String>,
    /// `CI_PIPELINE_ID`: this job's pipeline, for `fetch --pipeline current`.
    pub pipeline_id: Option<String>,
    /// Extra CA bundles: `CI_SERVER_TLS_CA_FILE`, then `SSL_CERT_FILE`.
    pub ca_files: Vec<(&'static str, PathBuf)>,
    /// The proxy URL for the API's scheme, chosen the way curl chooses it.
    pub proxy: Option<String>,
    /// `NO_PROXY` / `no_proxy`, as given.
    pub no_proxy: Option<String>,
    pub debug: bool,
    /// How many times a transient failure is retried (`GLJOB_RETRIES`, default 4).
    pub retries: u32,
    /// Connect timeout (`GLJOB_TIMEOUT` sets both it and the idle timeout).
    pub connect_timeout: Duration,
    /// Idle timeout: the longest gljob waits for the next byte. There is no total timeout.
    pub idle_timeout: Duration,
}

const DEFAULT_RETRIES: u32 = 4;
const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

impl Config {
    /// Reads the process environment, and registers the token as a secret with the terminal
    /// before anything can print it: from here on stdout and stderr show it as `[REDACTED]`.
    pub fn from_env() -> Result<Config, Failure> {
        let config = Config::from_lookup(|name| std::env::var(name).ok())?;
        for token in config.token.iter().chain(&config.access_token) {
            crate::term::add_secret(token.expose());
        }
        Ok(config)
    }

    /// Reads the configuration through `lookup`. Empty values count as unset, as GitLab
    /// does with empty tokens.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Config, Failure> {
        let get = |name: &str| lookup(name).filter(|v| !v.is_empty());

        let token = token_from(
            get("CI_JOB_TOKEN"),
            "CI_JOB_TOKEN",
            "GitLab sets CI_JOB_TOKEN itself; do not override it in variables: or before_script",
        )?;
        let access_token = token_from(
            get("GLJOB_TOKEN"),
            "GLJOB_TOKEN",
            "paste the access token alone into the masked CI/CD variable GLJOB_TOKEN, without quotes or a trailing newline",
        )?;

        let api_url = match (get("CI_API_V4_URL"), get("CI_SERVER_URL")) {
            (Some(url), _) => Some(check_url("CI_API_V4_URL", &url)?),
            (None, Some(server)) => {
                Some(format!("{}/api/v4", check_url("CI_SERVER_URL", &server)?))
            }
            (None, None) => None,
        };

        let mut ca_files = Vec::new();
        for name in ["CI_SERVER_TLS_CA_FILE", "SSL_CERT_FILE"] {
            if let Some(path) = get(name) {
                ca_files.push((name, PathBuf::from(path)));
            }
        }

        let https = api_url.as_deref().is_some_and(|u| u.starts_with("https:"));
        // curl reads http_proxy only in lower case (HTTP_PROXY can be set by CGI clients),
        // HTTPS_PROXY and ALL_PROXY in either case, the lower-case form first.
        let scheme_vars: &[&str] = if https {
            &["https_proxy", "HTTPS_PROXY"]
        } else {
            &["http_proxy"]
        };
        let proxy = scheme_vars
            .iter()
            .chain(&["all_proxy", "ALL_PROXY"])
            .find_map(|name| get(name));
        let no_proxy = get("no_proxy").or_else(|| get("NO_PROXY"));

        let retries = match get("GLJOB_RETRIES") {
            None => DEFAULT_RETRIES,
            Some(v) => v.parse::<u32>().ok().filter(|n| *n <= 20).ok_or_else(|| {
                config_error(
                    "GLJOB_RETRIES",
                    &format!("is {v:?}, not a whole number from 0 to 20"),
                )
            })?,
        };
        let (connect_timeout, idle_timeout) = match get("GLJOB_TIMEOUT") {
            None => (DEFAULT_CONNECT_TIMEOUT, DEFAULT_IDLE_TIMEOUT),
            Some(v) => {
                let secs = v.parse::<f64>().ok().filter(|s| *s > 0.0 && *s <= 3600.0);
                let secs = secs.ok_or_else(|| {
                    config_error(
                        "GLJOB_TIMEOUT",
                        &format!("is {v:?}, not a number of seconds from 0 to 3600"),
                    )
                })?;
                let t = Duration::from_secs_f64(secs);
                (t, t)
            }
        };

        Ok(Config {
            token,
            access_token,
            api_url,
            project_id: get("CI_PROJECT_ID"),
            pipeline_id: get("CI_PIPELINE_ID"),
            ca_files,
            proxy,
            no_proxy,
            debug: get("GLJOB_LOG").is_some_and(|v| v.eq_ignore_ascii_case("debug")),
            retries,
            connect_timeout,
            idle_timeout,
        })
    }

    /// The token, or the exit-3 error that says how to get one.
    pub fn require_token(&self) -> Result<&Token, Failure> {
        self.token.as_ref().ok_or_else(|| {
            fail(Kind::Config, "CI_JOB_TOKEN is not set")
                .detail("gljob authenticates with the job token that GitLab puts in every CI job")
                .hint("run gljob inside a GitLab CI job, where GitLab sets CI_JOB_TOKEN and CI_API_V4_URL")
                .hint("for a local try: export CI_JOB_TOKEN=<token of a running job> CI_API_V4_URL=https://gitlab.example.com/api/v4")
        })
    }

    /// The API base URL, or the exit-3 error that says how to set it.
    pub fn require_api_url(&self) -> Result<&str, Failure> {
        self.api_url.as_deref().ok_or_else(|| {
            fail(Kind::Config, "CI_API_V4_URL is not set (nor CI_SERVER_URL)")
                .detail("gljob needs the GitLab API base URL that GitLab puts in every CI job")
                .hint("run gljob inside a GitLab CI job, or for a local try: export CI_API_V4_URL=https://gitlab.example.com/api/v4")
        })
    }
}

/// A token variable's value: unset or empty is `None`; white space or control characters
/// (which would split the header) are refused without echoing the value.
fn token_from(value: Option<String>, name: &str, hint: &str) -> Result<Option<Token>, Failure> {
    match value {
        None => Ok(None),
        Some(t) if t.trim() != t || t.chars().any(|c| c.is_control() || c == ' ') => {
            Err(config_error(name, "contains white space or control characters").hint(hint))
        }
        Some(t) => Ok(Some(Token(t))),
    }
}

fn config_error(name: &str, problem: &str) -> Failure {
    fail(Kind::Config, format!("{name} {problem}"))
}

/// Accepts `http(s)://host[:port][/path]` and returns it without a trailing slash.
///
/// A user name or password in the URL is refused rather than stripped: gljob would never
/// send it (the job token is its one credential), and a secret sitting in a variable that
/// job logs and other tools print is worth fixing. The value is echoed only redacted.
fn check_url(name: &str, value: &str) -> Result<String, Failure> {
    let example = format!(
        "set it like: export {name}=https://gitlab.example.com{}",
        if name == "CI_API_V4_URL" {
            "/api/v4"
        } else {
            ""
        }
    );
    let shown = crate::url::redact(value);
    let bad = |why: &str| {
        config_error(name, &format!("is not a usable URL ({why}): {shown:?}")).hint(&example)
    };
    let rest = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
        .ok_or_else(|| bad("it must start with http:// or https://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(config_error(
            name,
            &format!("holds a user name or password (shown as REDACTED): {shown:?}"),
        )
        .hint("gljob authenticates with CI_JOB_TOKEN only and never sends credentials from a URL: remove them")
        .hint(&example));
    }
    if authority.is_empty() || rest.contains(['?', '#', ' ']) {
        return Err(bad("it needs a host, and no query or fragment"));
    }
    if value.parse::<ureq::http::Uri>().is_err() {
        return Err(bad("it does not parse"));
    }
    // The URL parser takes any digits as a port and then falls back to 80 or 443 for one it
    // cannot hold: gljob would silently talk to another port.
    let port = match authority.strip_prefix('[') {
        Some(v6) => v6.split_once(']').and_then(|(_, p)| p.strip_prefix(':')),
        None => authority.rsplit_once(':').map(|(_, p)| p),
    };
    if let Some(port) = port.filter(|p| !p.is_empty())
        && !port.parse::<u16>().is_ok_and(|p| p > 0)
    {
        return Err(bad(&format!("port {port} is not a TCP port, 1 to 65535")));
    }
    Ok(value.trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, Failure> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn api_url_falls_back_to_server_url() {
        let c = config(&[("CI_SERVER_URL", "https://gl.example.com/")]).unwrap();
        assert_eq!(c.api_url.as_deref(), Some("https://gl.example.com/api/v4"));
        let c = config(&[
            ("CI_SERVER_URL", "https://ignored.example.com"),
            ("CI_API_V4_URL", "https://gl.example.com/api/v4/"),
        ])
        .unwrap();
        assert_eq!(c.api_url.as_deref(), Some("https://gl.example.com/api/v4"));
    }

    #[test]
    fn malformed_url_names_the_variable() {
        let err = config(&[("CI_API_V4_URL", "gitlab.example.com")]).unwrap_err();
        assert_eq!(err.kind, Kind::Config);
        assert!(err.title.contains("CI_API_V4_URL"), "{}", err.title);
    }

    /// Issue 11, class 11: a URL with userinfo is refused (exit 3) naming the variable,
    /// never showing the password; other refusals do not echo secrets either.
    #[test]
    fn url_with_userinfo_is_refused_without_echoing_it() {
        for (name, value) in [
            ("CI_API_V4_URL", "https://user:s3cr3t@gl.example.com/api/v4"),
            ("CI_SERVER_URL", "https://s3cr3t@gl.example.com"),
            (
                "CI_API_V4_URL",
                "https://u:s3cr3t@gl.example.com?private_token=s3cr3t",
            ),
        ] {
            let err = config(&[(name, value)]).unwrap_err();
            assert_eq!(err.kind, Kind::Config);
            assert!(err.title.contains(name) && err.title.contains("user name or password"));
            assert!(
                err.title.contains("REDACTED@gl.example.com"),
                "{}",
                err.title
            );
            assert!(!format!("{err:?}").contains("s3cr3t"), "{err:?}");
        }
        for value in [
            "user:s3cr3t@gl.example.com/api/v4",
            "https://gl.example.com/api/v4?private_token=s3cr3t",
            "https://gl.example.com/api/v4#s3cr3t",
        ] {
            let err = config(&[("CI_API_V4_URL", value)]).unwrap_err();
            assert!(!format!("{err:?}").contains("s3cr3t"), "{err:?}");
        }
    }

    #[test]
    fn a_port_out_of_range_is_refused_naming_the_url() {
        for url in [
            "http://127.0.0.1:140427/api/v4",
            "https://gl.example.com:0/api/v4",
            "http://[::1]:70000/api/v4",
        ] {
            let err = config(&[("CI_API_V4_URL", url)]).unwrap_err();
            assert_eq!(err.kind, Kind::Config, "{url}");
            assert!(
                err.title.contains(url) && err.title.contains("port"),
                "{}",
                err.title
            );
        }
        for url in ["http://127.0.0.1:65535/api/v4", "http://[::1]:8080/api/v4"] {
            assert!(config(&[("CI_API_V4_URL", url)]).is_ok(), "{url}");
        }
    }

    #[test]
    fn empty_token_is_unset_and_missing_token_says_how() {
        let c = config(&[("CI_JOB_TOKEN", "")]).unwrap();
        let err = c.require_token().unwrap_err();
        assert!(err.title.contains("CI_JOB_TOKEN"));
        assert!(err.hints.iter().any(|h| h.contains("export CI_JOB_TOKEN")));
    }

    #[test]
    fn token_with_newline_is_refused_without_echoing_it() {
        let err = config(&[("CI_JOB_TOKEN", "abc\nX-Evil: 1")]).unwrap_err();
        assert!(!format!("{err:?}").contains("abc"));
    }

    #[test]
    fn token_debug_is_redacted() {
        let c = config(&[("CI_JOB_TOKEN", "s3cret"), ("GLJOB_TOKEN", "glpat-s3cret2")]).unwrap();
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    /// Issue 13, item 3: GLJOB_TOKEN is read like the job token (empty is unset; a value
    /// that would split the header is refused without being echoed).
    #[test]
    fn access_token_is_optional_and_checked() {
        assert!(config(&[]).unwrap().access_token.is_none());
        assert!(
            config(&[("GLJOB_TOKEN", "")])
                .unwrap()
                .access_token
                .is_none()
        );
        let c = config(&[("GLJOB_TOKEN", "glpat-abc")]).unwrap();
        assert_eq!(c.access_token.unwrap().expose(), "glpat-abc");
        let err = config(&[("GLJOB_TOKEN", "glpat-abc\n")]).unwrap_err();
        assert!(err.title.contains("GLJOB_TOKEN"), "{}", err.title);
        assert!(!format!("{err:?}").contains("glpat-abc"), "{err:?}");
    }

    #[test]
    fn proxy_is_chosen_by_scheme_like_curl() {
        let https = [
            ("CI_API_V4_URL", "https://gl/api/v4"),
            ("http_proxy", "http://h:1"),
            ("HTTPS_PROXY", "http://s:2"),
        ];
        assert_eq!(config(&https).unwrap().proxy.as_deref(), Some("http://s:2"));
        let http = [
            ("CI_API_V4_URL", "http://gl/api/v4"),
            ("HTTP_PROXY", "http://upper:1"),
            ("ALL_PROXY", "http://all:3"),
        ];
        // curl ignores upper-case HTTP_PROXY.
        assert_eq!(
            config(&http).unwrap().proxy.as_deref(),
            Some("http://all:3")
        );
    }

    #[test]
    fn knobs_are_validated() {
        assert_eq!(config(&[("GLJOB_RETRIES", "0")]).unwrap().retries, 0);
        assert_eq!(
            config(&[("GLJOB_RETRIES", "x")]).unwrap_err().kind,
            Kind::Config
        );
        assert_eq!(
            config(&[("GLJOB_TIMEOUT", "-1")]).unwrap_err().kind,
            Kind::Config
        );
        let c = config(&[("GLJOB_TIMEOUT", "0.5")]).unwrap();
        assert_eq!(c.idle_timeout, Duration::from_millis(500));
    }
}
