//! The fetch error cases on each GitLab edition (issue 13, items 1–3): CE, EE with Premium
//! (the fake's default) and EE without it, where every artifact route answers a job token
//! `404 Project Not Found`. gljob names the one cause that applies — learning this job's
//! project from `GET /job` only once a fetch has failed — and `GLJOB_TOKEN` is the way out.

use fake_gitlab::{Config, Edition, Origin, Server};

use crate::util::{
    PAT, TOKEN, api_requests, assert_no_secret_escaped, gljob, one_file, publish, publish_build,
    server_with,
};

const EDITIONS: [Edition; 3] = [Edition::Ce, Edition::EePremium, Edition::EeFree];

fn on(edition: Edition) -> Server {
    server_with(Config {
        edition,
        ..Config::default()
    })
}

/// The requests after the failed download: what gljob asked to explain it.
fn after_download(server: &Server) -> Vec<String> {
    let log = api_requests(server);
    let first = log
        .iter()
        .position(|r| r.path.contains("/artifacts"))
        .expect("a download was tried");
    log[first + 1..].iter().map(|r| r.target.clone()).collect()
}

#[test]
fn the_default_is_ee_with_premium() {
    assert_eq!(Config::default().edition, Edition::EePremium);
}

/// This job's own project: fetched on CE and EE with Premium; on EE without Premium, named
/// as that (with GLJOB_TOKEN), never as an allowlist to edit.
#[test]
fn the_own_project() {
    for edition in EDITIONS {
        let server = on(edition);
        let id = publish_build(&server, one_file("own.txt", b"own"));
        for selection in [
            &["--ref", "main", "--job", "build"][..],
            &["--job-id", &id.to_string()][..],
            &[
                "--project",
                "namespace1/project1",
                "--job-id",
                &id.to_string(),
            ][..],
        ] {
            server.clear_requests();
            let mut g = gljob(&server);
            g.arg("fetch").args(selection);
            if edition == Edition::EeFree {
                let run = g.fails_unchanged(
                    6,
                    &[
                        "GitLab EE without Premium",
                        "this job's own project namespace1/project1 (id 1)",
                        "GLJOB_TOKEN",
                        "404 Project Not Found",
                    ],
                );
                assert!(
                    !run.stderr.contains("Add group or project"),
                    "{edition:?}: no allowlist to edit\n{run}"
                );
                // One GET /job, and nothing else, to tell the own project.
                assert_eq!(after_download(&server), ["/api/v4/job"], "{selection:?}");
            } else {
                g.run().success();
                assert_eq!(std::fs::read(g.dir().join("own.txt")).unwrap(), b"own");
            }
        }
    }
}

/// Another project that lets this one in: fetched, or on EE without Premium named as that.
#[test]
fn an_allowlisted_project() {
    for edition in EDITIONS {
        let server = on(edition);
        let mut g = gljob(&server);
        g.args(&[
            "fetch",
            "--project",
            "group/sub/my.project",
            "--ref",
            "main",
            "--job",
            "build",
        ]);
        if edition == Edition::EeFree {
            g.fails_unchanged(
                6,
                &[
                    "GitLab EE without Premium",
                    "group/sub/my.project",
                    "this job's own project namespace1/project1 (id 1)",
                    "GLJOB_TOKEN",
                ],
            );
            let asked = after_download(&server);
            assert_eq!(asked[0], "/api/v4/job");
            assert!(asked[1].starts_with("/api/v4/projects/group%2Fsub%2Fmy.project/jobs?"));
            assert_eq!(asked.len(), 2, "{asked:?}");
        } else {
            g.run().success();
            assert!(g.dir().join("dist/app").is_file());
        }
    }
}

/// A project whose allowlist keeps this one out: the same 403 on every edition (the scope
/// is checked before the licence), naming both projects, the setting, and the other cause
/// GitLab answers the same (the user is no member).
#[test]
fn a_project_outside_the_allowlist() {
    for edition in EDITIONS {
        let server = on(edition);
        gljob(&server)
            .args(&["fetch", "--project", "other/locked", "--job-id", "130"])
            .fails_unchanged(
                5,
                &[
                    "project other/locked does not let this job's token in",
                    "namespace1/project1 (id 1)",
                    "in other/locked, Settings → CI/CD → Job token permissions → Add group or project → namespace1/project1",
                    "no member of other/locked",
                ],
            );
    }
}

/// Issue 13, item 6: allowlisted, but the job's user is no member of the private project:
/// GitLab gives the allowlist's 403, and gljob's hint names that cause too.
#[test]
fn an_allowlisted_project_whose_members_exclude_the_user() {
    for edition in EDITIONS {
        let server = on(edition);
        server.world().project_mut(2).unwrap().user_role = None;
        gljob(&server)
            .args(&["fetch", "--project", "2", "--job-id", "102"])
            .fails_unchanged(5, &["not allowed from", "no member of 2", "Reporter"]);
    }
}

