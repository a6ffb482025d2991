//! Choosing the jobs (issue 12): every selection form against the fake, asserted from its
//! request log; fan-in of several jobs as one change; the errors that name the one cause.
//! Jobs that finish while gljob polls are finished by the test when it has seen a poll.

use std::time::Duration;

use fake_gitlab::zips::{Entry, build};
use fake_gitlab::{Config, Fault, Origin, Server};

use crate::util::{Gljob, api_requests, assert_no_temp, gljob, server_with};

fn archive(files: &[(&str, &[u8])]) -> Option<fake_gitlab::Archive> {
    let entries: Vec<Entry> = files
        .iter()
        .map(|(name, data)| Entry::file(name, data, 0o644))
        .collect();
    Some(build(&entries).into())
}

/// The API requests' paths (query included), in order.
fn targets(server: &Server) -> Vec<String> {
    api_requests(server)
        .into_iter()
        .filter(|r| r.origin == Origin::Api)
        .map(|r| r.target)
        .collect()
}

fn read(g: &Gljob, path: &str) -> String {
    std::fs::read_to_string(g.dir().join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Project 1: an older successful pipeline ran `build`, the newest successful one did not.
fn older_build(config: Config) -> (Server, u64) {
    let server = server_with(config);
    let job = {
        let mut w = server.world();
        let old = w.add_pipeline(1, "main", "success");
        let job = w.add_job(old, "build", archive(&[("out.txt", b"older build")]));
        let new = w.add_pipeline(1, "main", "success");
        w.add_job(new, "lint", archive(&[("lint.txt", b"lint")]));
        job
    };
    (server, job)
}

#[test]
fn the_newest_successful_job_is_found_when_the_newest_pipeline_lacks_it() {
    // A GitLab that searches recent pipelines itself: one request.
    let (server, _) = older_build(Config::default());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(read(&g, "out.txt"), "older build");
    let t = targets(&server);
    assert!(
        !t.is_empty() && t.iter().all(|t| !t.contains("/jobs?")),
        "{t:?}"
    );
    assert!(
        t.iter()
            .all(|t| t.contains("search_recent_successful_pipelines=true")),
        "{t:?}"
    );

    // An older GitLab that ignores the parameter: the jobs list, then the job by id.
    let (server, job) = older_build(Config {
        no_search_recent: true,
        ..Config::default()
    });
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(read(&g, "out.txt"), "older build");
    let t = targets(&server);
    assert!(
        t[0].contains("/artifacts/main/download?job=build&search_recent"),
        "{t:?}"
    );
    assert!(
        t[1].starts_with("/api/v4/projects/1/jobs?scope%5B%5D=success"),
        "{t:?}"
    );
    assert!(
        t[2].ends_with(&format!("/projects/1/jobs/{job}/artifacts")),
        "{t:?}"
    );

    // --latest-pipeline keeps GitLab's meaning: the newest successful pipeline has no build.
    for config in [
        Config::default(),
        Config {
            no_search_recent: true,
            ..Config::default()
        },
    ] {
        let (server, _) = older_build(config);
        gljob(&server)
            .args(&[
                "fetch",
                "--ref",
                "main",
                "--job",
                "build",
                "--latest-pipeline",
            ])
            .fails_unchanged(6, &["latest successful pipeline for \"main\""]);
        assert!(
            targets(&server)
                .iter()
                .all(|t| !t.contains("search_recent") && !t.contains("/jobs?"))
        );
    }
}

#[test]
fn a_wrong_ref_lists_the_refs_that_have_successful_jobs() {
    let (server, _) = older_build(Config {
        no_search_recent: true,
        ..Config::default()
    });
    gljob(&server)
        .args(&["fetch", "--ref", "mian", "--job", "build"])
        .fails_unchanged(
            6,
            &[
                "on \"mian\"",
                "refs with successful jobs: \"main\"",
                "may not exist",
            ],
        );
}

#[test]
fn a_pipeline_whose_jobs_span_several_pages() {
    let server = crate::util::server();
    let pipeline = {
        let mut w = server.world();
        let p = w.add_pipeline(1, "main", "success");
        for i in 0..230 {
            w.add_job(
                p,
                &format!("job-{i:03}"),
                archive(&[("n.txt", format!("{i}").as_bytes())]),
            );
        }
        p
    };
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--pipeline",
        &pipeline.to_string(),
        "--job",
        "job-229",
    ])
    .run()
    .success();
    assert_eq!(read(&g, "n.txt"), "229");
    let pages: Vec<String> = targets(&server)
        .into_iter()
        .filter(|t| t.contains(&format!("/pipelines/{pipeline}/jobs")))
        .collect();
    assert_eq!(pages.len(), 3, "{pages:?}");
    for (i, page) in pages.iter().enumerate() {
        assert!(
            page.contains(&format!("per_page=100&page={}", i + 1)),
            "{page}"
        );
    }
}

