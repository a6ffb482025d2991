//! The fake's key answers, checked over real sockets with a minimal HTTP client on
//! `std::net::TcpStream` (no HTTP crate), so the bytes on the wire are what is asserted.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fake_gitlab::{
    Archive, Config, Edition, FINISHED_TOKEN, Fault, FaultKind, Origin, PAT, Role, Server, TOKEN,
    demo, zips,
};

mod common;

/// The one ETag GitLab sends on every download today (issue 13, item 4).
const WEAK_ETAG: &str = "W/\"12ae32cb1ec02d01eda3581b127c1fee\"";

use common::{AUTH, get, port_of, read_response, request, start};

#[test]
fn job_endpoint_and_authentication() {
    let s = start();
    let base = s.server_url();
    let ok = get(&base, "/api/v4/job", AUTH);
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("content-type"), Some("application/json"));
    assert_eq!(ok.header("x-frame-options"), Some("SAMEORIGIN"));
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(ok.text(), s.job_json());

    let via_param = get(&base, &format!("/api/v4/job?job_token={TOKEN}"), &[]);
    assert_eq!(via_param.status, 200);
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(
        get(&base, "/api/v4/job", &[("Authorization", &bearer)]).status,
        200
    );
    let agents = get(&base, "/api/v4/job/allowed_agents", AUTH);
    assert_eq!(agents.text(), s.agents_json());

    for headers in [
        &[][..],
        &[("JOB-TOKEN", "")][..],
        &[("JOB-TOKEN", FINISHED_TOKEN)][..],
        &[("JOB-TOKEN", "glcbt-64_nope")][..],
    ] {
        let r = get(&base, "/api/v4/job", headers);
        assert_eq!(r.status, 401, "{headers:?}");
        assert_eq!(r.text(), r#"{"message":"401 Unauthorized"}"#);
        assert_eq!(r.header("www-authenticate"), None);
    }
    // A dead token is never downgraded to anonymous, even on a public project.
    let r = get(
        &base,
        "/api/v4/projects/4/jobs/artifacts/main/download?job=build",
        &[("JOB-TOKEN", FINISHED_TOKEN)],
    );
    assert_eq!(r.status, 401);

    // Issue 13, item 5: a personal access token sent as a job token is no job's token (401,
    // as `find_user_from_job_token` raises); as an access token it is a user without a job.
    for headers in [
        &[("JOB-TOKEN", PAT)][..],
        &[("PRIVATE-TOKEN", TOKEN)][..],
        &[("PRIVATE-TOKEN", "glpat-nope")][..],
    ] {
        let r = get(&base, "/api/v4/job", headers);
        assert_eq!(
            (r.status, r.text()),
            (401, r#"{"message":"401 Unauthorized"}"#),
            "{headers:?}"
        );
    }
    let pat_bearer = format!("Bearer {PAT}");
    for headers in [
        &[("PRIVATE-TOKEN", PAT)][..],
        &[("Authorization", pat_bearer.as_str())][..],
    ] {
        let pat = get(&base, "/api/v4/job", headers);
        assert_eq!(
            (pat.status, pat.text()),
            (404, r#"{"message":"404 Job Not Found"}"#),
            "{headers:?}"
        );
    }

    let logged = s.requests();
    assert_eq!(logged.len(), 14);
    assert_eq!(logged[0].origin, Origin::Api);
    assert_eq!(logged[0].header("Job-Token"), Some(TOKEN));
    assert_eq!(
        logged[1].query,
        vec![("job_token".to_string(), TOKEN.to_string())]
    );
}

/// Issue 13, item 5: `GET /job` is what a job token can see — its own job, running — as
/// `Entities::Ci::Job` presents it, and `/job/allowed_agents` agrees with it.
#[test]
fn job_is_the_running_job_as_gitlab_presents_it() {
    let s = start();
    let base = s.server_url();
    let r = get(&base, "/api/v4/job", AUTH);
    let job: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    let keys: Vec<&str> = job
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        [
            "id",
            "status",
            "stage",
            "name",
            "ref",
            "tag",
            "coverage",
            "allow_failure",
            "created_at",
            "started_at",
            "finished_at",
            "erased_at",
            "duration",
            "queued_duration",
            "user",
            "commit",
            "pipeline",
            "web_url",
            "project",
            "artifacts",
            "runner",
            "runner_manager",
            "artifacts_expire_at",
            "archived",
            "tag_list",
        ],
        "JobBasic's fields, then Job's, in GitLab's order (no failure_reason: not failed)"
    );
    assert_eq!(
        (&job["id"], &job["name"], &job["status"], &job["stage"]),
        (
            &serde_json::json!(8),
            &serde_json::json!("rubocop"),
            &serde_json::json!("running"),
            &serde_json::json!("test")
        )
    );
    assert!(job["started_at"].is_string() && job["finished_at"].is_null());
    assert_eq!(job["pipeline"]["id"], 6);
    assert_eq!(job["pipeline"]["project_id"], 1);
    assert_eq!(job["pipeline"]["status"], "running");
    for field in [
        "iid",
        "sha",
        "ref",
        "source",
        "created_at",
        "updated_at",
        "web_url",
    ] {
        assert!(!job["pipeline"][field].is_null(), "pipeline.{field}");
    }
    assert_eq!(job["commit"]["id"], job["pipeline"]["sha"]);
    for field in [
        "short_id",
        "parent_ids",
        "title",
        "message",
        "author_name",
        "committed_date",
        "trailers",
        "web_url",
    ] {
        assert!(!job["commit"][field].is_null(), "commit.{field}");
    }
    assert_eq!(
        job["web_url"],
        format!("{base}/namespace1/project1/-/jobs/8")
    );
    assert_eq!(job["user"]["username"], "root");
    assert_eq!(
        job["project"],
        serde_json::json!({"ci_job_token_scope_enabled": false})
    );
    assert_eq!(
        job["artifacts"],
        serde_json::json!([]),
        "a running job has no archive or log yet"
    );
    assert_eq!(job["runner"]["is_shared"], true);
    assert_eq!(job["runner"]["job_execution_status"], "active");
    assert!(job["runner"]["ip_address"].is_null());
    assert_eq!(job["runner_manager"]["version"], "19.4.0");
    assert_eq!(job["archived"], false);
    assert_eq!(job["tag_list"], serde_json::json!(["docker", "linux"]));

    let r = get(&base, "/api/v4/job/allowed_agents", AUTH);
    let agents: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(agents["job"], serde_json::json!({"id": 8}));
    assert_eq!(agents["pipeline"], serde_json::json!({"id": 6}));
    assert_eq!(agents["project"]["id"], 1);
    assert_eq!(
        agents["project"]["groups"].as_array().map(Vec::len),
        Some(1),
        "namespace1"
    );
    assert_eq!(agents["user"]["id"], job["user"]["id"]);
    assert_eq!(agents["user"]["username"], "root");
    assert_eq!(
        agents["user"]["roles_in_project"],
        serde_json::json!(["guest", "planner", "reporter", "developer"]),
        "a Developer's role and every one below it"
    );
    let agent = &agents["allowed_agents"][0];
    assert_eq!(
        agent["config_project"]["path_with_namespace"],
        "namespace1/project1"
    );
    assert!(agent["configuration"].is_object());
    assert!(
        agents.get("environment").is_none(),
        "omitted when the job has none"
    );

    // Another job's token sees its own job the same way.
    let other = {
        let mut w = s.world();
        let p = w.add_pipeline(2, "main", "running");
        let id = w.add_job_with(p, "deploy", "running", None);
        w.add_token("glcbt-64_other", id, true);
        id
    };
    let r = get(&base, "/api/v4/job", &[("JOB-TOKEN", "glcbt-64_other")]);
    let job: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(
        (job["id"].as_u64(), job["pipeline"]["project_id"].as_u64()),
        (Some(other), Some(2))
    );
    let r = get(
        &base,
        "/api/v4/job/allowed_agents",
        &[("JOB-TOKEN", "glcbt-64_other")],
    );
    let agents: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON");
    assert_eq!(
        agents["project"]["groups"].as_array().map(Vec::len),
        Some(2),
        "group/sub, group"
    );
    assert_eq!(
        agents["allowed_agents"][0]["id"], 1,
        "authorized for project 2"
    );
}

#[test]
fn project_resolution_and_allowlist() {
    let s = start();
    let base = s.server_url();
    let no_route = get(
        &base,
        "/api/v4/projects/group/sub/my.project/jobs/artifacts/main/download?job=build",
        AUTH,
    );
    assert_eq!(no_route.status, 404);
    assert_eq!(no_route.text(), r#"{"error":"404 Not Found"}"#);
    assert_eq!(
        get(&base, "/api/v4/nothing", AUTH).text(),
        r#"{"error":"404 Not Found"}"#
    );

    for id in ["999", "nope%2Fnope", "my.project"] {
        let r = get(
            &base,
            &format!("/api/v4/projects/{id}/jobs/102/artifacts"),
            AUTH,
        );
        assert_eq!(r.status, 404, "{id}");
        assert_eq!(r.text(), r#"{"message":"404 Project Not Found"}"#, "{id}");
    }
    // Private project, anonymous: not found.
    let anon = get(&base, "/api/v4/projects/2/jobs/102/artifacts", &[]);
    assert_eq!(anon.text(), r#"{"message":"404 Project Not Found"}"#);

    let locked = get(
        &base,
        "/api/v4/projects/other%2Flocked/jobs/130/artifacts",
        AUTH,
    );
    assert_eq!(locked.status, 403);
    assert_eq!(
        locked.text(),
        r#"{"message":"403 Forbidden - Authentication by CI/CD job token not allowed from project1 to locked."}"#
    );
    // Public project, not on the allowlist: readable.
    assert_eq!(
        get(&base, "/api/v4/projects/4/jobs/140/artifacts", AUTH).status,
        200
    );

    let moved = get(
        &base,
        "/api/v4/projects/GROUP%2Fsub%2Fold.project/jobs/artifacts/feature%2Fx/download?job=build",
        AUTH,
    );
    assert_eq!(moved.status, 301);
    assert_eq!(
        moved.header("location"),
        Some(&*format!(
            "{base}/api/v4/projects/2/jobs/artifacts/feature%2Fx/download?job=build"
        ))
    );
    let by_path = get(
        &base,
        "/api/v4/projects/Group%2FSub%2FMy.Project/jobs/102/artifacts",
        AUTH,
    );
    assert_eq!(by_path.status, 200);

    // A project added later shadows the demo project with the same path.
    {
        let mut w = s.world();
        w.add_project(20, "group/sub/my.project");
        let pipeline = w.add_pipeline(20, "main", "success");
        w.add_job(
            pipeline,
            "build",
            Some(Archive::from(b"not a zip".to_vec())),
        );
    }
    let shadowed = get(
        &base,
        "/api/v4/projects/group%2Fsub%2Fmy.project/jobs/artifacts/main/download?job=build",
        AUTH,
    );
    assert_eq!(shadowed.body, b"not a zip");

    // Issue 13, item 6: a Guest reads builds where the pipelines are public (the default),
    // and not otherwise.
    s.world().project_mut(2).expect("project 2").user_role = Some(Role::Guest);
    let guest = get(&base, "/api/v4/projects/2/jobs/102/artifacts", AUTH);
    assert_eq!(guest.status, 200);
    s.world().project_mut(2).expect("project 2").public_builds = false;
    let guest = get(&base, "/api/v4/projects/2/jobs/102/artifacts", AUTH);
    assert_eq!(
        (guest.status, guest.text()),
        (403, r#"{"message":"403 Forbidden"}"#)
    );
    // No member at all: the allowlist lets project 1 in, but its user cannot read the
    // project, and GitLab says so with the allowlist's words.
    s.world().project_mut(2).expect("project 2").user_role = None;
    let stranger = get(&base, "/api/v4/projects/2/jobs/102/artifacts", AUTH);
    assert_eq!(
        stranger.text(),
        r#"{"message":"403 Forbidden - Authentication by CI/CD job token not allowed from project1 to my.project."}"#
    );
    // An access token's user is no member of a project a test added: 404, not 403.
    s.world().add_project(50, "team/private");
    let pat = get(
        &base,
        "/api/v4/projects/50/jobs/1/artifacts",
        &[("PRIVATE-TOKEN", PAT)],
    );
    assert_eq!(
        (pat.status, pat.text()),
        (404, r#"{"message":"404 Project Not Found"}"#)
    );
    s.world().project_mut(2).expect("project 2").user_role = Some(Role::Reporter);
    s.world()
        .project_mut(2)
        .expect("project 2")
        .artifacts_access_none = true;
    assert_eq!(
        get(&base, "/api/v4/projects/2/jobs/102/artifacts", AUTH).status,
        403
    );
}

/// Issue 13, item 1: the default is EE with Premium; CE answers the same on these routes; EE
/// without Premium refuses job tokens on every artifact route, the job's own project first,
/// but not the lists, and never an access token.
#[test]
fn editions_decide_whether_job_tokens_reach_artifacts() {
    let own = "/api/v4/projects/1/jobs/7/artifacts";
    let other = "/api/v4/projects/2/jobs/102/artifacts";
    let entry = "/api/v4/projects/1/jobs/artifacts/main/raw/setup/env.txt?job=setup";
    for (config, licensed) in [
        (Config::default(), true),
        (
            Config {
                edition: Edition::Ce,
                ..Config::default()
            },
            true,
        ),
        (
            Config {
                edition: Edition::EePremium,
                ..Config::default()
            },
            true,
        ),
        (
            Config {
                edition: Edition::EeFree,
                ..Config::default()
            },
            false,
        ),
    ] {
        let edition = config.edition;
        let s = Server::start(config).expect("server");
        let base = s.server_url();
        s.world()
            .pipeline_mut(demo::OWN_PIPELINE)
            .expect("6")
            .status = "success".into();
        for target in [own, other, entry] {
            let r = get(&base, target, AUTH);
            if licensed {
                assert_eq!(r.status, 200, "{edition:?} {target}: {}", r.text());
            } else {
                assert_eq!(
                    (r.status, r.text()),
                    (404, r#"{"message":"404 Project Not Found"}"#),
                    "{edition:?} {target}"
                );
            }
            let pat = get(&base, target, &[("PRIVATE-TOKEN", PAT)]);
            assert_eq!(pat.status, 200, "{edition:?} {target}: an access token");
        }
        // The allowlist's refusal comes first; the lists never check the licence.
        let locked = get(&base, "/api/v4/projects/3/jobs/130/artifacts", AUTH);
        assert_eq!(locked.status, 403, "{edition:?}");
        assert_eq!(get(&base, "/api/v4/projects/1/jobs", AUTH).status, 200);
        assert_eq!(get(&base, "/api/v4/job", AUTH).status, 200);
    }
}

#[test]
fn artifact_lookups_by_ref_and_id() {
    let s = start();
    let base = s.server_url();
    let sample = zips::sample();
    for target in [
        "/api/v4/projects/2/jobs/artifacts/main/download?job=build",
        "/api/v4/projects/group%2Fsub%2Fmy.project/jobs/artifacts/feature%2Fx/download?job=build",
        "/api/v4/projects/2/jobs/artifacts/feature/x/download?job=build",
        "/api/v4/projects/2/jobs/artifacts/refs%2Fmerge-requests%2F7%2Fhead/download?job=build",
        "/api/v4/projects/2/jobs/artifacts/v1.2.3/download?job=test+1%2F3",
        "/api/v4/projects/2/jobs/artifacts/main/download?job=test%201%2F3",
        "/api/v4/projects/2/jobs/artifacts/main/download?job=we%23ird%3F%25%2B%20%C3%BC",
        "/api/v4/projects/2/jobs/102/artifacts",
        "/api/v4/projects/2/jobs/106/artifacts",
    ] {
        let r = get(&base, target, AUTH);
        if target.contains("v1.2.3") {
            // The tag pipeline has only `build`.
            assert_eq!(
                (r.status, r.text()),
                (404, r#"{"message":"404 Not found"}"#)
            );
            continue;
        }
        assert_eq!(r.status, 200, "{target}");
        assert!(r.body == sample, "{target}: wrong archive");
        assert_eq!(r.header("content-type"), Some("application/octet-stream"));
        assert_eq!(
            r.header("content-disposition"),
            Some("attachment; filename=\"artifacts.zip\"; filename*=UTF-8''artifacts.zip")
        );
        assert_eq!(r.header("accept-ranges"), Some("bytes"));
        assert_eq!(r.header("etag"), Some(WEAK_ETAG), "{target}");
        assert!(r.header("last-modified").is_some());
    }
    let missing = get(
        &base,
        "/api/v4/projects/2/jobs/artifacts/main/download",
        AUTH,
    );
    assert_eq!(
        (missing.status, missing.text()),
        (400, r#"{"error":"job is missing"}"#)
    );
    let unknown = get(&base, "/api/v4/projects/2/jobs/99999/artifacts", AUTH);
    assert_eq!(
        (unknown.status, unknown.text()),
        (404, r#"{"message":"404 Not found"}"#)
    );
    let none = get(&base, "/api/v4/projects/2/jobs/105/artifacts", AUTH);
    assert_eq!(
        (none.status, none.text()),
        (404, r#"{"message":"404 Not Found"}"#)
    );
    let other_project = get(&base, "/api/v4/projects/2/jobs/130/artifacts", AUTH);
    assert_eq!(other_project.text(), r#"{"message":"404 Not found"}"#);
    let bad_id = get(&base, "/api/v4/projects/2/jobs/abc/artifacts", AUTH);
    assert_eq!(
        (bad_id.status, bad_id.text()),
        (400, r#"{"error":"job_id is invalid"}"#)
    );

    // Once the running pipeline succeeds, it is the newest successful one.
    s.world().pipelines.iter_mut().for_each(|p| {
        if p.id == demo::RUNNING_MAIN_PIPELINE {
            p.status = "success".into();
        }
    });
    let decoy = get(
        &base,
        "/api/v4/projects/2/jobs/artifacts/main/download?job=build",
        AUTH,
    );
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(decoy.body)).expect("zip");
    assert!(z.by_name(demo::DECOY_FILE).is_ok());
}

#[test]
fn single_file_routes() {
    let s = start();
    let base = s.server_url();
    let js = get(
        &base,
        "/api/v4/projects/2/jobs/102/artifacts/dist/lib/util.js",
        AUTH,
    );
    assert_eq!(js.status, 200);
    assert_eq!(
        js.header("content-type"),
        Some("text/javascript; charset=utf-8")
    );
    assert_eq!(
        js.header("content-disposition"),
        Some("attachment; filename=\"util.js\"")
    );
    assert!(js.text().starts_with("export function add"));
    assert_eq!(js.header("accept-ranges"), None);

    let raw = get(
        &base,
        "/api/v4/projects/2/jobs/artifacts/main/raw/dist/app?job=build",
        AUTH,
    );
    assert_eq!(
        raw.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert!(raw.text().starts_with("#!/bin/sh"));
    let link = get(
        &base,
        "/api/v4/projects/2/jobs/102/artifacts/dist/current",
        AUTH,
    );
    assert_eq!(link.text(), "app");

    for target in [
        "/api/v4/projects/2/jobs/102/artifacts/nope.txt",
        "/api/v4/projects/2/jobs/102/artifacts/logs/",
        "/api/v4/projects/2/jobs/artifacts/main/raw/dist?job=build",
    ] {
        let r = get(&base, target, AUTH);
        assert_eq!(
            (r.status, r.text()),
            (404, "404 page not found\n"),
            "{target}"
        );
        assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    }
    let expired = get(
        &base,
        "/api/v4/projects/2/jobs/106/artifacts/dist/app",
        AUTH,
    );
    assert_eq!(
        (expired.status, expired.text()),
        (404, r#"{"message":"404 Not Found"}"#)
    );
    let nul = get(&base, "/api/v4/projects/2/jobs/102/artifacts/a%00b", AUTH);
    assert_eq!(
        (nul.status, nul.text()),
        (400, r#"{"message":"400 Bad request"}"#)
    );
}

#[test]
fn ranges_and_validators() {
    let s = start();
    let base = s.server_url();
    let sample = zips::sample();
    let len = sample.len();
    let t = "/api/v4/projects/2/jobs/102/artifacts";

    let r = get(&base, t, &[("JOB-TOKEN", TOKEN), ("Range", "bytes=10-19")]);
    assert_eq!(r.status, 206);
    assert_eq!(
        r.header("content-range"),
        Some(&*format!("bytes 10-19/{len}"))
    );
    assert_eq!(r.body, &sample[10..20]);
    let etag = r.header("etag").expect("etag").to_string();

    let tail = get(&base, t, &[("JOB-TOKEN", TOKEN), ("Range", "bytes=-7")]);
    assert_eq!(tail.body, &sample[len - 7..]);
    let from = get(&base, t, &[("JOB-TOKEN", TOKEN), ("Range", "bytes=100-")]);
    assert_eq!(from.body, &sample[100..]);

    let range_past_end = format!("bytes={len}-");
    let unsat = get(
        &base,
        t,
        &[("JOB-TOKEN", TOKEN), ("Range", range_past_end.as_str())],
    );
    assert_eq!(unsat.status, 416);
    assert_eq!(
        unsat.header("content-range"),
        Some(&*format!("bytes */{len}"))
    );

    // Issue 13, item 4: GitLab's weak ETag is the same for every file, so it names none:
    // `If-Range` never matches it (the whole file again), `If-None-Match` always does
    // (weak comparison: 304 for any file). The Last-Modified date is what resumes.
    assert_eq!(etag, WEAK_ETAG);
    let last_modified = r
        .header("last-modified")
        .expect("last-modified")
        .to_string();
    let range_if = |validator: &str| {
        get(
            &base,
            t,
            &[
                ("JOB-TOKEN", TOKEN),
                ("Range", "bytes=5-"),
                ("If-Range", validator),
            ],
        )
    };
    assert_eq!(range_if(&last_modified).status, 206);
    let weak = range_if(&etag);
    assert_eq!((weak.status, &weak.body[..]), (200, &sample[..]));
    assert_eq!(range_if("\"other\"").status, 200);
    let not_modified = get(&base, t, &[("JOB-TOKEN", TOKEN), ("If-None-Match", &etag)]);
    assert_eq!(not_modified.status, 304);
    let other_file = get(
        &base,
        "/api/v4/projects/2/jobs/110/artifacts",
        &[("JOB-TOKEN", TOKEN), ("If-None-Match", &etag)],
    );
    assert_eq!(
        other_file.status, 304,
        "the same weak ETag matches any file"
    );
    let entry = get(
        &base,
        "/api/v4/projects/2/jobs/102/artifacts/dist/app",
        AUTH,
    );
    assert_eq!(entry.header("etag"), Some(WEAK_ETAG));

    let head = request(&base, "HEAD", t, AUTH);
    assert_eq!(head.status, 200);
    assert_eq!(head.header("content-length"), Some(&*len.to_string()));
}

#[test]
fn file_archives_are_streamed_from_disk() {
    let dir = std::env::temp_dir().join(format!("fake-gitlab-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("large.zip");
    zips::write_large(&path, 3 << 20).expect("write_large");
    let bytes = std::fs::read(&path).expect("read back");

    let s = start();
    let job = {
        let mut w = s.world();
        let pipeline = w.add_pipeline(2, "big", "success");
        w.add_job(pipeline, "big", Some(Archive::File(path.clone())))
    };
    let base = s.server_url();
    let t = format!("/api/v4/projects/2/jobs/{job}/artifacts");
    let full = get(&base, &t, AUTH);
    assert!(full.status == 200 && full.body == bytes);
    let part = get(
        &base,
        &t,
        &[("JOB-TOKEN", TOKEN), ("Range", "bytes=1000000-1999999")],
    );
    assert!(part.status == 206 && part.body == bytes[1_000_000..2_000_000]);
    let tail = get(
        &base,
        &format!(
            "/api/v4/projects/2/jobs/artifacts/big/raw/{}?job=big",
            zips::LARGE_TAIL_ENTRY
        ),
        AUTH,
    );
    assert_eq!(tail.body, zips::LARGE_TAIL);
    std::fs::remove_file(&path).expect("remove");
    assert_eq!(
        get(&base, &t, AUTH).text(),
        r#"{"message":"404 Not Found"}"#
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn object_storage_redirect_and_storage_origin() {
    let s = Server::start(Config {
        object_storage: true,
        ..Config::default()
    })
    .expect("server");
    let r = get(
        &s.server_url(),
        "/api/v4/projects/2/jobs/artifacts/main/download?job=build",
        AUTH,
    );
    assert_eq!(r.status, 302);
    assert_eq!(r.header("content-type"), Some("text/plain"));
    let location = r.header("location").expect("location").to_string();
    let prefix = format!(
        "{}/artifacts/102/artifacts.zip?X-Amz-Expires=300&X-Amz-Signature=",
        s.storage_url()
    );
    assert!(location.starts_with(&prefix), "{location}");
    let target = &location[s.storage_url().len()..];

    // Issue 13, item 7: like S3, a JOB-TOKEN beside the presigned query is an unknown
    // header (ignored, but logged), an Authorization header a second auth mechanism.
    let with_job_token = get(&s.storage_url(), target, AUTH);
    assert_eq!(with_job_token.status, 200);
    let bearer = get(&s.storage_url(), target, &[("Authorization", "Bearer x")]);
    assert_eq!(bearer.status, 400);
    assert!(bearer.text().contains(
        "<Code>InvalidArgument</Code><Message>Only one auth mechanism allowed</Message>"
    ));
    assert!(
        s.requests()
            .iter()
            .any(|r| r.origin == Origin::Storage && r.header("job-token") == Some(TOKEN)),
        "the log keeps what the storage ignored"
    );

    let ok = get(&s.storage_url(), target, &[]);
    assert_eq!(ok.status, 200);
    assert!(ok.body == zips::sample());
    // Storage's ETag is strong (the object's), so it can carry If-Range.
    let strong = ok.header("etag").expect("etag").to_string();
    assert!(strong.starts_with('"') && strong.len() == 66, "{strong}");
    let part = get(&s.storage_url(), target, &[("Range", "bytes=0-3")]);
    assert_eq!((part.status, &part.body[..]), (206, &b"PK\x03\x04"[..]));
    let resumed = get(
        &s.storage_url(),
        target,
        &[("Range", "bytes=0-3"), ("If-Range", &strong)],
    );
    assert_eq!(resumed.status, 206);

    let forged = get(
        &s.storage_url(),
        "/artifacts/102/artifacts.zip?X-Amz-Signature=00",
        &[],
    );
    assert_eq!(forged.status, 403);
    assert!(forged.text().contains("<Code>AccessDenied</Code>"));

    s.inject(Fault::new("artifacts.zip", FaultKind::ExpireSignatures).on_storage());
    let expired = get(&s.storage_url(), target, &[]);
    assert_eq!(expired.status, 403);
    assert!(expired.text().contains("<Code>AccessDenied</Code>"));
    // A fresh URL works again.
    let again = get(
        &s.server_url(),
        "/api/v4/projects/2/jobs/102/artifacts",
        AUTH,
    );
    let fresh = &again.header("location").expect("location")[s.storage_url().len()..];
    assert_eq!(get(&s.storage_url(), fresh, &[]).status, 200);

    let origins: Vec<Origin> = s.requests().iter().map(|r| r.origin).collect();
    assert_eq!(origins.iter().filter(|o| **o == Origin::Storage).count(), 8);
    // Single-file routes are never redirected.
    let one = get(
        &s.server_url(),
        "/api/v4/projects/2/jobs/102/artifacts/dist/app",
        AUTH,
    );
    assert_eq!(one.status, 200);
}

#[test]
fn faults() {
    let s = start();
    let base = s.server_url();
    let t = "/api/v4/projects/2/jobs/102/artifacts";
    let len = zips::sample().len();

    s.inject(Fault::rate_limited("/jobs/102/", "7"));
    s.inject(Fault::status("/jobs/102/", 502));
    s.inject(Fault::new("/jobs/102/", FaultKind::Html(503)));
    let limited = get(&base, t, AUTH);
    assert_eq!(limited.status, 429);
    assert_eq!(limited.text(), "Retry later\n");
    assert_eq!(limited.header("retry-after"), Some("7"));
    for h in [
        "ratelimit-name",
        "ratelimit-limit",
        "ratelimit-observed",
        "ratelimit-remaining",
        "ratelimit-reset",
        "ratelimit-resettime",
    ] {
        assert!(limited.header(h).is_some(), "{h}");
    }
    let bad_gateway = get(&base, t, AUTH);
    assert_eq!(
        (bad_gateway.status, bad_gateway.text()),
        (502, "GitLab is not responding")
    );
    let html = get(&base, t, AUTH);
    assert_eq!(html.status, 503);
    assert_eq!(html.header("content-type"), Some("text/html"));
    assert_eq!(get(&base, t, AUTH).status, 200, "faults are used up");

    s.inject(Fault::new("/jobs/102/", FaultKind::Truncate(100)));
    let cut = get(&base, t, AUTH);
    assert_eq!(cut.header("content-length"), Some(&*len.to_string()));
    assert!(!cut.complete);
    assert_eq!(cut.body.len(), 100);

    s.inject(Fault::new("/jobs/102/", FaultKind::ResetAfter(50)));
    let reset = get(&base, t, AUTH);
    assert!(!reset.complete);
    assert!(reset.body.len() <= 50);

    s.inject(Fault::new("/jobs/102/", FaultKind::Reset));
    let mut conn = TcpStream::connect(("127.0.0.1", port_of(&base))).expect("connect");
    conn.write_all(format!("GET {t} HTTP/1.1\r\nJOB-TOKEN: {TOKEN}\r\n\r\n").as_bytes())
        .expect("send");
    let mut buf = Vec::new();
    let got = conn.read_to_end(&mut buf);
    assert!(buf.is_empty());
    assert_eq!(
        got.map_err(|e| e.kind()),
        Err(std::io::ErrorKind::ConnectionReset)
    );

    s.inject(Fault::new(
        "/jobs/102/",
        FaultKind::StallAfter(10, Duration::from_millis(300)),
    ));
    let started = std::time::Instant::now();
    let stalled = get(&base, t, AUTH);
    assert!(stalled.complete && started.elapsed() >= Duration::from_millis(300));

    s.inject(Fault::new("/jobs/102/", FaultKind::IgnoreRange));
    let ignored = get(&base, t, &[("JOB-TOKEN", TOKEN), ("Range", "bytes=0-9")]);
    assert_eq!((ignored.status, ignored.body.len()), (200, len));

    s.inject(Fault::new("/job", FaultKind::Delay(Duration::from_millis(200))).times(2));
    let started = std::time::Instant::now();
    assert_eq!(get(&base, "/api/v4/job", AUTH).status, 200);
    assert_eq!(get(&base, "/api/v4/job", AUTH).status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let s = start();
    let conn = TcpStream::connect(("127.0.0.1", port_of(&s.server_url()))).expect("connect");
    let mut reader = BufReader::new(conn.try_clone().expect("clone"));
    let mut w = conn;
    for _ in 0..3 {
        w.write_all(
            format!("GET /api/v4/job HTTP/1.1\r\nHost: x\r\nJOB-TOKEN: {TOKEN}\r\n\r\n").as_bytes(),
        )
        .expect("send");
        let r = read_response(&mut reader, false);
        assert_eq!(r.status, 200);
    }
    assert_eq!(s.requests().len(), 3);
}

#[test]
fn tls_with_the_generated_ca() {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;

    let s = Server::start(Config {
        tls: true,
        storage_tls: Some(false),
        ..Config::default()
    })
    .expect("server");
    assert!(s.api_url().starts_with("https://127.0.0.1:"));
    assert!(s.storage_url().starts_with("http://127.0.0.1:"));
    let ca = s.ca_file().expect("ca file");
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(&ca).expect("pem"))
        .expect("root");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    for host in ["127.0.0.1", "localhost"] {
        let name = rustls::pki_types::ServerName::try_from(host).expect("name");
        let conn = rustls::ClientConnection::new(Arc::new(config.clone()), name).expect("client");
        let tcp = TcpStream::connect(("127.0.0.1", port_of(&s.api_url()))).expect("connect");
        let mut tls = rustls::StreamOwned::new(conn, tcp);
        tls.write_all(format!("GET /api/v4/job HTTP/1.1\r\nHost: {host}\r\nJOB-TOKEN: {TOKEN}\r\nConnection: close\r\n\r\n").as_bytes())
            .expect("send over TLS");
        let r = read_response(&mut BufReader::new(tls), false);
        assert_eq!(r.status, 200);
    }
    drop(s);
    assert!(!ca.exists(), "the CA file is removed with the server");
}

/// The standalone binary removes the CA it generated for `--tls` when it is told to stop
/// (it used to leave it in the temporary directory).
#[test]
fn the_standalone_server_removes_its_ca_on_sigterm() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(env!("CARGO_BIN_EXE_fake-gitlab"))
        .arg("--tls")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut ca = None;
    for line in BufReader::new(child.stdout.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(path) = line.strip_prefix("export CI_SERVER_TLS_CA_FILE=") {
            ca = Some(std::path::PathBuf::from(path));
            break;
        }
    }
    let ca = ca.expect("an export line for the CA");
    assert!(ca.is_file(), "{} exists while serving", ca.display());
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "fake-gitlab ended with {status}");
    assert!(!ca.exists(), "{} is left behind", ca.display());
    assert!(
        !ca.parent().unwrap().exists(),
        "its directory is left behind"
    );
}

/// `--background` (issue 14): `eval "$(fake-gitlab --background)"` returns once the
/// server listens — the command substitution sees the end of its output — and the server
/// it leaves behind serves the exports it printed until `kill "$FAKE_GITLAB_PID"`.
#[test]
fn the_standalone_server_in_the_background_returns_once_listening() {
    use std::process::Command;
    let dir = tempfile_dir();
    let log = dir.join("fake.log");
    // In sh, as a person pastes it: the eval returns, then the exports are in the shell.
    let script = format!(
        "eval \"$('{}' --tls --background --log '{}')\" && printf '%s %s %s\\n' \"$FAKE_GITLAB_PID\" \"$CI_SERVER_URL\" \"$CI_SERVER_TLS_CA_FILE\"",
        env!("CARGO_BIN_EXE_fake-gitlab"),
        log.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(out.status.success(), "{out:?}");
    let line = String::from_utf8(out.stdout).unwrap();
    let [pid, url, ca] = line.split_whitespace().collect::<Vec<_>>()[..] else {
        panic!("three values: {line:?}");
    };
    let stop = Stop(pid.to_string());
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    assert!(Path::new(ca).is_file(), "{ca}");
    // It serves: a plain TCP connection gets a TLS answer (the fake's own TLS test shows
    // the handshake; here it is enough that something listens on the printed port).
    TcpStream::connect(("127.0.0.1", port_of(url))).expect("the background server listens");
    drop(stop);
    // The log holds the startup line (stderr of the background server).
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("fake-gitlab: API https://127.0.0.1:"),
        "{}",
        log.display()
    );

    // A background server that cannot start says so, instead of the exports.
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_fake-gitlab"))
        .args(["--port", &port, "--background"])
        .output()
        .unwrap();
    assert!(!out.status.success(), "{out:?}");
    assert!(out.stdout.is_empty(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ended before it was ready"),
        "{out:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// Kills the background server on drop, so a failing assertion leaves no process behind.
struct Stop(String);

impl Drop for Stop {
    fn drop(&mut self) {
        let _ = std::process::Command::new("kill").arg(&self.0).status();
    }
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("fake-gitlab-bg-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The file of a one-file archive served for `target` (200 asserted).
fn only_file(base: &str, target: &str) -> (String, String) {
    let r = get(base, target, AUTH);
    assert_eq!(r.status, 200, "{target}: {}", r.text());
    let mut z = zip::ZipArchive::new(std::io::Cursor::new(r.body)).expect("zip");
    let mut f = z.by_index(0).expect("an entry");
    let mut text = String::new();
    f.read_to_string(&mut text).expect("utf-8");
    (f.name().expect("a name").to_string(), text)
}

#[test]
fn by_ref_search_of_recent_pipelines_and_child_pipelines() {
    let s = start();
    let base = s.server_url();
    let by_ref = |job: &str, search: bool| {
        let flag = if search {
            "&search_recent_successful_pipelines=true"
        } else {
            ""
        };
        format!("/api/v4/projects/2/jobs/artifacts/main/download?job={job}{flag}")
    };
    // `package` is only in the child pipeline 27, which is never "the newest successful
    // pipeline" itself (a dangling source) and whose parent (26) is still running.
    let legacy = get(&base, &by_ref("package", false), AUTH);
    assert_eq!(
        (legacy.status, legacy.text()),
        (404, r#"{"message":"404 Not found"}"#)
    );
    // Searching the recent successful pipelines finds it there.
    assert_eq!(only_file(&base, &by_ref("package", true)).0, "pkg/app.tar");
    let raw = get(
        &base,
        "/api/v4/projects/2/jobs/artifacts/main/raw/pkg/app.tar?job=package&search_recent_successful_pipelines=1",
        AUTH,
    );
    assert_eq!(raw.text(), "app.tar of the child pipeline (job 163)\n");
    let none = get(&base, &by_ref("nope", true), AUTH);
    assert_eq!(
        (none.status, none.text()),
        (404, r#"{"message":"404 Job Not Found"}"#)
    );
    let bad = get(
        &base,
        "/api/v4/projects/2/jobs/artifacts/main/download?job=build&search_recent_successful_pipelines=perhaps",
        AUTH,
    );
    assert_eq!(
        (bad.status, bad.text()),
        (
            400,
            r#"{"error":"search_recent_successful_pipelines is invalid"}"#
        )
    );

    // A newer successful pipeline without `build`: the strict lookup stops there, the search
    // goes on to pipeline 21.
    {
        let mut w = s.world();
        let p = w.add_pipeline(2, "main", "success");
        w.add_job(p, "docs", Some(Archive::from(zips::sample())));
    }
    let strict = get(&base, &by_ref("build", false), AUTH);
    assert_eq!(strict.text(), r#"{"message":"404 Not found"}"#);
    let found = get(&base, &by_ref("build", true), AUTH);
    assert!(found.status == 200 && found.body == zips::sample());

    // Once the fan-in pipeline succeeds (and the newer one is gone), the strict lookup finds
    // the child's job through its parent, parent first when both have the name; the search
    // takes the newest pipeline, the child.
    {
        let mut w = s.world();
        w.pipelines
            .retain(|p| p.id <= demo::DOWNSTREAM_PIPELINE || p.project_id != 2);
        w.pipeline_mut(demo::FAN_IN_PIPELINE).expect("26").status = "success".into();
        let text = b"compiled again by the child\n";
        let archive = zips::build(&[zips::Entry::file("bin/app", text, 0o644)]);
        w.add_job(
            demo::CHILD_PIPELINE,
            "compile",
            Some(Archive::from(archive)),
        )
    };
    assert_eq!(only_file(&base, &by_ref("package", false)).0, "pkg/app.tar");
    let parent = only_file(&base, &by_ref("compile", false)).1;
    assert_eq!(parent, "#!/bin/sh\necho compiled by job 150\n");
    let child = only_file(&base, &by_ref("compile", true)).1;
    assert_eq!(child, "compiled again by the child\n");
    // A retried job is never the strict lookup's; the retry is.
    let lint = only_file(&base, &by_ref("lint", false)).1;
    assert!(lint.contains("attempt 2"), "{lint}");

    // An older GitLab ignores the parameter.
    let old = Server::start(Config {
        no_search_recent: true,
        ..Config::default()
    })
    .expect("server");
    let r = get(&old.server_url(), &by_ref("package", true), AUTH);
    assert_eq!(
        (r.status, r.text()),
        (404, r#"{"message":"404 Not found"}"#)
    );
    let r = get(
        &old.server_url(),
        "/api/v4/projects/2/jobs/artifacts/main/download?job=build&search_recent_successful_pipelines=perhaps",
        AUTH,
    );
    assert_eq!(r.status, 200, "the parameter is not even validated");
}

#[test]
fn the_setup_job_of_the_tokens_pipeline_has_an_archive() {
    let s = start();
    let (name, text) = only_file(&s.server_url(), "/api/v4/projects/1/jobs/7/artifacts");
    assert_eq!(name, "setup/env.txt");
    assert!(text.contains("setup (job 7)"));
}
