//! The command line itself: version, help, usage errors, configuration errors.

use crate::util::{Gljob, gljob, server};

#[test]
fn version_names_revision_and_target() {
    let run = Gljob::bare().arg("--version").run();
    run.success().stdout_has(&[
        env!("CARGO_PKG_VERSION"),
        "rev ",
        "x86_64-unknown-linux-gnu",
    ]);
}

#[test]
fn help_shows_working_examples_and_exits_0() {
    let run = Gljob::bare().arg("help").run();
    run.success()
        .stdout_has(&["gljob job --field pipeline.id", "job", "agents"]);
    for command in ["job", "agents"] {
        let run = Gljob::bare().args(&[command, "--help"]).run();
        run.success().stdout_has(&[
            &format!("Usage: gljob {command}"),
            "Examples:",
            &format!("gljob {command}"),
        ]);
    }
}

#[test]
fn usage_errors_exit_2_with_the_usage_line() {
    let run = Gljob::bare().args(&["job", "--bogus"]).run();
    run.code(2).stderr_has(&["--bogus", "Usage: gljob job"]);
    Gljob::bare().arg("frobnicate").run().code(2);
    Gljob::bare().run().code(2).stderr_has(&["no command"]);
    Gljob::bare().args(&["job", "--field"]).run().code(2);
}

#[test]
fn missing_token_is_a_configuration_error_naming_it() {
    let server = server();
    let run = gljob(&server).env_remove("CI_JOB_TOKEN").arg("job").run();
    run.code(3)
        .stderr_has(&["CI_JOB_TOKEN", "export CI_JOB_TOKEN="]);
    assert!(
        server.requests().is_empty(),
        "nothing may be sent without a token"
    );
}

#[test]
fn missing_or_malformed_api_url_is_a_configuration_error() {
    let server = server();
    gljob(&server)
        .env_remove("CI_API_V4_URL")
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["CI_API_V4_URL"]);
    gljob(&server)
        .env("CI_API_V4_URL", "gitlab.example.com/api/v4")
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["CI_API_V4_URL", "http"]);
    gljob(&server)
        .env("GLJOB_RETRIES", "many")
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["GLJOB_RETRIES"]);
}

#[test]
fn server_url_is_the_fallback_for_the_api_url() {
    let server = server();
    gljob(&server)
        .env_remove("CI_API_V4_URL")
        .env("CI_SERVER_URL", &server.server_url())
        .arg("job")
        .run()
        .success();
    let log = server.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/api/v4/job");
}

/// A port the URL parser cannot hold used to fall back to 80: a configuration error now,
/// naming the URL.
#[test]
fn an_api_url_with_a_port_out_of_range_is_a_configuration_error() {
    let server = server();
    let run = gljob(&server)
        .env("CI_API_V4_URL", "http://127.0.0.1:140427/api/v4")
        .arg("job")
        .run();
    run.code(3).stderr_has(&[
        "CI_API_V4_URL",
        "http://127.0.0.1:140427/api/v4",
        "port 140427",
    ]);
    assert!(server.requests().is_empty());
}