#[test]
fn a_retried_job_resolves_to_its_newest_attempt() {
    let server = crate::util::server();
    let pipeline = {
        let mut w = server.world();
        let p = w.add_pipeline(1, "main", "running");
        let first = w.add_job_with(p, "lint", "failed", archive(&[("r.txt", b"attempt 1")]));
        w.retry(first, "success", archive(&[("r.txt", b"attempt 2")]));
        p
    };
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--pipeline",
        &pipeline.to_string(),
        "--job",
        "lint",
    ])
    .run()
    .success();
    assert_eq!(read(&g, "r.txt"), "attempt 2");
}

#[test]
fn pipeline_current_is_this_jobs_own_pipeline() {
    let server = crate::util::server();
    let mut g = gljob(&server);
    g.env(
        "CI_PIPELINE_ID",
        &fake_gitlab::demo::OWN_PIPELINE.to_string(),
    )
    .args(&["fetch", "--pipeline", "current", "--job", "setup"])
    .run()
    .success();
    assert!(g.dir().join("setup").exists());
    assert!(targets(&server).iter().any(|t| t.contains(&format!(
        "/projects/1/pipelines/{}/jobs",
        fake_gitlab::demo::OWN_PIPELINE
    ))));
    let mut g = gljob(&server);
    g.args(&["fetch", "--pipeline", "current", "--job", "setup"])
        .fails_unchanged(3, &["CI_PIPELINE_ID is not set"]);
}

#[test]
fn a_child_pipeline_in_another_project_is_followed_from_its_trigger_job() {
    let server = crate::util::server();
    let (parent, child) = {
        let mut w = server.world();
        let parent = w.add_pipeline(2, "main", "running");
        let (_, child) = w.add_child_pipeline(parent, "to-app", 1, "success");
        w.add_job(child, "package", archive(&[("pkg.txt", b"from the child")]));
        (parent, child)
    };
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--project",
        "group/sub/my.project",
        "--pipeline",
        &parent.to_string(),
        "--child",
        "to-app",
        "--job",
        "package",
    ])
    .run()
    .success();
    assert_eq!(read(&g, "pkg.txt"), "from the child");
    let t = targets(&server);
    assert!(
        t[0].contains(&format!(
            "/projects/group%2Fsub%2Fmy.project/pipelines/{parent}/bridges"
        )),
        "{t:?}"
    );
    assert!(
        t[1].contains(&format!("/projects/1/pipelines/{child}/jobs")),
        "{t:?}"
    );
    assert!(t[2].starts_with("/api/v4/projects/1/jobs/"), "{t:?}");

    gljob(&server)
        .args(&[
            "fetch",
            "--project",
            "2",
            "--pipeline",
            &parent.to_string(),
            "--child",
            "to-ap",
            "--job",
            "package",
        ])
        .fails_unchanged(6, &["no trigger job \"to-ap\"", "\"to-app\""]);
}

/// A pipeline with one job `slow`, running; returns the server, the pipeline and the job.
fn slow_job() -> (Server, u64, u64) {
    let server = crate::util::server();
    let (p, j) = {
        let mut w = server.world();
        let p = w.add_pipeline(1, "main", "running");
        let j = w.add_job_with(p, "slow", "running", archive(&[("slow.txt", b"done")]));
        (p, j)
    };
    (server, p, j)
}

fn polls(server: &Server, pipeline: u64) -> Vec<std::time::Instant> {
    api_requests(server)
        .into_iter()
        .filter(|r| r.path.ends_with(&format!("/pipelines/{pipeline}/jobs")))
        .map(|r| r.at)
        .collect()
}

