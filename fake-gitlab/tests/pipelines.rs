//! A pipeline and its bridges over real sockets, and what older GitLabs answer on the list
//! routes when they do not accept job tokens there (`Config::legacy_job_token_lists`,
//! `Config::legacy_bridges`).

mod common;

use common::{AUTH, get, get_json, ids, start, start_with};
use fake_gitlab::{Config, FINISHED_TOKEN, PAT, TOKEN, demo, pipeline_sha};

#[test]
fn bridges_lead_to_child_and_multi_project_pipelines() {
    let s = start();
    let base = s.server_url();
    let (r, bridges) = get_json(&base, "/api/v4/projects/2/pipelines/26/bridges");
    assert_eq!(
        ids(&bridges),
        vec![demo::DOWNSTREAM_BRIDGE, demo::CHILD_BRIDGE]
    );
    assert_eq!(r.header("x-total"), Some("2"));
    assert_eq!(r.header("x-total-pages"), Some("1"));
    assert!(r.header("link").is_some_and(|l| l.contains("rel=\"last\"")));
    let downstream = &bridges[0];
    assert_eq!(downstream["name"], "downstream");
    assert_eq!(downstream["stage"], "trigger");
    assert_eq!(downstream["pipeline"]["id"], demo::FAN_IN_PIPELINE);
    let d = &downstream["downstream_pipeline"];
    assert_eq!(d["id"], demo::DOWNSTREAM_PIPELINE);
    assert_eq!(d["project_id"], 1);
    assert_eq!(d["source"], "pipeline");
    assert_eq!(d["status"], "running");
    assert_eq!(d["ref"], "main");
    assert_eq!(
        d["web_url"],
        format!("{base}/namespace1/project1/-/pipelines/28")
    );
    for key in [
        "id",
        "iid",
        "project_id",
        "sha",
        "ref",
        "status",
        "source",
        "created_at",
        "updated_at",
        "web_url",
    ] {
        assert!(d.get(key).is_some(), "downstream_pipeline.{key}");
    }
    let child = &bridges[1]["downstream_pipeline"];
    assert_eq!(child["id"], demo::CHILD_PIPELINE);
    assert_eq!(child["source"], "parent_pipeline");
    assert_eq!(child["sha"], pipeline_sha(demo::FAN_IN_PIPELINE));

    // Following them: the downstream's jobs in project 1, the child's in project 2.
    let (_, deploy) = get_json(&base, "/api/v4/projects/1/pipelines/28/jobs");
    assert_eq!(ids(&deploy), vec![demo::DEPLOY_JOB]);
    assert_eq!(deploy[0]["status"], "running");
    let (_, package) = get_json(&base, "/api/v4/projects/2/pipelines/27/jobs");
    assert_eq!(ids(&package), vec![demo::PACKAGE_JOB]);
    // The child pipeline has no bridges; a pipeline of another project is not found.
    assert_eq!(
        ids(&get_json(&base, "/api/v4/projects/2/pipelines/27/bridges").1),
        Vec::<u64>::new()
    );
    let other = get(&base, "/api/v4/projects/2/pipelines/28/bridges", AUTH);
    assert_eq!(
        (other.status, other.text()),
        (404, r#"{"message":"404 Not found"}"#)
    );
    let (_, scoped) = get_json(
        &base,
        "/api/v4/projects/2/pipelines/26/bridges?scope[]=created",
    );
    assert_eq!(ids(&scoped), Vec::<u64>::new());

    // A bridge that has not started its pipeline yet; a bridge is no build.
    let pending = s.world().add_bridge(demo::FAN_IN_PIPELINE, "later", None);
    let (_, bridges) = get_json(&base, "/api/v4/projects/2/pipelines/26/bridges?per_page=1");
    assert_eq!(ids(&bridges), vec![pending]);
    assert!(bridges[0]["downstream_pipeline"].is_null());
    assert_eq!(bridges[0]["status"], "created");
    for target in [
        format!("/api/v4/projects/2/jobs/{}/artifacts", demo::CHILD_BRIDGE),
        format!("/api/v4/projects/2/jobs/{pending}/artifacts/x.txt"),
    ] {
        let r = get(&base, &target, AUTH);
        assert_eq!(
            (r.status, r.text()),
            (404, r#"{"message":"404 Not found"}"#),
            "{target}"
        );
    }

    // add_child_pipeline: a new child in the same project, a downstream in another.
    let (bridge, child) = s
        .world()
        .add_child_pipeline(demo::MAIN_PIPELINE, "docs", 2, "success");
    let (_, list) = get_json(&base, "/api/v4/projects/2/pipelines/21/bridges");
    assert_eq!(ids(&list), vec![bridge]);
    assert_eq!(list[0]["downstream_pipeline"]["id"], child);
    assert_eq!(list[0]["downstream_pipeline"]["source"], "parent_pipeline");
}

#[test]
fn one_pipeline() {
    let s = start();
    let base = s.server_url();
    let (_, p) = get_json(&base, "/api/v4/projects/2/pipelines/26");
    assert_eq!(p["id"], 26);
    assert_eq!(p["project_id"], 2);
    assert_eq!(p["status"], "running");
    assert_eq!(p["source"], "push");
    assert_eq!(p["ref"], "main");
    assert_eq!(p["sha"], pipeline_sha(26));
    assert_eq!(p["detailed_status"]["group"], "running");
    assert!(p["finished_at"].is_null());
    // iid counts the project's pipelines: 20, 21, 22, 23, 24, 25, 26, 27.
    assert_eq!(p["iid"], 7);
    let (_, tag) = get_json(&base, "/api/v4/projects/2/pipelines/24");
    assert_eq!(tag["tag"], true);
    for (target, status, body) in [
        (
            "/api/v4/projects/2/pipelines/999",
            404,
            r#"{"message":"404 Not found"}"#,
        ),
        (
            "/api/v4/projects/2/pipelines/28",
            404,
            r#"{"message":"404 Not found"}"#,
        ),
        (
            "/api/v4/projects/2/pipelines/x1",
            400,
            r#"{"error":"pipeline_id is invalid"}"#,
        ),
    ] {
        let r = get(&base, target, AUTH);
        assert_eq!((r.status, r.text()), (status, body), "{target}");
    }
    // Anonymous: a private project is not found; a public one answers.
    let anon = get(&base, "/api/v4/projects/2/pipelines/26", &[]);
    assert_eq!(anon.text(), r#"{"message":"404 Project Not Found"}"#);
    assert_eq!(
        get(&base, "/api/v4/projects/4/pipelines/40", &[]).status,
        200
    );
}

const UNAUTHORIZED: (u16, &str) = (401, r#"{"message":"401 Unauthorized"}"#);
const PROJECT_NOT_FOUND: (u16, &str) = (404, r#"{"message":"404 Project Not Found"}"#);

/// Asserts each target's status and body (status only where the body is `None`).
fn expect(s: &fake_gitlab::Server, cases: &[(&str, u16, Option<&str>)]) {
    for (target, status, body) in cases {
        let r = get(&s.server_url(), target, AUTH);
        assert_eq!(r.status, *status, "{target}: {}", r.text());
        if let Some(body) = body {
            assert_eq!(r.text(), *body, "{target}");
        }
    }
}

#[test]
fn the_newest_gitlab_accepts_job_tokens_on_every_list() {
    let s = start();
    expect(
        &s,
        &[
            ("/api/v4/projects/2/jobs", 200, None),
            ("/api/v4/projects/2/pipelines/26/jobs", 200, None),
            ("/api/v4/projects/2/pipelines/26/bridges", 200, None),
            ("/api/v4/projects/2/pipelines/26", 200, None),
        ],
    );
    // A dead token is a 401 on them all, never anonymous.
    for target in [
        "/api/v4/projects/4/jobs",
        "/api/v4/projects/4/pipelines/40/jobs",
        "/api/v4/projects/4/pipelines/40/bridges",
        "/api/v4/projects/4/pipelines/40",
    ] {
        let r = get(&s.server_url(), target, &[("JOB-TOKEN", FINISHED_TOKEN)]);
        assert_eq!((r.status, r.text()), UNAUTHORIZED, "{target}");
    }
}

#[test]
fn the_oldest_gitlab_answers_401_on_the_lists() {
    let s = start_with(Config {
        legacy_job_token_lists: Some(401),
        ..Config::default()
    });
    let (u, pnf) = (Some(UNAUTHORIZED.1), Some(PROJECT_NOT_FOUND.1));
    expect(
        &s,
        &[
            ("/api/v4/projects/2/jobs", 401, u),
            ("/api/v4/projects/4/jobs", 401, u),
            ("/api/v4/projects/2/pipelines/26/jobs", 401, u),
            ("/api/v4/projects/4/pipelines/40/jobs", 401, u),
            ("/api/v4/projects/2/pipelines/26/bridges", 401, u),
            ("/api/v4/projects/2/pipelines/26", 404, pnf),
            ("/api/v4/projects/4/pipelines/40", 200, None),
            // The artifact routes still take job tokens.
            ("/api/v4/projects/2/jobs/102/artifacts", 200, None),
        ],
    );
    // The job token is not looked at: a dead one is anonymous too, a PAT still works, a
    // job token sent as Bearer is tried as an access token.
    let r = get(
        &s.server_url(),
        "/api/v4/projects/2/pipelines/26",
        &[("JOB-TOKEN", FINISHED_TOKEN)],
    );
    assert_eq!((r.status, r.text()), PROJECT_NOT_FOUND);
    let pat = get(
        &s.server_url(),
        "/api/v4/projects/2/jobs",
        &[("PRIVATE-TOKEN", PAT)],
    );
    assert_eq!(pat.status, 200);
    let bearer = format!("Bearer {TOKEN}");
    let r = get(
        &s.server_url(),
        "/api/v4/projects/4/pipelines/40",
        &[("Authorization", &bearer)],
    );
    assert_eq!((r.status, r.text()), UNAUTHORIZED);
}

#[test]
fn a_later_gitlab_answers_404_project_not_found() {
    let s = start_with(Config {
        legacy_job_token_lists: Some(404),
        ..Config::default()
    });
    let (u, pnf) = (Some(UNAUTHORIZED.1), Some(PROJECT_NOT_FOUND.1));
    expect(
        &s,
        &[
            // jobs.rb authenticates before anything, in every version.
            ("/api/v4/projects/2/jobs", 401, u),
            ("/api/v4/projects/2/pipelines/26/jobs", 404, pnf),
            ("/api/v4/projects/2/pipelines/26/bridges", 404, pnf),
            ("/api/v4/projects/2/pipelines/26", 404, pnf),
            // Public: read anonymously.
            ("/api/v4/projects/4/pipelines/40/jobs", 200, None),
            ("/api/v4/projects/4/pipelines/40/bridges", 200, None),
        ],
    );
    let (_, public) = get_json(&s.server_url(), "/api/v4/projects/4/pipelines/40/jobs");
    assert_eq!(ids(&public), vec![demo::PUBLIC_BUILD_JOB]);
}

#[test]
fn an_in_between_gitlab_refuses_job_tokens_on_bridges_only() {
    let s = start_with(Config {
        legacy_bridges: true,
        ..Config::default()
    });
    let pnf = Some(PROJECT_NOT_FOUND.1);
    expect(
        &s,
        &[
            ("/api/v4/projects/2/jobs", 200, None),
            ("/api/v4/projects/2/pipelines/26/jobs", 200, None),
            ("/api/v4/projects/2/pipelines/26/bridges", 404, pnf),
            ("/api/v4/projects/2/pipelines/26", 404, pnf),
            ("/api/v4/projects/4/pipelines/40/bridges", 200, None),
            ("/api/v4/projects/4/pipelines/40", 200, None),
        ],
    );
}
