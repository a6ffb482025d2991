//! The jobs lists over real sockets: `GET /projects/:id/jobs` and `GET
//! /projects/:id/pipelines/:pipeline_id/jobs` — filtering, order, pagination headers, the
//! entity's fields against the seed fixture, fine-grained job-token permissions, the jobs-list
//! rate limit, and a job that finishes while a client polls.

mod common;

use std::time::Duration;

use common::{AUTH, get, get_json, ids, start};
use fake_gitlab::{Archive, Fault, TOKEN, demo, pipeline_sha};
use serde_json::Value;

/// Every page of a list, following `X-Next-Page`; returns the ids and each page's response
/// headers `(X-Page, X-Next-Page, X-Prev-Page, Link)`.
fn all_pages(base: &str, target: &str) -> (Vec<u64>, Vec<[String; 4]>) {
    let mut all = Vec::new();
    let mut pages = Vec::new();
    let mut page = "1".to_string();
    loop {
        let sep = if target.contains('?') { '&' } else { '?' };
        let (r, list) = get_json(base, &format!("{target}{sep}page={page}"));
        all.extend(ids(&list));
        let h = |k: &str| r.header(k).unwrap_or_else(|| panic!("{k}")).to_string();
        pages.push([h("x-page"), h("x-next-page"), h("x-prev-page"), h("link")]);
        page = h("x-next-page");
        if page.is_empty() {
            return (all, pages);
        }
        assert!(pages.len() < 50, "pagination does not end");
    }
}