/// Starts `--wait 5m` on the slow job, waits for its `n`th poll, then sets the job's status.
fn finish_after_polls(n: usize, status: &str) -> (Server, u64, Gljob, crate::util::Run) {
    let (server, p, j) = slow_job();
    let mut g = gljob(&server);
    let pipeline = p.to_string();
    let child = g
        .args(&[
            "fetch",
            "--pipeline",
            &pipeline,
            "--job",
            "slow",
            "--wait",
            "5m",
        ])
        .spawn();
    // Each wait returns a poll newer than the one before.
    let mut last: Option<std::time::Instant> = None;
    for _ in 0..n {
        let seen = server
            .wait_for_request(Duration::from_secs(60), |r| {
                r.path.ends_with(&format!("/pipelines/{p}/jobs")) && last.is_none_or(|t| r.at > t)
            })
            .expect("gljob polled");
        last = Some(seen.at);
    }
    server.world().job_mut(j).unwrap().status = status.to_string();
    let run = g.wait(child);
    (server, p, g, run)
}

#[test]
fn wait_polls_with_growing_gaps_until_the_job_succeeds() {
    let (server, p, g, run) = finish_after_polls(3, "success");
    run.success().stderr_has(&["waiting for job \"slow\""]);
    assert_eq!(read(&g, "slow.txt"), "done");
    let at = polls(&server, p);
    assert!(at.len() >= 3, "{}", at.len());
    assert!(at[2] - at[1] > at[1] - at[0], "the gaps between polls grow");
}

#[test]
fn wait_ends_when_the_job_fails_or_the_time_is_up() {
    let (_, _, g, run) = finish_after_polls(1, "failed");
    run.code(6)
        .stderr_has(&["\"slow\"", "is failed", "--job-id"]);
    assert_no_temp(g.dir());

    let (server, p, _) = slow_job();
    gljob(&server)
        .args(&[
            "fetch",
            "--pipeline",
            &p.to_string(),
            "--job",
            "slow",
            "--wait",
            "2s",
        ])
        .fails_unchanged(6, &["had not finished after 2 s", "running"]);
    assert!(polls(&server, p).len() >= 2);
    // Without --wait: at once, naming the status and the flag.
    let (server, p, _) = slow_job();
    gljob(&server)
        .args(&["fetch", "--pipeline", &p.to_string(), "--job", "slow"])
        .fails_unchanged(6, &["has not finished (status running)", "--wait"]);
    assert_eq!(polls(&server, p).len(), 1);
}

#[test]
fn jobs_that_cannot_be_fetched_are_named_with_their_status() {
    let server = crate::util::server();
    for (name, status, says) in [
        ("manual", "manual", "start it"),
        ("broken", "failed", "--job-id"),
        ("skipped", "skipped", "skipped"),
        ("gone", "canceled", "canceled"),
    ] {
        let p = {
            let mut w = server.world();
            let p = w.add_pipeline(1, "main", "failed");
            w.add_job_with(p, name, status, archive(&[("x", b"x")]));
            p
        };
        gljob(&server)
            .args(&["fetch", "--pipeline", &p.to_string(), "--job", name])
            .fails_unchanged(6, &[&format!("is {status}"), says]);
    }
}

#[test]
fn unknown_pipelines_and_names_say_which_and_what_exists() {
    let server = crate::util::server();
    gljob(&server)
        .args(&["fetch", "--pipeline", "99999", "--job", "x"])
        .fails_unchanged(6, &["project 1 has no pipeline 99999"]);
    let p = {
        let mut w = server.world();
        let p = w.add_pipeline(1, "main", "success");
        for name in ["compile", "test 1/2", "test 2/2", "deploy"] {
            w.add_job(p, name, archive(&[("x", b"x")]));
        }
        p
    };
    gljob(&server)
        .args(&["fetch", "--pipeline", &p.to_string(), "--job", "compiel"])
        .fails_unchanged(6, &["has no job \"compiel\"", "its jobs: \"compile\""]);
}

