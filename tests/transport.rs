//! The transport under faults: retries and backoff, timeouts, TLS with a private CA, proxies.
//! Waits are asserted from the fake's request-log timestamps, never with sleeps.

use std::time::Duration;

use fake_gitlab::{Config, Fault, FaultKind, Origin};

use crate::util::{
    Gljob, api_requests, archive_requests, assert_no_temp, gljob, one_file, publish_build, server,
    server_with,
};

#[test]
fn rate_limit_then_ok_waits_at_least_retry_after() {
    let server = server();
    server.inject(Fault::rate_limited("/job", "1"));
    let run = gljob(&server).args(&["job", "--field", "id"]).run();
    assert_eq!(run.success().stdout(), "8\n");
    run.stderr_has(&["429", "retrying"]);
    let log = api_requests(&server);
    assert_eq!(log.len(), 2, "one 429, one success");
    let waited = log[1].at.duration_since(log[0].at);
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before Retry-After: 1"
    );
}

#[test]
fn retry_after_as_an_http_date_is_honoured() {
    let server = server();
    // An HTTP date in the past means "now": the retry must still happen, once.
    let fault = Fault::new(
        "/job",
        FaultKind::Status {
            code: 503,
            headers: vec![("Retry-After".into(), "Thu, 01 Jan 1970 00:00:00 GMT".into())],
            body: "{\"message\":\"503 Service Unavailable\"}".into(),
        },
    );
    server.inject(fault);
    gljob(&server).arg("job").run().success();
    assert_eq!(api_requests(&server).len(), 2);
}

#[test]
fn server_errors_are_retried_then_succeed() {
    let server = server();
    server.inject(Fault::status("/job", 502).times(2));
    gljob(&server).arg("job").run().success().stderr_has(&[
        "502",
        "attempt 2 of 3",
        "attempt 3 of 3",
    ]);
    assert_eq!(api_requests(&server).len(), 3);
}

#[test]
fn quiet_retries_stay_quiet_when_they_succeed() {
    let server = server();
    server.inject(Fault::status("/job", 500));
    let run = gljob(&server).env("GLJOB_RETRIES", "1").arg("job").run();
    run.success();
    assert_eq!(api_requests(&server).len(), 2);
}

#[test]
fn retries_give_up_with_exit_7_naming_the_url() {
    let server = server();
    server.inject(Fault::status("/job", 503).times(10));
    let run = gljob(&server).env("GLJOB_RETRIES", "2").arg("job").run();
    run.code(7).stderr_has(&[
        "503",
        &format!("GET {}/job", server.api_url()),
        "after 3 attempts",
    ]);
    assert_eq!(
        api_requests(&server).len(),
        3,
        "GLJOB_RETRIES=2 means three attempts in all"
    );
}

#[test]
fn forbidden_and_not_found_are_never_retried() {
    let server = server();
    server.inject(Fault::status("/job", 403).times(5));
    gljob(&server).arg("job").run().code(5);
    assert_eq!(api_requests(&server).len(), 1);
}

#[test]
fn a_reset_connection_is_retried() {
    let server = server();
    server.inject(Fault::new("/job", FaultKind::Reset));
    gljob(&server).arg("job").run().success();
    assert_eq!(api_requests(&server).len(), 2);
}

#[test]
fn a_server_slower_than_the_idle_timeout_fails_with_exit_7() {
    let server = server();
    server.inject(Fault::new("/job", FaultKind::Delay(Duration::from_secs(5))));
    let run = gljob(&server)
        .env("GLJOB_TIMEOUT", "0.3")
        .env("GLJOB_RETRIES", "0")
        .arg("job")
        .run();
    run.code(7).stderr_has(&["/api/v4/job"]);
}

#[test]
fn a_slow_server_within_the_timeout_is_fine() {
    let server = server();
    server.inject(Fault::new(
        "/job",
        FaultKind::Delay(Duration::from_millis(300)),
    ));
    gljob(&server)
        .env("GLJOB_TIMEOUT", "10")
        .env("GLJOB_RETRIES", "0")
        .arg("job")
        .run()
        .success();
}

#[test]
fn connection_refused_ends_with_exit_7_after_bounded_retries() {
    // The acceptance case from the issue, with gljob's default retry settings.
    let run = Gljob::bare()
        .env("CI_JOB_TOKEN", "x")
        .env("CI_API_V4_URL", "http://127.0.0.1:9")
        .arg("job")
        .run();
    run.code(7)
        .stderr_has(&["http://127.0.0.1:9/job", "connection refused", "5 attempts"]);
}

#[test]
fn private_ca_tls_works_with_ci_server_tls_ca_file() {
    let server = server_with(Config {
        tls: true,
        ..Config::default()
    });
    assert!(server.api_url().starts_with("https://"));
    gljob(&server)
        .args(&["job", "--field", "id"])
        .run()
        .success();
}