/// A project that does not exist is named as missing, on every edition (on EE without
/// Premium too: its jobs list, which no licence gates, tells).
#[test]
fn a_missing_project() {
    for edition in EDITIONS {
        let server = on(edition);
        let run = gljob(&server)
            .args(&[
                "fetch",
                "--project",
                "no/such",
                "--ref",
                "main",
                "--job",
                "build",
            ])
            .fails_unchanged(
                6,
                &[
                    "GitLab has no project no/such (404 Project Not Found)",
                    "check --project",
                    "this job's own project is namespace1/project1 (id 1)",
                ],
            );
        assert!(!run.stderr.contains("Premium"), "{edition:?}\n{run}");
    }
}

/// On an older GitLab whose jobs list does not take job tokens, gljob asks this job's own
/// artifacts instead: EE without Premium refuses them too; a licensed GitLab does not, and
/// the 404 is a missing project or (before 17) the allowlist.
#[test]
fn an_older_gitlab_still_tells_the_licence_apart() {
    for edition in [Edition::EePremium, Edition::EeFree] {
        let server = server_with(Config {
            edition,
            legacy_job_token_lists: Some(404),
            ..Config::default()
        });
        let mut g = gljob(&server);
        g.args(&["fetch", "--project", "no/such", "--job-id", "1"]);
        if edition == Edition::EeFree {
            g.fails_unchanged(6, &["GitLab EE without Premium", "GLJOB_TOKEN"]);
        } else {
            g.fails_unchanged(
                6,
                &[
                    "does not show project no/such",
                    "before about 17",
                    "Add group or project → namespace1/project1",
                ],
            );
        }
        let asked = after_download(&server);
        assert_eq!(
            asked.len(),
            3,
            "GET /job, the list, the own artifacts: {asked:?}"
        );
        assert_eq!(asked[2], "/api/v4/projects/1/jobs/8/artifacts");
    }
}

/// Issue 13, item 3: GLJOB_TOKEN, an access token, is what fetch sends instead of the job
/// token — as PRIVATE-TOKEN, only to the API origin, never in a URL, never printed — and it
/// gets through where EE without Premium refuses job tokens.
#[test]
fn gljob_token_is_the_way_out() {
    for object_storage in [false, true] {
        let server = server_with(Config {
            edition: Edition::EeFree,
            object_storage,
            ..Config::default()
        });
        publish_build(&server, one_file("own.txt", b"own"));
        publish(
            &server,
            2,
            "release",
            "build",
            one_file("other.txt", b"other"),
        );
        let mut g = gljob(&server);
        g.env("GLJOB_TOKEN", PAT).env("GLJOB_LOG", "debug");
        g.args(&["fetch", "--ref", "main", "--job", "build", "--dest", "own"])
            .run()
            .success()
            .stderr_has(&["sent PRIVATE-TOKEN from GLJOB_TOKEN"]);
        let mut g2 = gljob(&server);
        g2.env("GLJOB_TOKEN", PAT)
            .env_remove("CI_JOB_TOKEN")
            .args(&[
                "fetch",
                "--project",
                "group/sub/my.project",
                "--ref",
                "release",
                "--job",
                "build",
                "--file",
                "other.txt",
                "-o",
                "other.txt",
            ])
            .run()
            .success();
        assert_eq!(std::fs::read(g.dir().join("own/own.txt")).unwrap(), b"own");
        assert_eq!(std::fs::read(g2.dir().join("other.txt")).unwrap(), b"other");
        for req in server.requests() {
            match req.origin {
                Origin::Api => {
                    assert_eq!(req.header("private-token"), Some(PAT), "{req:?}");
                    assert_eq!(req.header("job-token"), None, "{req:?}");
                }
                Origin::Storage => {
                    assert_eq!(req.header("private-token"), None, "{req:?}");
                    assert_eq!(req.header("job-token"), None, "{req:?}");
                }
            }
            assert!(!req.target.contains(PAT) && !req.target.contains(TOKEN));
        }
        assert!(
            server
                .requests()
                .iter()
                .any(|r| r.origin == Origin::Storage)
                == object_storage
        );
        assert_no_secret_escaped(&server, g.dir());
        assert_no_secret_escaped(&server, g2.dir());
    }
}

/// What GitLab says about GLJOB_TOKEN itself: rejected (401), or its user no member of
/// the project (404 Project Not Found: an access token never gets the allowlist's 403).
#[test]
fn gljob_token_refusals_name_it() {
    let server = on(Edition::EeFree);
    gljob(&server)
        .env("GLJOB_TOKEN", "glpat-revoked")
        .args(&["fetch", "--job-id", "7"])
        .fails_unchanged(4, &["GitLab rejected GLJOB_TOKEN (401", "read_api"]);
    server.world().add_project(70, "team/closed");
    gljob(&server)
        .env("GLJOB_TOKEN", PAT)
        .args(&["fetch", "--project", "team/closed", "--job-id", "1"])
        .fails_unchanged(
            6,
            &["does not show project team/closed to GLJOB_TOKEN", "member"],
        );
    // Nothing but the download: no GET /job for an access token (GitLab would say 404).
    assert!(
        !api_requests(&server)
            .iter()
            .any(|r| r.path == "/api/v4/job"),
        "{:?}",
        api_requests(&server)
    );
}