/// A pipeline with parallel, matrix and other jobs, and a file all parallel jobs share.
fn fan_in() -> (Server, u64) {
    let server = crate::util::server();
    let p = {
        let mut w = server.world();
        let p = w.add_pipeline(1, "main", "success");
        for i in 1..=3 {
            w.add_job(
                p,
                &format!("test {i}/3"),
                archive(&[
                    (&format!("reports/t{i}.xml"), b"<ok/>"),
                    ("reports/common.txt", b"same"),
                ]),
            );
        }
        for arch in ["amd64", "arm64"] {
            w.add_job(
                p,
                &format!("build: [linux, {arch}]"),
                archive(&[("app", arch.as_bytes())]),
            );
        }
        w.add_job(p, "compile", archive(&[("bin/app", b"compiled")]));
        p
    };
    (server, p)
}

#[test]
fn parallel_matrix_glob_and_repeated_jobs_are_fetched_as_one_change() {
    let (server, p) = fan_in();
    let p = p.to_string();
    let mut g = gljob(&server);
    let run = g
        .args(&[
            "fetch",
            "--pipeline",
            &p,
            "--job",
            "test",
            "--job",
            "compile",
            "--json",
        ])
        .run();
    run.success();
    for f in [
        "reports/t1.xml",
        "reports/t2.xml",
        "reports/t3.xml",
        "reports/common.txt",
        "bin/app",
    ] {
        assert!(g.dir().join(f).is_file(), "{f}");
    }
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let names: Vec<&str> = v["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["test 1/3", "test 2/3", "test 3/3", "compile"]);
    for job in v["jobs"].as_array().unwrap() {
        assert!(job["id"].is_u64() && job["pipeline_id"].is_u64());
        assert_eq!(job["ref"], "main");
        assert_eq!(job["status"], "success");
        assert_eq!(job["sha"].as_str().map(str::len), Some(40));
    }

    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--pipeline",
        &p,
        "--job",
        "test *",
        "--dest",
        "globbed",
    ])
    .run()
    .success();
    assert!(g.dir().join("globbed/reports/t3.xml").is_file());

    // The matrix jobs both provide `app`, with different bytes.
    let mut g = gljob(&server);
    std::fs::write(g.dir().join("mine.txt"), "keep").unwrap();
    g.args(&["fetch", "--pipeline", &p, "--job", "build"])
        .fails_unchanged(
            9,
            &[
                "conflict: \"app\"",
                "build: [linux, amd64]",
                "build: [linux, arm64]",
                "--per-job",
            ],
        );
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--pipeline",
        &p,
        "--job",
        "build",
        "--per-job",
        "--dest",
        "dist",
    ])
    .run()
    .success();
    assert_eq!(read(&g, "dist/build: [linux, amd64]/app"), "amd64");
    assert_eq!(read(&g, "dist/build: [linux, arm64]/app"), "arm64");
    assert_no_temp(g.dir());
}

#[test]
fn a_failure_in_one_jobs_download_leaves_dest_unchanged() {
    let (server, p) = fan_in();
    let compile = api_jobs_named(&server, p, "compile");
    server.inject(
        Fault::new(
            &format!("/jobs/{compile}/artifacts"),
            fake_gitlab::FaultKind::Reset,
        )
        .times(20),
    );
    let mut g = gljob(&server);
    std::fs::create_dir(g.dir().join("out")).unwrap();
    std::fs::write(g.dir().join("out/mine.txt"), "keep").unwrap();
    g.args(&[
        "fetch",
        "--pipeline",
        &p.to_string(),
        "--job",
        "test",
        "--job",
        "compile",
        "--dest",
        "out",
    ])
    .fails_unchanged(7, &["compile"]);
}

fn api_jobs_named(server: &Server, pipeline: u64, name: &str) -> u64 {
    let w = server.world();
    w.jobs
        .iter()
        .find(|j| j.pipeline_id == pipeline && j.name == name)
        .map(|j| j.id)
        .unwrap()
}