#[test]
fn ssl_cert_file_is_honoured_too() {
    let server = server_with(Config {
        tls: true,
        ..Config::default()
    });
    let ca = server.ca_file().unwrap();
    gljob(&server)
        .env_remove("CI_SERVER_TLS_CA_FILE")
        .env("SSL_CERT_FILE", ca.to_str().unwrap())
        .arg("job")
        .run()
        .success();
}

#[test]
fn private_ca_tls_fails_clearly_without_the_ca() {
    let server = server_with(Config {
        tls: true,
        ..Config::default()
    });
    let run = gljob(&server)
        .env_remove("CI_SERVER_TLS_CA_FILE")
        .arg("job")
        .run();
    run.code(7)
        .stderr_has(&["TLS", "127.0.0.1", "CI_SERVER_TLS_CA_FILE"]);
    assert!(
        api_requests(&server).is_empty(),
        "no HTTP request gets through an untrusted TLS handshake"
    );
}

#[test]
fn an_unreadable_or_bogus_ca_file_is_a_configuration_error() {
    let server = server_with(Config {
        tls: true,
        ..Config::default()
    });
    gljob(&server)
        .env("CI_SERVER_TLS_CA_FILE", "/nonexistent/ca.pem")
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["CI_SERVER_TLS_CA_FILE", "/nonexistent/ca.pem"]);
    let mut g = gljob(&server);
    let bogus = g.dir().join("bogus.pem");
    std::fs::write(&bogus, "not a certificate\n").unwrap();
    g.env("CI_SERVER_TLS_CA_FILE", bogus.to_str().unwrap())
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["no PEM certificate"]);
}

#[test]
fn the_proxy_from_the_environment_is_used() {
    // The fake stands in for the proxy: gljob must ask it to CONNECT to the API's host.
    // (A loopback address, so that nothing is ever resolved or sent off this machine.)
    let server = server();
    let run = gljob(&server)
        .env("CI_API_V4_URL", "http://127.0.0.2:1/api/v4")
        .env("http_proxy", &server.server_url())
        .env("GLJOB_RETRIES", "0")
        .arg("job")
        .run();
    // The fake is no real proxy, so gljob's own outcome does not matter here; what the
    // proxy received does.
    assert!(run.code.is_some(), "{run}");
    let log = api_requests(&server);
    assert_eq!(log.len(), 1, "the request went to the proxy");
    assert_eq!(
        (log[0].method.as_str(), log[0].target.as_str()),
        ("CONNECT", "127.0.0.2:1")
    );
}

#[test]
fn no_proxy_bypasses_the_proxy() {
    let server = server();
    // The proxy port is closed; only bypassing it can succeed.
    gljob(&server)
        .env("http_proxy", "http://127.0.0.1:9")
        .env("GLJOB_RETRIES", "0")
        .arg("job")
        .run()
        .code(7);
    gljob(&server)
        .env("http_proxy", "http://127.0.0.1:9")
        .env("NO_PROXY", "localhost,127.0.0.1")
        .arg("job")
        .run()
        .success();
}

#[test]
fn rate_limit_reset_is_honoured_without_retry_after() {
    let server = server();
    let reset = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 2;
    server.inject(Fault::new(
        "/job",
        FaultKind::Status {
            code: 429,
            headers: vec![("RateLimit-Reset".into(), reset.to_string())],
            body: "Retry later\n".into(),
        },
    ));
    gljob(&server).arg("job").run().success();
    let log = api_requests(&server);
    assert_eq!(log.len(), 2);
    let waited = log[1].at.duration_since(log[0].at);
    assert!(
        waited >= Duration::from_secs(1),
        "retried after {waited:?}, before RateLimit-Reset"
    );
}

/// A 429 asking for the given `Retry-After`, and nothing else (no `RateLimit-Reset`, which
/// `Fault::rate_limited` would compute from the value and cannot for a huge one).
fn retry_after(path: &str, value: &str) -> Fault {
    Fault::new(
        path,
        FaultKind::Status {
            code: 429,
            headers: vec![
                ("Content-Type".into(), "text/plain".into()),
                ("Retry-After".into(), value.into()),
            ],
            body: "Retry later\n".into(),
        },
    )
}

/// The largest number a u64 holds, as a server may send it.
const U64_MAX: &str = "18446744073709551615";