#[test]
fn project_jobs_newest_first_with_retries_without_bridges() {
    let s = start();
    let base = s.server_url();
    let (r, list) = get_json(&base, "/api/v4/projects/2/jobs?per_page=100");
    let got = ids(&list);
    let mut sorted = got.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(got, sorted, "newest first");
    for id in [
        demo::LINT_RETRIED_JOB,
        demo::LINT_JOB,
        demo::RETRIED_BUILD_JOB,
        demo::PACKAGE_JOB,
        demo::BUILD_JOB,
    ] {
        assert!(got.contains(&id), "{id} is a build of project 2");
    }
    for id in [
        demo::CHILD_BRIDGE,
        demo::DOWNSTREAM_BRIDGE,
        demo::DEPLOY_JOB,
        demo::TOKEN_JOB,
    ] {
        assert!(!got.contains(&id), "{id} is no build of project 2");
    }
    assert_eq!(got.first(), Some(&demo::PACKAGE_JOB));
    // Without totals: no X-Total, X-Total-Pages, nor rel="last".
    assert_eq!(r.header("x-total"), None);
    assert_eq!(r.header("x-total-pages"), None);
    assert_eq!(r.header("x-page"), Some("1"));
    assert_eq!(r.header("x-per-page"), Some("100"));
    assert_eq!(r.header("x-next-page"), Some(""));
    assert_eq!(r.header("x-prev-page"), Some(""));
    assert_eq!(
        r.header("link"),
        Some(&*format!(
            "<{base}/api/v4/projects/2/jobs?id=2&page=1&per_page=100>; rel=\"first\""
        ))
    );

    // The same list, two at a time, by following X-Next-Page.
    let (paged, pages) = all_pages(&base, "/api/v4/projects/2/jobs?per_page=2");
    assert_eq!(paged, got);
    let [page, next, prev, link] = &pages[1];
    assert_eq!(
        (page.as_str(), next.as_str(), prev.as_str()),
        ("2", "3", "1")
    );
    let url = |n: u32| format!("<{base}/api/v4/projects/2/jobs?id=2&page={n}&per_page=2>");
    assert_eq!(
        link,
        &format!(
            "{}; rel=\"prev\", {}; rel=\"next\", {}; rel=\"first\"",
            url(1),
            url(3),
            url(1)
        )
    );
    assert!(pages.iter().all(|p| !p[3].contains("rel=\"last\"")));
    // A page past the end: empty, no next and no previous page.
    let (r, past) = get_json(&base, "/api/v4/projects/2/jobs?per_page=2&page=500");
    assert_eq!(ids(&past), Vec::<u64>::new());
    assert_eq!(
        (r.header("x-next-page"), r.header("x-prev-page")),
        (Some(""), Some(""))
    );
    // per_page is capped at 100; Link repeats it as given.
    let (r, _) = get_json(&base, "/api/v4/projects/2/jobs?per_page=1000");
    assert_eq!(r.header("x-per-page"), Some("100"));
    assert!(
        r.header("link")
            .is_some_and(|l| l.contains("per_page=1000"))
    );
    let bad = get(&base, "/api/v4/projects/2/jobs?per_page=many", AUTH);
    assert_eq!(
        (bad.status, bad.text()),
        (400, r#"{"error":"per_page is invalid"}"#)
    );
}

#[test]
fn scope_filters_by_status_and_refuses_unknown_ones() {
    let s = start();
    let base = s.server_url();
    let (_, failed) = get_json(&base, "/api/v4/projects/2/jobs?scope=failed");
    assert_eq!(
        ids(&failed),
        vec![
            demo::BROKEN_JOB,
            demo::LINT_RETRIED_JOB,
            demo::RETRIED_BUILD_JOB
        ]
    );
    let (r, some) = get_json(
        &base,
        "/api/v4/projects/2/jobs?scope[]=running&scope%5B%5D=manual&per_page=1",
    );
    assert_eq!(ids(&some), vec![demo::MANUAL_JOB]);
    // The coerced scope is written back as an array in the Link URLs.
    assert!(
        r.header("link").is_some_and(|l| l
            .contains("page=2&per_page=1&scope%5B%5D=running&scope%5B%5D=manual>; rel=\"next\"")),
        "{:?}",
        r.header("link")
    );
    for target in [
        "/api/v4/projects/2/jobs?scope=bogus",
        "/api/v4/projects/2/jobs?scope[]=running&scope[]=bogus",
        "/api/v4/projects/2/pipelines/26/jobs?scope[]=Success",
        "/api/v4/projects/2/pipelines/26/bridges?scope=done",
    ] {
        let r = get(&base, target, AUTH);
        assert_eq!(
            (r.status, r.text()),
            (400, r#"{"error":"scope does not have a valid value"}"#),
            "{target}"
        );
    }
}

#[test]
fn job_bodies_are_gitlabs_job_entity() {
    let s = start();
    let base = s.server_url();
    let (_, list) = get_json(&base, "/api/v4/projects/2/jobs?per_page=100");
    let jobs = list.as_array().expect("list");
    let job = |id: u64| jobs.iter().find(|j| j["id"] == id).expect("listed").clone();

    // Every field of the documentation's example (the seed fixture) is there, of the same
    // JSON type where both are set.
    let fixture: Value =
        serde_json::from_str(include_str!("../fixtures/project_jobs.json")).expect("fixture");
    let lint = job(demo::LINT_JOB);
    fn same_shape(path: &str, want: &Value, got: &Value) {
        match (want, got) {
            (Value::Object(w), Value::Object(g)) => {
                for (k, v) in w {
                    // Profile fields GitLab has dropped since the example was written, and
                    // `failure_reason`, only there for failed jobs (checked below).
                    if (path == "job.user" && k == "skype") || k == "failure_reason" {
                        continue;
                    }
                    let g = g.get(k).unwrap_or_else(|| panic!("{path}.{k} is missing"));
                    same_shape(&format!("{path}.{k}"), v, g);
                }
            }
            (Value::Array(w), Value::Array(g)) => {
                if let (Some(w), Some(g)) = (w.first(), g.first()) {
                    same_shape(&format!("{path}[]"), w, g);
                }
            }
            (Value::Null, _) | (_, Value::Null) => {}
            (w, g) => assert_eq!(
                std::mem::discriminant(w),
                std::mem::discriminant(g),
                "{path}: {w} vs {g}"
            ),
        }
    }
    same_shape("job", &fixture[0], &lint);

    let archive_len = |id: u64| match s.world().job(id).and_then(|j| j.archive.clone()) {
        Some(Archive::Bytes(b)) => b.len() as u64,
        other => panic!("{other:?}"),
    };
    assert_eq!(lint["name"], "lint");
    assert_eq!(lint["stage"], "test");
    assert_eq!(lint["status"], "success");
    assert_eq!(lint["ref"], "main");
    assert_eq!(lint["tag"], false);
    assert_eq!(
        lint["web_url"],
        format!("{base}/group/sub/my.project/-/jobs/157")
    );
    assert_eq!(lint["pipeline"]["id"], demo::FAN_IN_PIPELINE);
    assert_eq!(lint["pipeline"]["project_id"], 2);
    assert_eq!(lint["pipeline"]["status"], "running");
    assert_eq!(lint["pipeline"]["source"], "push");
    assert_eq!(lint["pipeline"]["sha"], pipeline_sha(demo::FAN_IN_PIPELINE));
    assert_eq!(lint["commit"]["id"], lint["pipeline"]["sha"]);
    assert_eq!(
        lint["artifacts"][0],
        serde_json::json!({"file_type": "archive", "size": archive_len(157),
            "filename": "artifacts.zip", "file_format": "zip"})
    );
    assert_eq!(lint["artifacts_file"]["size"], archive_len(157));
    assert!(lint["finished_at"].is_string() && lint.get("failure_reason").is_none());

    let broken = job(demo::BROKEN_JOB);
    assert_eq!(broken["failure_reason"], "script_failure");
    let no_archive = |j: &Value| {
        j["artifacts"]
            .as_array()
            .expect("artifacts")
            .iter()
            .all(|a| a["file_type"] != "archive")
            && j.get("artifacts_file").is_none()
    };
    assert!(no_archive(&broken));
    assert!(no_archive(&job(demo::NO_ARTIFACTS_JOB)));
    let slow = job(demo::SLOW_JOB);
    assert!(slow["started_at"].is_string() && slow["finished_at"].is_null());
    assert_eq!(slow["artifacts"][0]["file_type"], "archive");
    let manual = job(demo::MANUAL_JOB);
    assert!(manual["started_at"].is_null());
    // Expired: still listed as an artifact, but no artifacts_file, and a past expiry.
    let expired = job(demo::EXPIRED_JOB);
    assert_eq!(expired["artifacts"][0]["file_type"], "archive");
    assert!(expired.get("artifacts_file").is_none());
    assert!(expired["artifacts_expire_at"].is_string());
    let tagged = get_json(&base, "/api/v4/projects/2/pipelines/24/jobs").1;
    assert_eq!(tagged[0]["tag"], true);

    // The same entity on every run: nothing comes from the clock.
    let again = get_json(&base, "/api/v4/projects/2/jobs?per_page=100").1;
    assert_eq!(again, list);
}

#[test]
fn pipeline_jobs_retries_pages_with_totals_and_404s() {
    let s = start();
    let base = s.server_url();
    let (_, latest) = get_json(&base, "/api/v4/projects/2/pipelines/26/jobs?per_page=100");
    let got = ids(&latest);
    assert!(got.contains(&demo::LINT_JOB) && !got.contains(&demo::LINT_RETRIED_JOB));
    assert!(!got.contains(&demo::CHILD_BRIDGE), "no bridges");
    assert!(
        !got.contains(&demo::PACKAGE_JOB),
        "no child pipeline's jobs"
    );
    assert_eq!(got.len(), 10);
    let (_, all) = get_json(
        &base,
        "/api/v4/projects/2/pipelines/26/jobs?include_retried=true&per_page=100",
    );
    assert_eq!(ids(&all).len(), 11);
    assert!(ids(&all).contains(&demo::LINT_RETRIED_JOB));

    // Pipeline 21: five current jobs (101 was retried), three pages of two, with totals.
    let target = "/api/v4/projects/group%2Fsub%2Fmy.project/pipelines/21/jobs?per_page=2";
    let (paged, pages) = all_pages(&base, target);
    assert_eq!(paged, vec![106, 105, 104, 103, 102]);
    assert_eq!(pages.len(), 3);
    let (r, _) = get_json(&base, &format!("{target}&page=2"));
    assert_eq!(r.header("x-total"), Some("5"));
    assert_eq!(r.header("x-total-pages"), Some("3"));
    assert_eq!(
        (r.header("x-next-page"), r.header("x-prev-page")),
        (Some("3"), Some("1"))
    );
    let url = |n: u32| {
        format!(
            "<{base}/api/v4/projects/group%2Fsub%2Fmy.project/pipelines/21/jobs?\
             id=group%2Fsub%2Fmy.project&include_retried=false&page={n}&per_page=2&pipeline_id=21>"
        )
    };
    assert_eq!(
        r.header("link"),
        Some(&*format!(
            "{}; rel=\"prev\", {}; rel=\"next\", {}; rel=\"first\", {}; rel=\"last\"",
            url(1),
            url(3),
            url(1),
            url(3)
        ))
    );
    assert_eq!(pages[2][1], "", "the last page has no next");
    let (_, failed) = get_json(
        &base,
        "/api/v4/projects/2/pipelines/21/jobs?include_retried=1&scope=failed",
    );
    assert_eq!(ids(&failed), vec![demo::RETRIED_BUILD_JOB]);

    for (target, status, body) in [
        (
            "/api/v4/projects/2/pipelines/999/jobs",
            404,
            r#"{"message":"404 Not found"}"#,
        ),
        // Pipeline 30 is project 3's.
        (
            "/api/v4/projects/2/pipelines/30/jobs",
            404,
            r#"{"message":"404 Not found"}"#,
        ),
        (
            "/api/v4/projects/2/pipelines/abc/jobs",
            400,
            r#"{"error":"pipeline_id is invalid"}"#,
        ),
        (
            "/api/v4/projects/2/pipelines/26/jobs?include_retried=maybe",
            400,
            r#"{"error":"include_retried is invalid"}"#,
        ),
        (
            "/api/v4/projects/999/pipelines/26/jobs",
            404,
            r#"{"message":"404 Project Not Found"}"#,
        ),
    ] {
        let r = get(&base, target, AUTH);
        assert_eq!((r.status, r.text()), (status, body), "{target}");
    }
}

#[test]
fn fine_grained_permissions_refuse_other_projects_job_tokens() {
    let s = start();
    let base = s.server_url();
    s.world().project_mut(2).expect("p2").job_token_policies = Some(Vec::new());
    let read_jobs = r#"{"message":"403 Forbidden - Insufficient permissions to access this resource in project my.project. The following token permission is required: read_jobs."}"#;
    let read_pipelines = read_jobs.replace("read_jobs", "read_pipelines");
    for (target, body) in [
        ("/api/v4/projects/2/jobs", read_jobs),
        ("/api/v4/projects/2/pipelines/26/jobs", read_jobs),
        ("/api/v4/projects/2/jobs/102/artifacts", read_jobs),
        ("/api/v4/projects/2/pipelines/26/bridges", &read_pipelines),
        ("/api/v4/projects/2/pipelines/26", &read_pipelines),
    ] {
        let r = get(&base, target, AUTH);
        assert_eq!((r.status, r.text()), (403, body), "{target}");
    }
    s.world().project_mut(2).expect("p2").job_token_policies = Some(vec!["read_jobs".into()]);
    assert_eq!(get(&base, "/api/v4/projects/2/jobs", AUTH).status, 200);
    assert_eq!(
        get(&base, "/api/v4/projects/2/pipelines/26/bridges", AUTH).status,
        403
    );
    // The token's own project is never restricted.
    s.world().project_mut(1).expect("p1").job_token_policies = Some(Vec::new());
    assert_eq!(get(&base, "/api/v4/projects/1/jobs", AUTH).status, 200);
    assert_eq!(
        get(&base, "/api/v4/projects/1/pipelines/6/jobs", AUTH).status,
        200
    );
}

#[test]
fn allowlist_role_and_moved_project_on_the_jobs_list() {
    let s = start();
    let base = s.server_url();
    let locked = get(&base, "/api/v4/projects/other%2Flocked/jobs", AUTH);
    assert_eq!(
        (locked.status, locked.text()),
        (
            403,
            r#"{"message":"403 Forbidden - Authentication by CI/CD job token not allowed from project1 to locked."}"#
        )
    );
    // Public, not on the allowlist: readable.
    let (_, public) = get_json(&base, "/api/v4/projects/4/jobs");
    assert_eq!(ids(&public), vec![demo::PUBLIC_BUILD_JOB]);
    // Anonymous: 401, even for the public project (`authenticate!`).
    for id in ["2", "4"] {
        let r = get(&base, &format!("/api/v4/projects/{id}/jobs"), &[]);
        assert_eq!(
            (r.status, r.text()),
            (401, r#"{"message":"401 Unauthorized"}"#)
        );
    }
    let moved = get(
        &base,
        "/api/v4/projects/group%2Fsub%2Fold.project/jobs?scope=success",
        AUTH,
    );
    assert_eq!(moved.status, 301);
    assert_eq!(
        moved.header("location"),
        Some(&*format!("{base}/api/v4/projects/2/jobs?scope=success"))
    );
    s.world().project_mut(2).expect("p2").user_role = Some(fake_gitlab::Role::Guest);
    assert_eq!(get(&base, "/api/v4/projects/2/jobs", AUTH).status, 200);
    s.world().project_mut(2).expect("p2").public_builds = false;
    let guest = get(&base, "/api/v4/projects/2/jobs", AUTH);
    assert_eq!(
        (guest.status, guest.text()),
        (403, r#"{"message":"403 Forbidden"}"#)
    );
}

#[test]
fn rate_limit_faults_hit_the_jobs_list_only() {
    let s = start();
    let base = s.server_url();
    s.inject(Fault::jobs_list_rate_limited(None).times(2));
    // Other routes under the same `/jobs` are not refused …
    for target in [
        "/api/v4/projects/2/jobs/102/artifacts",
        "/api/v4/projects/2/pipelines/26/jobs",
        "/api/v4/projects/2/jobs/artifacts/main/download?job=build",
    ] {
        assert_eq!(get(&base, target, AUTH).status, 200, "{target}");
    }
    // … the list is, twice, as the application limiter answers: JSON, no Retry-After.
    for _ in 0..2 {
        let r = get(&base, "/api/v4/projects/2/jobs?scope[]=success", AUTH);
        assert_eq!(r.status, 429);
        assert_eq!(
            r.text(),
            r#"{"message":{"error":"This endpoint has been requested too many times. Try again later."}}"#
        );
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("retry-after"), None);
    }
    assert_eq!(get(&base, "/api/v4/projects/2/jobs", AUTH).status, 200);

    // Rack::Attack's throttle, with its Retry-After.
    s.inject(Fault::jobs_list_rate_limited(Some("3")));
    assert_eq!(
        get(&base, "/api/v4/projects/2/jobs/102/artifacts", AUTH).status,
        200
    );
    let r = get(
        &base,
        "/api/v4/projects/group%2Fsub%2Fmy.project/jobs",
        AUTH,
    );
    assert_eq!((r.status, r.text()), (429, "Retry later\n"));
    assert_eq!(r.header("retry-after"), Some("3"));
    assert_eq!(
        r.header("ratelimit-name"),
        Some("throttle_authenticated_api")
    );
}

#[test]
fn a_job_that_finishes_between_two_polls_is_seen_finished() {
    let s = start();
    let base = s.server_url();
    let slow = |v: &Value| {
        v.as_array()
            .expect("list")
            .iter()
            .find(|j| j["id"] == demo::SLOW_JOB)
            .cloned()
            .expect("slow is listed")
    };
    let target = "/api/v4/projects/2/pipelines/26/jobs?per_page=100";
    let before = slow(&get_json(&base, target).1);
    assert_eq!(before["status"], "running");
    assert!(before["finished_at"].is_null());
    s.world().job_mut(demo::SLOW_JOB).expect("slow").status = "success".into();
    let after = slow(&get_json(&base, target).1);
    assert_eq!(after["status"], "success");
    assert!(after["finished_at"].is_string());

    // A client polling on its own thread; the test flips the status once it has seen the
    // third poll, without sleeping on a guess.
    s.world().job_mut(demo::SLOW_JOB).expect("slow").status = "running".into();
    let poller = {
        let base = base.clone();
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            for n in 1..=200 {
                let (_, list) = get_json(&base, &format!("{target}&poll={n}"));
                let status = slow(&list)["status"].as_str().expect("status").to_string();
                seen.push(status.clone());
                if status == "success" {
                    return seen;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            panic!("the job never finished: {seen:?}");
        })
    };
    let third = s.wait_for_request(Duration::from_secs(10), |r| {
        r.query.iter().any(|(k, v)| k == "poll" && v == "3")
    });
    assert!(third.is_some(), "the client polled three times");
    s.world().job_mut(demo::SLOW_JOB).expect("slow").status = "success".into();
    let seen = poller.join().expect("poller");
    assert!(seen.len() >= 3, "{seen:?}");
    assert!(seen[..2].iter().all(|s| s == "running"), "{seen:?}");
    assert_eq!(seen.last().map(String::as_str), Some("success"));

    // The finished job's archive is what the by-id route serves.
    let r = get(
        &base,
        &format!(
            "/api/v4/projects/2/jobs/{}/artifacts/slow/out.txt",
            demo::SLOW_JOB
        ),
        &[("JOB-TOKEN", TOKEN)],
    );
    assert_eq!(r.text(), "slow job 158, finally done\n");
}
