//! What each of GitLab's refusals on the artifact routes (gitlab-api.md §3–§4) becomes:
//! the exit code, a message naming the cause, and a destination left as it was.

use fake_gitlab::{Config, Role};

use crate::util::{FINISHED_TOKEN, gljob, one_file, publish, publish_build, server, server_with};

#[test]
fn a_dead_token_is_exit_4() {
    let server = server();
    let mut g = gljob(&server);
    g.env("CI_JOB_TOKEN", FINISHED_TOKEN);
    g.arg("fetch")
        .args(&["--ref", "main", "--job", "build"])
        .fails_unchanged(4, &["401"]);
}

#[test]
fn a_project_outside_the_allowlist_is_exit_5_naming_the_allowlist() {
    let server = server();
    server
        .world()
        .add_project(30, "other/locked")
        .allowlist
        .clear();
    gljob(&server)
        .arg("fetch")
        .args(&[
            "--project",
            "other/locked",
            "--ref",
            "main",
            "--job",
            "build",
        ])
        .fails_unchanged(
            5,
            &["other/locked", "Job token permissions", "not allowed from"],
        );
}

#[test]
fn a_missing_role_is_exit_5_naming_the_role() {
    let server = server();
    server.world().add_project(31, "team/guestonly").user_role = Some(Role::Guest);
    gljob(&server)
        .arg("fetch")
        .args(&["--project", "31", "--ref", "main", "--job", "build"])
        .fails_unchanged(5, &["Reporter"]);
}

#[test]
fn artifacts_access_none_is_exit_5() {
    let server = server();
    server
        .world()
        .add_project(32, "team/hidden")
        .artifacts_access_none = true;
    publish(&server, 32, "main", "build", one_file("x", b"x"));
    gljob(&server)
        .arg("fetch")
        .args(&["--project", "32", "--ref", "main", "--job", "build"])
        .fails_unchanged(5, &["403"]);
}

#[test]
fn an_unknown_project_is_exit_6_with_the_usual_causes() {
    let server = server();
    gljob(&server)
        .arg("fetch")
        .args(&["--project", "no/such", "--ref", "main", "--job", "build"])
        .fails_unchanged(6, &["no/such", "404 Project Not Found", "allowlist"]);
}

#[test]
fn ee_without_the_licence_is_explained() {
    let server = server_with(Config {
        ee_unlicensed: true,
        ..Config::default()
    });
    publish_build(&server, one_file("x", b"x"));
    gljob(&server)
        .arg("fetch")
        .args(&["--ref", "main", "--job", "build"])
        .fails_unchanged(6, &["Premium"]);
}

#[test]
fn no_such_job_on_the_ref_names_ref_job_and_causes() {
    let server = server();
    publish_build(&server, one_file("x", b"x"));
    gljob(&server)
        .arg("fetch")
        .args(&["--ref", "main", "--job", "Build"])
        .fails_unchanged(
            6,
            &[
                "no successful job \"Build\" with artifacts on \"main\"",
                "jobs on \"main\": \"build\"",
                "case-sensitive",
                "still running",
                "expired",
            ],
        );
}

#[test]
fn a_newer_running_pipeline_does_not_hide_the_successful_one() {
    let server = server();
    publish(
        &server,
        1,
        "release",
        "build",
        one_file("ok.txt", b"from the successful pipeline"),
    );
    server.world().add_pipeline(1, "release", "running");
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "release", "--job", "build"])
        .run()
        .success();
    assert!(g.dir().join("ok.txt").is_file());
}

#[test]
fn an_unknown_job_id_and_a_job_without_artifacts() {
    let server = server();
    gljob(&server)
        .arg("fetch")
        .args(&["--job-id", "987654"])
        .fails_unchanged(6, &["has no job 987654"]);
    let id = {
        let mut world = server.world();
        let pipeline = world.add_pipeline(1, "main", "success");
        world.add_job(pipeline, "lint", None)
    };
    gljob(&server)
        .arg("fetch")
        .args(&["--job-id", &id.to_string()])
        .fails_unchanged(6, &["has no artifacts archive"]);
}

#[test]
fn a_public_project_is_readable_without_being_on_the_allowlist() {
    let server = server();
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--project",
        "other/public",
        "--ref",
        "main",
        "--job",
        "build",
    ])
    .run()
    .success();
    assert!(g.dir().join("dist/app").is_file());
}

#[test]
fn an_expired_but_present_archive_is_still_served_by_job_id() {
    let server = server();
    let id = publish(
        &server,
        1,
        "main",
        "old",
        one_file("old.txt", b"still here"),
    );
    server.world().job_mut(id).unwrap().expired = true;
    let mut g = gljob(&server);
    g.args(&["fetch", "--job-id", &id.to_string()])
        .run()
        .success();
    assert!(g.dir().join("old.txt").is_file());
    // The single-file route does not serve expired archives.
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--job-id",
        &id.to_string(),
        "--file",
        "old.txt",
        "-o",
        "x",
    ])
    .fails_unchanged(6, &["no artifacts archive"]);
}

#[test]
fn a_rate_limited_download_waits_and_succeeds() {
    let server = server();
    publish_build(&server, one_file("x", b"x"));
    server.inject(fake_gitlab::Fault::rate_limited("/download", "1"));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert!(g.dir().join("x").is_file());
}

// ---- issue 14: the messages a new user meets first ----

/// CI_API_V4_URL without `/api/v4` reaches no API route: every command says so, with the
/// same hint, instead of "no artifacts archive" for a fetch.
#[test]
fn an_api_url_without_api_v4_gets_the_same_hint_from_every_command() {
    let server = server();
    for args in [
        &["job"][..],
        &["agents"],
        &["fetch", "--ref", "main", "--job", "build"],
        &["fetch", "--job-id", "5"],
        &["fetch", "--job-id", "5", "--list"],
        &["fetch", "--job-id", "5", "--file", "dist/app.tar.gz"],
        &["fetch", "--pipeline", "6", "--job", "setup"],
    ] {
        let mut g = gljob(&server);
        g.env("CI_API_V4_URL", &server.server_url());
        let run = g
            .args(args)
            .fails_unchanged(6, &["no such route", "/api/v4"]);
        assert!(!run.stderr.contains("no artifacts archive"), "{run}");
    }
}