/// Issue 11, class 6: `Retry-After: 1`, then the largest number a u64 holds. Adding the two
/// waits overflowed and aborted the release binary (exit 134, staging left behind). A wait
/// longer than gljob ever waits means one more try at once, which here succeeds.
#[test]
fn a_retry_after_of_u64_max_is_one_more_try_not_a_crash() {
    let server = server();
    publish_build(&server, one_file("a.txt", b"a\n"));
    server.inject(retry_after("/artifacts", "1"));
    server.inject(retry_after("/artifacts", U64_MAX));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success()
        .stderr_has(&["429", &format!("Retry-After: {U64_MAX}"), "one more try"]);
    let log = archive_requests(&server);
    assert!(
        log.len() >= 3
            && log[..3]
                .iter()
                .all(|r| r.header("range") == log[0].header("range")),
        "two 429s, then the one more try of the same request: {log:?}"
    );
    assert_eq!(std::fs::read(g.dir().join("a.txt")).unwrap(), b"a\n");
    assert_no_temp(g.dir());
}

/// The same, when the one more try is refused too: that answer is final (exit 7), and the
/// destination is as it was, without staging.
#[test]
fn a_retry_after_of_u64_max_then_another_429_is_final() {
    let server = server();
    publish_build(&server, one_file("a.txt", b"a\n"));
    server.inject(retry_after("/artifacts", "1"));
    server.inject(retry_after("/artifacts", U64_MAX));
    server.inject(retry_after("/artifacts", U64_MAX));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .fails_unchanged(
            7,
            &[
                "429",
                &format!("Retry-After: {U64_MAX}"),
                "after 3 attempts",
            ],
        );
    assert_eq!(archive_requests(&server).len(), 3);
}

/// Issue 11, class 11: a redirect to object storage whose URL carries userinfo and
/// credentials in its query. ureq would send the userinfo as Basic auth, and gljob printed
/// both in errors and the debug log. Now the userinfo is dropped before the request and
/// nothing secret is printed; the query goes to storage as it is (it is storage's own
/// credential), which refuses the made-up signature: exit 5, and the destination unchanged.
#[test]
fn secrets_in_a_redirect_url_are_never_sent_or_printed() {
    for debug in [false, true] {
        let server = server();
        let job = publish_build(&server, one_file("a.txt", b"a\n"));
        let storage = server.storage_url();
        let host = storage.strip_prefix("http://").unwrap();
        let location = format!(
            "http://user:s3cr3t@{host}/artifacts/{job}/artifacts.zip?password=hunter2&X-Amz-Signature=abc"
        );
        server.inject(Fault::new(
            "/artifacts",
            FaultKind::Status {
                code: 302,
                headers: vec![("Location".into(), location)],
                body: String::new(),
            },
        ));
        let mut g = gljob(&server);
        if debug {
            g.env("GLJOB_LOG", "debug");
        }
        let run = g
            .args(&["fetch", "--ref", "main", "--job", "build"])
            .fails_unchanged(5, &["403", "password=REDACTED", "X-Amz-Signature=REDACTED"]);
        for secret in ["s3cr3t", "hunter2", "abc"] {
            assert!(!run.stderr.contains(secret), "{secret:?} printed\n{run}");
        }
        if debug {
            run.stderr_has(&["redirect → http://REDACTED@127.0.0.1:"]);
        }
        let to_storage: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.origin == Origin::Storage)
            .collect();
        assert_eq!(to_storage.len(), 1, "{to_storage:?}");
        let req = &to_storage[0];
        assert_eq!(req.header("authorization"), None, "userinfo sent: {req:?}");
        assert_eq!(req.header("job-token"), None);
        assert!(
            req.target
                .ends_with("?password=hunter2&X-Amz-Signature=abc")
        );
    }
}

/// Issue 11, class 11: an API URL with userinfo is a configuration error (exit 3) that names
/// the variable but not the password, and nothing is sent anywhere.
#[test]
fn an_api_url_with_userinfo_is_refused_without_showing_it() {
    let server = server();
    let url = server.api_url().replace("http://", "http://user:s3cr3t@");
    let run = gljob(&server).env("CI_API_V4_URL", &url).arg("job").run();
    run.code(3).stderr_has(&[
        "CI_API_V4_URL",
        "user name or password",
        "REDACTED@127.0.0.1",
    ]);
    assert!(!run.stderr.contains("s3cr3t"), "{run}");
    assert!(server.requests().is_empty());
}

/// An https:// URL pointed at a plain-HTTP server: the message says so and names the
/// scheme, instead of rustls's "received corrupt message of type InvalidContentType".
#[test]
fn an_https_url_to_a_plain_http_server_says_to_check_the_scheme() {
    let server = server();
    let https = server.api_url().replacen("http://", "https://", 1);
    let run = gljob(&server).env("CI_API_V4_URL", &https).arg("job").run();
    run.code(7)
        .stderr_has(&["answered in plain HTTP", "https://", "scheme"]);
    assert!(!run.stderr.contains("InvalidContentType"), "{run}");
    assert!(!run.stderr.contains("retrying"), "not worth a retry\n{run}");
}
