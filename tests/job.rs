//! `gljob job`: summary, `--json`, `--field`, and what each answer of GET /job means.

use crate::util::{FINISHED_TOKEN, PAT, TOKEN, api_requests, gljob, server};

#[test]
fn summary_names_the_job_its_pipeline_and_user() {
    let server = server();
    let run = gljob(&server).arg("job").run();
    run.success().stdout_has(&[
        "8 rubocop",
        "test",
        "main (branch)",
        "6",
        "root",
        "https://example.com/foo/bar/-/jobs/8",
    ]);
    // Missing fields (runner is null in the fixture) show as "-", not as an error.
    assert!(
        run.stdout()
            .lines()
            .any(|l| l.starts_with("runner") && l.ends_with('-')),
        "{run}"
    );
}

#[test]
fn summary_lists_artifacts_and_survives_a_minimal_body() {
    let server = server();
    server.world().job_body = r#"{"id": 9, "artifacts": [{"file_type": "archive", "size": 2048, "filename": "artifacts.zip"}]}"#.into();
    gljob(&server)
        .arg("job")
        .run()
        .success()
        .stdout_has(&["9", "artifacts.zip (archive, 2.0 KiB)"]);
    server.world().job_body = "{}".into();
    gljob(&server).arg("job").run().success();
}

#[test]
fn json_is_the_body_byte_for_byte() {
    let server = server();
    // Odd spacing and key order must survive untouched.
    let body = "{ \"z\":1,\n  \"a\" : [ true ,null],\"id\":8 }\n";
    server.world().job_body = body.into();
    let run = gljob(&server).args(&["job", "--json"]).run();
    run.success();
    assert_eq!(run.stdout, body.as_bytes());
}

#[test]
fn json_default_fixture_is_byte_exact() {
    let server = server();
    let expected = server.world().job_body.clone();
    let run = gljob(&server).args(&["job", "--json"]).run();
    assert_eq!(run.success().stdout(), expected);
}

#[test]
fn two_fields_print_two_lines() {
    let server = server();
    let run = gljob(&server)
        .args(&["job", "--field", "pipeline.id", "--field", "user.username"])
        .run();
    assert_eq!(run.success().stdout(), "6\nroot\n");
}

#[test]
fn fields_render_strings_numbers_null_objects_and_array_items() {
    let server = server();
    server.world().job_body =
        r#"{"tag_list":["docker runner","ubuntu"],"coverage":null,"allow_failure":false,
        "duration":0.465,"commit":{"id":"0ff3","parent_ids":[]},"name":"we\"ird"}"#
            .into();
    let run = gljob(&server)
        .args(&[
            "job",
            "--field",
            "tag_list.1",
            "--field",
            "coverage",
            "--field",
            "allow_failure",
        ])
        .args(&[
            "--field", "duration", "--field", "commit", "--field", "name", "--field", "tag_list",
        ])
        .run();
    assert_eq!(
        run.success().stdout(),
        "ubuntu\n\nfalse\n0.465\n{\"id\":\"0ff3\",\"parent_ids\":[]}\nwe\"ird\n[\"docker runner\",\"ubuntu\"]\n"
    );
}

#[test]
fn a_missing_field_is_exit_6_naming_the_path_and_prints_nothing() {
    let server = server();
    let run = gljob(&server)
        .args(&["job", "--field", "pipeline.id", "--field", "pipeline.nope"])
        .run();
    run.code(6).stderr_has(&["pipeline.nope"]);
    assert!(run.stdout.is_empty(), "{run}");
    gljob(&server)
        .args(&["job", "--field", "tag_list.7"])
        .run()
        .code(6);
}

#[test]
fn the_token_goes_in_the_job_token_header_only() {
    let server = server();
    gljob(&server).arg("job").run().success();
    let log = api_requests(&server);
    assert_eq!(log.len(), 1);
    let req = &log[0];
    assert_eq!(
        (req.method.as_str(), req.target.as_str()),
        ("GET", "/api/v4/job")
    );
    assert_eq!(req.header("job-token"), Some(TOKEN));
    assert_eq!(req.header("authorization"), None);
    assert!(
        req.header("user-agent").unwrap().starts_with("gljob/"),
        "{req:?}"
    );
}

#[test]
fn a_finished_jobs_token_is_exit_4_and_says_why() {
    let server = server();
    let run = gljob(&server)
        .env("CI_JOB_TOKEN", FINISHED_TOKEN)
        .arg("job")
        .run();
    run.code(4)
        .stderr_has(&["401", "no longer running", "GET http://127.0.0.1"]);
    assert_eq!(server.requests().len(), 1, "401 is final: no retry");
}

#[test]
fn an_unknown_token_is_exit_4() {
    let server = server();
    gljob(&server)
        .env("CI_JOB_TOKEN", "glcbt-64_nonsense")
        .arg("job")
        .run()
        .code(4);
}

#[test]
fn a_personal_access_token_is_exit_6_and_says_it_is_not_a_job_token() {
    let server = server();
    let run = gljob(&server).env("CI_JOB_TOKEN", PAT).arg("job").run();
    run.code(6)
        .stderr_has(&["not a job token", "404 Job Not Found"]);
    assert_eq!(server.requests().len(), 1, "404 is final: no retry");
}

#[test]
fn debug_log_shows_each_request_but_never_the_token() {
    let server = server();
    let run = gljob(&server).env("GLJOB_LOG", "debug").arg("job").run();
    // `run` itself asserts the token is absent from stdout and stderr.
    run.success().stderr_has(&[
        "debug: GET http://127.0.0.1",
        "/api/v4/job → 200",
        "sent JOB-TOKEN",
    ]);
}

#[test]
fn a_proxy_html_page_with_status_200_is_not_taken_for_data() {
    let server = server();
    server.world().job_body = "<html><body>Proxy login</body></html>".into();
    gljob(&server)
        .args(&["job", "--field", "id"])
        .run()
        .code(7)
        .stderr_has(&["not JSON", "CI_API_V4_URL"]);
}
