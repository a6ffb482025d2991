//! `gljob job`: summary, `--json`, `--field`, and what each answer of GET /job means.

use crate::util::{FINISHED_TOKEN, PAT, TOKEN, api_requests, gljob, server};

/// The running job a job token sees (issue 13, item 5: not the documentation's finished
/// example, which no job token can see).
#[test]
fn summary_names_the_job_its_pipeline_and_user() {
    let server = server();
    let run = gljob(&server).arg("job").run();
    let web = format!("{}/namespace1/project1/-/jobs/8", server.server_url());
    run.success().stdout_has(&[
        "8 rubocop",
        "test",
        "running",
        "main (branch)",
        "6 (source push)",
        "root",
        "fake-gitlab shared runner (#12)",
        &web,
        "artifacts  none",
    ]);
}

#[test]
fn summary_lists_artifacts_and_survives_a_minimal_body() {
    let server = server();
    server.world().job_body = Some(r#"{"id": 9, "artifacts": [{"file_type": "archive", "size": 2048, "filename": "artifacts.zip"}]}"#.into());
    gljob(&server)
        .arg("job")
        .run()
        .success()
        .stdout_has(&["9", "artifacts.zip (archive, 2.0 KiB)"]);
    // Missing fields (a job not yet on a runner) show as "-", not as an error.
    server.world().job_body = Some("{}".into());
    let run = gljob(&server).arg("job").run();
    run.success();
    assert!(
        run.stdout()
            .lines()
            .any(|l| l.starts_with("runner") && l.ends_with('-')),
        "{run}"
    );
}

#[test]
fn json_is_the_body_byte_for_byte() {
    let server = server();
    // Odd spacing and key order must survive untouched.
    let body = "{ \"z\":1,\n  \"a\" : [ true ,null],\"id\":8 }\n";
    server.world().job_body = Some(body.into());
    let run = gljob(&server).args(&["job", "--json"]).run();
    run.success();
    assert_eq!(run.stdout, body.as_bytes());
}

#[test]
fn json_default_fixture_is_byte_exact() {
    let server = server();
    let expected = server.job_json();
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
    server.world().job_body = Some(
        r#"{"tag_list":["docker runner","ubuntu"],"coverage":null,"allow_failure":false,
        "duration":0.465,"commit":{"id":"0ff3","parent_ids":[]},"name":"we\"ird"}"#
            .into(),
    );
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

/// GitLab takes what is in `JOB-TOKEN` for a job token: an access token there is no job's,
/// and gets the 401 of a dead token (issue 13, item 5; the fake used to answer 404 Job Not
/// Found, which GitLab gives an access token only in its own headers).
#[test]
fn a_personal_access_token_is_exit_4_and_says_it_may_not_be_a_job_token() {
    let server = server();
    let run = gljob(&server).env("CI_JOB_TOKEN", PAT).arg("job").run();
    run.code(4)
        .stderr_has(&["401", "not a job token at all", "GLJOB_TOKEN"]);
    assert_eq!(server.requests().len(), 1, "401 is final: no retry");
    assert_eq!(server.requests()[0].header("job-token"), Some(PAT));
    // GLJOB_TOKEN is fetch's: `job` never sends it.
    let run = gljob(&server).env("GLJOB_TOKEN", PAT).arg("job").run();
    run.success();
    let last = server.requests().pop().unwrap();
    assert_eq!(
        (last.header("job-token"), last.header("private-token")),
        (Some(TOKEN), None)
    );
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
    server.world().job_body = Some("<html><body>Proxy login</body></html>".into());
    gljob(&server)
        .args(&["job", "--field", "id"])
        .run()
        .code(7)
        .stderr_has(&["not JSON", "CI_API_V4_URL"]);
}
