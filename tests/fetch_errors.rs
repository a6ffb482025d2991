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

/// A Guest may not read builds when the project's pipelines are not public (issue 13,
/// item 6: with them public, the default, a Guest may; see the test below).
#[test]
fn a_missing_role_is_exit_5_naming_the_role() {
    let server = server();
    {
        let mut world = server.world();
        let project = world.add_project(31, "team/guestonly");
        project.user_role = Some(Role::Guest);
        project.public_builds = false;
    }
    publish(&server, 31, "main", "build", one_file("x", b"x"));
    gljob(&server)
        .arg("fetch")
        .args(&["--project", "31", "--ref", "main", "--job", "build"])
        .fails_unchanged(5, &["Reporter", "Public pipelines"]);
}

/// Issue 13, item 6: `public_builds` (Settings → CI/CD → General pipelines → Public
/// pipelines, on by default) gives a Guest of a private project `read_build`, and so its
/// artifacts.
#[test]
fn a_guest_downloads_where_pipelines_are_public() {
    let server = server();
    server.world().add_project(33, "team/guests").user_role = Some(Role::Guest);
    publish(&server, 33, "main", "build", one_file("g.txt", b"guest"));
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--project",
        "team/guests",
        "--ref",
        "main",
        "--job",
        "build",
    ])
    .run()
    .success();
    assert_eq!(std::fs::read(g.dir().join("g.txt")).unwrap(), b"guest");
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

/// A missing project is named as missing (issue 13, item 2; every edition: editions.rs).
#[test]
fn an_unknown_project_is_exit_6_naming_it_missing() {
    let server = server();
    gljob(&server)
        .arg("fetch")
        .args(&["--project", "no/such", "--ref", "main", "--job", "build"])
        .fails_unchanged(
            6,
            &["GitLab has no project no/such", "404 Project Not Found"],
        );
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
    // --file reads the archive as the fetch does (GitLab's single-file route would refuse an
    // expired archive, but gljob uses it only where the server ignores Range).
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
    .run()
    .success();
    assert_eq!(std::fs::read(g.dir().join("x")).unwrap(), b"still here");
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

/// An older GitLab that has neither the recent-pipelines search nor job-token access to
/// the jobs list: the by-ref route's 404 is all gljob has, and a wrong ref gets the same
/// hint as where the list is available (select.rs `on_ref`).
#[test]
fn a_wrong_ref_without_the_jobs_list_says_the_ref_may_not_exist() {
    let server = server_with(Config {
        no_search_recent: true,
        legacy_job_token_lists: Some(401),
        ..Config::default()
    });
    gljob(&server)
        .args(&["fetch", "--ref", "mian", "--job", "build"])
        .fails_unchanged(
            6,
            &[
                "\"mian\" may not exist, or has no successful pipeline yet: check --ref",
                "case-sensitive",
            ],
        );
    gljob(&server)
        .args(&[
            "fetch",
            "--project",
            "2",
            "--ref",
            "mian",
            "--job",
            "build",
            "--latest-pipeline",
        ])
        .fails_unchanged(
            6,
            &[
                "in project 2 has no job \"build\"",
                "\"mian\" may not exist",
            ],
        );
}

/// A project's web address pasted from the browser is taken for its path, when it is on
/// this job's GitLab.
#[test]
fn a_pasted_project_url_of_this_gitlab_is_its_path() {
    let server = server();
    for url in [
        format!("{}/group/sub/my.project", server.server_url()),
        format!("{}/group/sub/my.project.git", server.server_url()),
        format!("{}/group/sub/my.project/-/jobs/102", server.server_url()),
    ] {
        let mut g = gljob(&server);
        g.args(&[
            "fetch",
            "--project",
            &url,
            "--job-id",
            "102",
            "--dest",
            "out",
        ])
        .run()
        .success();
        assert!(g.dir().join("out/dist/app").is_file(), "{url}");
    }
    assert!(crate::util::archive_requests(&server).iter().all(|r| {
        r.path
            .starts_with("/api/v4/projects/group%2Fsub%2Fmy.project/")
    }),);
    gljob(&server)
        .args(&[
            "fetch",
            "--project",
            "https://gitlab.example.com/group/app",
            "--job-id",
            "102",
        ])
        .fails_unchanged(2, &["gitlab.example.com", "CI_API_V4_URL", "127.0.0.1"]);
}