#[test]
fn list_routes_that_refuse_job_tokens_are_named_with_the_fallback() {
    for (legacy, code, says) in [
        (401, 4, "did not accept CI_JOB_TOKEN"),
        (404, 6, "does not show project"),
    ] {
        let server = server_with(Config {
            legacy_job_token_lists: Some(legacy),
            ..Config::default()
        });
        let p = {
            let mut w = server.world();
            let p = w.add_pipeline(1, "main", "success");
            w.add_job(p, "build", archive(&[("x", b"x")]));
            p
        };
        gljob(&server)
            .args(&["fetch", "--pipeline", &p.to_string(), "--job", "build"])
            .fails_unchanged(code, &[says, "--job-id"]);
        // The by-ref route needs no list: it still works there.
        gljob(&server)
            .args(&["fetch", "--ref", "main", "--job", "build"])
            .run()
            .success();
    }
    // Fine-grained job-token permissions without read_jobs, in another project.
    let server = crate::util::server();
    let p = {
        let mut w = server.world();
        w.project_mut(2).unwrap().job_token_policies = Some(vec!["read_deployments".to_string()]);
        let p = w.add_pipeline(2, "main", "success");
        w.add_job(p, "build", archive(&[("x", b"x")]));
        p
    };
    gljob(&server)
        .args(&[
            "fetch",
            "--project",
            "2",
            "--pipeline",
            &p.to_string(),
            "--job",
            "build",
        ])
        .fails_unchanged(5, &["read_jobs", "Job token permissions"]);
}

#[test]
fn the_jobs_lists_rate_limit_is_ridden_out() {
    let (server, _) = older_build(Config {
        no_search_recent: true,
        ..Config::default()
    });
    server.inject(Fault::jobs_list_rate_limited(Some("1")));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success()
        .stderr_has(&["429"]);
    assert_eq!(read(&g, "out.txt"), "older build");
}

#[test]
fn a_fan_in_of_ten_jobs_stays_in_flat_memory() {
    let server = crate::util::server();
    let p = {
        let mut w = server.world();
        let p = w.add_pipeline(1, "main", "success");
        for i in 1..=10 {
            let data: Vec<u8> = (0..4_000_000u32)
                .map(|b| (b.wrapping_mul(i) % 251) as u8)
                .collect();
            let entries = [Entry::file(&format!("part-{i}/data.bin"), &data, 0o644).stored()];
            w.add_job(p, &format!("shard {i}/10"), Some(build(&entries).into()));
        }
        p
    };
    let pipeline = p.to_string();
    let (g, run, peak) = crate::util::peak_rss_kib(
        &server,
        &[
            "fetch",
            "--pipeline",
            &pipeline,
            "--job",
            "shard",
            "--quiet",
        ],
    );
    run.success();
    assert!(peak < 32 * 1024, "peak RSS {peak} KiB for 10 jobs");
    assert!(g.dir().join("part-10/data.bin").is_file());
}

#[test]
fn a_link_of_one_job_cannot_chain_through_another_jobs_link() {
    let server = crate::util::server();
    let p = {
        let mut w = server.world();
        let p = w.add_pipeline(1, "main", "success");
        // Alone, each is inside DEST: a/l is DEST itself, and b's target passes through
        // nothing in its own archive. Together, b is DEST's parent.
        w.add_job(
            p,
            "part 1/2",
            Some(build(&[Entry::symlink("a/l", "..")]).into()),
        );
        w.add_job(
            p,
            "part 2/2",
            Some(build(&[Entry::symlink("b", "a/l/..")]).into()),
        );
        p
    };
    gljob(&server)
        .args(&["fetch", "--pipeline", &p.to_string(), "--job", "part"])
        .fails_unchanged(8, &["together", "\"b\"", "--per-job"]);
}

#[test]
fn the_limits_hold_for_the_jobs_together() {
    let (server, p) = fan_in();
    gljob(&server)
        .args(&[
            "fetch",
            "--pipeline",
            &p.to_string(),
            "--job",
            "test",
            "--max-entries",
            "4",
        ])
        .fails_unchanged(8, &["the jobs together hold", "--max-entries"]);
}

#[test]
fn a_gitlab_that_refuses_job_tokens_on_trigger_jobs_is_named() {
    let server = server_with(Config {
        legacy_bridges: true,
        ..Config::default()
    });
    let parent = {
        let mut w = server.world();
        let parent = w.add_pipeline(2, "main", "running");
        let (_, child) = w.add_child_pipeline(parent, "child", 2, "success");
        w.add_job(child, "package", archive(&[("p", b"p")]));
        parent
    };
    gljob(&server)
        .args(&[
            "fetch",
            "--project",
            "2",
            "--pipeline",
            &parent.to_string(),
            "--child",
            "child",
            "--job",
            "package",
        ])
        .fails_unchanged(
            6,
            &[
                "does not let job tokens read the trigger jobs",
                "pipeline id",
            ],
        );
}
