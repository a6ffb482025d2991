//! `gljob fetch`: choosing the job, encodings, redirects to object storage, resume, the
//! destination's contents before and after, listings, single files, and GitLab's refusals.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use fake_gitlab::zips::{Entry, EntryKind, build, sample};
use fake_gitlab::{Config, Fault, FaultKind, Origin};

use crate::util::{
    Gljob, TOKEN, archive_requests, as_job, assert_no_temp, gljob, one_file, publish,
    publish_build, server, server_with, snapshot,
};

fn file(name: &str, content: &[u8], mode: u32) -> Entry {
    Entry {
        name: name.into(),
        kind: EntryKind::File(content.to_vec()),
        mode,
        stored: false,
    }
}

#[test]
fn fetch_by_ref_unpacks_the_sample_artifact() {
    let server = server();
    publish_build(&server, sample());
    let mut g = gljob(&server);
    let run = g
        .args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .run();
    run.success().stderr_has(&["fetched", "build", "main"]);
    let out = g.dir().join("out");
    let app = std::fs::metadata(out.join("dist/app")).unwrap();
    assert_eq!(
        app.permissions().mode() & 0o777,
        0o755,
        "executables stay executable"
    );
    assert_eq!(
        std::fs::read_link(out.join("dist/current"))
            .unwrap()
            .to_str(),
        Some("app")
    );
    assert!(out.join("logs").is_dir(), "empty directories are created");
    assert!(out.join("reports/junit.xml").is_file());
    let req = &archive_requests(&server)[0];
    assert_eq!(
        req.target,
        "/api/v4/projects/1/jobs/artifacts/main/download?job=build&search_recent_successful_pipelines=true"
    );
    assert_eq!(req.header("job-token"), Some(TOKEN));
    assert_no_temp(g.dir());
}

#[test]
fn contents_are_byte_identical_including_stored_and_streamed_archives() {
    let server = server();
    let big: Vec<u8> = (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let entries = [
        file("a/big.bin", &big, 0o644),
        Entry {
            stored: true,
            ..file("a/stored.txt", b"stored as is", 0o600)
        },
    ];
    // Each on its own ref: by-ref fetches look only at the newest successful pipeline.
    publish(&server, 1, "plain", "build", build(&entries));
    publish(
        &server,
        1,
        "streamed",
        "build",
        fake_gitlab::zips::build_streaming(&entries),
    );
    for job in ["plain", "streamed"] {
        let mut g = gljob(&server);
        g.args(&["fetch", "--ref", job, "--job", "build"])
            .run()
            .success();
        assert_eq!(
            std::fs::read(g.dir().join("a/big.bin")).unwrap(),
            big,
            "{job}"
        );
        assert_eq!(
            std::fs::read(g.dir().join("a/stored.txt")).unwrap(),
            b"stored as is"
        );
        let mode = std::fs::metadata(g.dir().join("a/stored.txt"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[test]
fn every_selection_and_encoding_reaches_gitlab_as_gitlab_expects() {
    let server = server();
    server.world().add_project(20, "group/sub/my.project");
    let cases = [
        ("feature/x", "build", "feature%2Fx", "build"),
        (
            "refs/merge-requests/7/head",
            "test 1/3",
            "refs%2Fmerge-requests%2F7%2Fhead",
            "test%201%2F3",
        ),
        (
            "v1.2.3",
            "we#ird?%+ ü",
            "v1.2.3",
            "we%23ird%3F%25%2B%20%C3%BC",
        ),
    ];
    for (git_ref, job, ref_enc, job_enc) in cases {
        publish(&server, 20, git_ref, job, one_file("x.txt", job.as_bytes()));
        let mut g = gljob(&server);
        g.args(&[
            "fetch",
            "--project",
            "group/sub/my.project",
            "--ref",
            git_ref,
            "--job",
            job,
        ])
        .run()
        .success();
        assert_eq!(
            std::fs::read(g.dir().join("x.txt")).unwrap(),
            job.as_bytes()
        );
        let last = archive_requests(&server).pop().unwrap();
        assert_eq!(
            last.target,
            format!(
                "/api/v4/projects/group%2Fsub%2Fmy.project/jobs/artifacts/{ref_enc}/download?job={job_enc}&search_recent_successful_pipelines=true"
            )
        );
    }
}

#[test]
fn fetch_by_job_id() {
    let server = server();
    let id = publish_build(&server, one_file("by-id.txt", b"id"));
    let mut g = gljob(&server);
    g.args(&["fetch", "--job-id", &id.to_string()])
        .run()
        .success();
    assert!(g.dir().join("by-id.txt").is_file());
    assert_eq!(
        archive_requests(&server)[0].target,
        format!("/api/v4/projects/1/jobs/{id}/artifacts")
    );
}

#[test]
fn a_renamed_project_path_is_followed() {
    let server = server();
    server
        .world()
        .add_project(21, "team/new-name")
        .old_paths
        .push("team/old-name".into());
    publish(&server, 21, "main", "build", one_file("moved.txt", b"m"));
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--project",
        "team/old-name",
        "--ref",
        "main",
        "--job",
        "build",
    ])
    .run()
    .success();
    assert!(g.dir().join("moved.txt").is_file());
    let log = archive_requests(&server);
    assert_eq!(log.len(), 2, "a 301 to the numeric id, then the archive");
    assert!(
        log[1].target.starts_with("/api/v4/projects/21/"),
        "{:?}",
        log[1]
    );
    assert_eq!(
        log[1].header("job-token"),
        Some(TOKEN),
        "same origin keeps the token"
    );
}

#[test]
fn object_storage_redirect_never_sees_the_token() {
    let server = server_with(Config {
        object_storage: true,
        ..Config::default()
    });
    publish_build(&server, sample());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert!(g.dir().join("dist/app").is_file());
    let storage: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Storage)
        .collect();
    assert_eq!(storage.len(), 1, "the archive came from the storage origin");
    for req in &storage {
        assert_eq!(req.header("job-token"), None);
        assert_eq!(req.header("authorization"), None);
        assert!(!req.target.contains(TOKEN));
    }
}

#[test]
fn object_storage_over_tls_works_with_the_private_ca() {
    let server = server_with(Config {
        tls: true,
        object_storage: true,
        ..Config::default()
    });
    publish_build(&server, sample());
    gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
}

#[test]
fn an_https_to_http_redirect_is_refused() {
    let server = server_with(Config {
        tls: true,
        storage_tls: Some(false),
        object_storage: true,
        ..Config::default()
    });
    publish_build(&server, sample());
    let mut g = gljob(&server);
    let before = snapshot(g.dir());
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .code(7)
        .stderr_has(&["https to plain http"]);
    assert!(
        server.requests().iter().all(|r| r.origin == Origin::Api),
        "nothing was sent to the http origin"
    );
    assert_eq!(snapshot(g.dir()), before);
}

#[test]
fn a_truncated_download_resumes_with_range_and_if_range() {
    let server = server();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let archive = build(&[Entry {
        stored: true,
        ..file("data.bin", &data, 0o644)
    }]);
    let len = archive.len() as u64;
    publish_build(&server, archive);
    // The first answer (the archive's tail, where the directory is) breaks off early.
    server.inject(Fault::new("/download", FaultKind::Truncate(65_536)));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success()
        .stderr_has(&["resuming"]);
    assert_eq!(std::fs::read(g.dir().join("data.bin")).unwrap(), data);
    let log = archive_requests(&server);
    let tail = log[0]
        .header("range")
        .unwrap()
        .strip_prefix("bytes=-")
        .unwrap()
        .parse::<u64>()
        .unwrap();
    assert_eq!(
        log[1].header("range"),
        Some(format!("bytes={}-{}", len - tail + 65_536, len - 1).as_str()),
        "resumed where it broke off"
    );
    assert!(
        log[1].header("if-range").is_some(),
        "resume is conditional on the same archive"
    );
}

/// Issue 13, item 4: GitLab sends one weak ETag on every download (the fake does too), so
/// a resume may never be conditional on it — `If-Range` would then never match and every
/// resume would start over, or worse, a cache would take any file for any other. gljob
/// resumes on `Last-Modified` from GitLab, and on storage's strong ETag behind a redirect;
/// the request log shows which it sent.
#[test]
fn a_weak_etag_never_carries_if_range() {
    for object_storage in [false, true] {
        let server = server_with(Config {
            object_storage,
            ..Config::default()
        });
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 13 % 251) as u8).collect();
        publish_build(
            &server,
            build(&[Entry {
                stored: true,
                ..file("data.bin", &data, 0o644)
            }]),
        );
        let cut = Fault::new("", FaultKind::Truncate(65_536));
        server.inject(if object_storage {
            cut.on_storage()
        } else {
            cut
        });
        let mut g = gljob(&server);
        g.args(&["fetch", "--ref", "main", "--job", "build"])
            .run()
            .success()
            .stderr_has(&["resuming"]);
        assert_eq!(std::fs::read(g.dir().join("data.bin")).unwrap(), data);
        let origin = if object_storage {
            Origin::Storage
        } else {
            Origin::Api
        };
        let downloads: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.origin == origin && r.path.contains("artifacts"))
            .collect();
        // The tail, its resumed rest, the body: one plan, no start over (which would ask for
        // the tail again).
        let tails = downloads
            .iter()
            .filter(|r| r.header("range").is_some_and(|v| v.starts_with("bytes=-")))
            .count();
        assert_eq!((downloads.len(), tails), (3, 1), "{downloads:#?}");
        for resumed in &downloads[1..] {
            let if_range = resumed.header("if-range").expect("a conditional resume");
            assert!(!if_range.starts_with("W/"), "a weak ETag: {if_range}");
            if object_storage {
                assert!(
                    if_range.starts_with('"'),
                    "storage's strong ETag: {if_range}"
                );
            } else {
                assert!(
                    if_range.ends_with(" GMT"),
                    "GitLab's Last-Modified: {if_range}"
                );
            }
        }
    }
}

#[test]
fn a_server_without_range_support_gets_one_plain_download() {
    let server = server();
    publish_build(&server, sample());
    server.inject(Fault::new("/download", FaultKind::IgnoreRange).times(100));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert!(g.dir().join("dist/app").is_file());
    assert_eq!(
        archive_requests(&server).len(),
        1,
        "the 200 answer is the whole archive"
    );
}

#[test]
fn list_and_path_fetch_only_the_bytes_they_need() {
    let server = server();
    let source = tempfile::tempdir().unwrap();
    let big = source.path().join("big.zip");
    fake_gitlab::zips::write_large(&big, 64 << 20).unwrap();
    {
        let mut world = server.world();
        let pipeline = world.add_pipeline(1, "main", "success");
        world.add_job(pipeline, "big", Some(fake_gitlab::Archive::File(big)));
    }
    let tail = fake_gitlab::zips::LARGE_TAIL_ENTRY;
    let run = gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "big", "--list"])
        .run();
    run.success()
        .stdout_has(&[tail, fake_gitlab::zips::LARGE_ENTRY]);
    let mut g = gljob(&server);
    let run = g
        .args(&[
            "fetch", "--ref", "main", "--job", "big", "--path", tail, "--json",
        ])
        .run();
    let summary: serde_json::Value = serde_json::from_slice(&run.success().stdout).unwrap();
    let got = summary["download_bytes"].as_u64().unwrap();
    assert!(
        got < 1 << 20,
        "--path of one small file moved {got} bytes of a 64 MiB archive"
    );
    assert_eq!(
        std::fs::read(g.dir().join(tail)).unwrap(),
        fake_gitlab::zips::LARGE_TAIL
    );
    assert!(!g.dir().join(fake_gitlab::zips::LARGE_ENTRY).exists());
    // --list asked for nothing but the end of the archive.
    let list_requests: Vec<_> = archive_requests(&server).into_iter().take(1).collect();
    assert!(
        list_requests[0]
            .header("range")
            .unwrap()
            .starts_with("bytes=-"),
        "{:?}",
        list_requests[0]
    );
}

#[test]
fn a_reset_in_mid_download_resumes_and_is_byte_identical() {
    let server = server_with(Config {
        object_storage: true,
        ..Config::default()
    });
    let data: Vec<u8> = (0..400_000u32).map(|i| (i * 13 % 253) as u8).collect();
    publish_build(
        &server,
        build(&[Entry {
            stored: true,
            ..file("data.bin", &data, 0o644)
        }]),
    );
    server.inject(Fault::new("/artifacts/", FaultKind::ResetAfter(150_000)).on_storage());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(std::fs::read(g.dir().join("data.bin")).unwrap(), data);
    let api = archive_requests(&server)
        .into_iter()
        .filter(|r| r.origin == Origin::Api)
        .count();
    assert_eq!(
        api, 2,
        "each attempt goes back to the API for a fresh storage link"
    );
}

#[test]
fn a_server_that_ignores_range_makes_gljob_start_over() {
    let server = server();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 31 % 241) as u8).collect();
    publish_build(
        &server,
        build(&[Entry {
            stored: true,
            ..file("data.bin", &data, 0o644)
        }]),
    );
    server.inject(Fault::new("/download", FaultKind::Truncate(50_000)));
    server.inject(Fault::new("/download", FaultKind::IgnoreRange));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(
        std::fs::read(g.dir().join("data.bin")).unwrap(),
        data,
        "the restart did not append to the partial file"
    );
}

#[test]
fn when_retries_run_out_the_destination_is_unchanged() {
    let server = server();
    publish_build(&server, sample());
    server.inject(Fault::new("/download", FaultKind::Truncate(0)).times(20));
    let mut g = gljob(&server);
    std::fs::create_dir(g.dir().join("out")).unwrap();
    std::fs::write(g.dir().join("out/keep.txt"), "mine").unwrap();
    g.args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .fails_unchanged(7, &["download kept failing"]);
}

#[test]
fn existing_files_are_replaced_and_unrelated_ones_untouched() {
    let server = server();
    publish_build(
        &server,
        build(&[
            file("dist/app", b"new app", 0o755),
            file("new.txt", b"new", 0o644),
        ]),
    );
    let mut g = gljob(&server);
    let d = g.dir().to_path_buf();
    std::fs::create_dir_all(d.join("dist")).unwrap();
    std::fs::write(d.join("dist/app"), "old app").unwrap();
    std::fs::write(d.join("dist/unrelated"), "keep me").unwrap();
    std::fs::write(d.join("other.txt"), "keep me too").unwrap();
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(d.join("dist/app")).unwrap(),
        "new app"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("dist/unrelated")).unwrap(),
        "keep me"
    );
    assert_eq!(
        std::fs::read_to_string(d.join("other.txt")).unwrap(),
        "keep me too"
    );
    assert_eq!(std::fs::read_to_string(d.join("new.txt")).unwrap(), "new");
}

#[test]
fn a_conflict_fails_with_exit_9_and_changes_nothing() {
    let server = server();
    publish_build(
        &server,
        build(&[
            file("a.txt", b"new a", 0o644),
            file("dist/app", b"x", 0o755),
        ]),
    );
    let mut g = gljob(&server);
    let d = g.dir().to_path_buf();
    std::fs::write(d.join("a.txt"), "old a").unwrap();
    std::fs::write(d.join("dist"), "a file where the archive has a directory").unwrap();
    let before = snapshot(&d);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .code(9)
        .stderr_has(&["conflict", "dist"]);
    assert_eq!(
        snapshot(&d),
        before,
        "a.txt, which came first, was not replaced either"
    );
}

#[test]
fn a_missing_destination_is_created_and_removed_again_on_failure() {
    let server = server();
    publish_build(&server, one_file("x", b"x"));
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "build",
        "--dest",
        "deep/er/out",
    ])
    .run()
    .success();
    assert!(g.dir().join("deep/er/out/x").is_file());
    let mut g = gljob(&server);
    let before = snapshot(g.dir());
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "nope",
        "--dest",
        "deep/er/out",
    ])
    .run()
    .code(6);
    assert_eq!(
        snapshot(g.dir()),
        before,
        "the directories gljob created are gone again"
    );
}

#[test]
fn setuid_and_sticky_bits_are_dropped() {
    let server = server();
    let entries = [
        file("bin/tool", b"#!/bin/sh\n", 0o4755),
        Entry {
            name: "shared/".into(),
            kind: EntryKind::Dir,
            mode: 0o1777,
            stored: true,
        },
    ];
    publish_build(&server, build(&entries));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    let mode = |p: &str| {
        std::fs::metadata(g.dir().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("bin/tool"), 0o755);
    assert_eq!(mode("shared"), 0o777);
}

const MODES: [u32; 7] = [0o644, 0o666, 0o755, 0o777, 0o600, 0o444, 0o711];

/// Fetches files `f<mode>` for each of [`MODES`] under `umask` into `dest` (made first by
/// `prepare`, which may decline: `false` skips the fetch) and checks every mode is exact.
fn modes_are_exact(umask: &str, prepare: impl Fn(&Path) -> bool) {
    let server = server();
    let entries: Vec<Entry> = MODES
        .iter()
        .map(|m| file(&format!("f{m:o}"), b"x", *m))
        .collect();
    publish_build(&server, build(&entries));
    let script = format!("umask {umask}; exec \"$0\" \"$@\"");
    let mut g = as_job(Gljob::wrapped(&["sh", "-c", &script]), &server);
    let dest = g.dir().join("out");
    std::fs::create_dir(&dest).unwrap();
    if !prepare(&dest) {
        return;
    }
    g.args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .run()
        .success();
    for m in MODES {
        let got = std::fs::metadata(dest.join(format!("f{m:o}")))
            .unwrap()
            .permissions()
            .mode()
            & 0o7777;
        assert_eq!(got, m, "umask {umask}: mode of f{m:o}");
    }
}

/// gljob creates most files with their final mode and changes it only when the umask would
/// have taken bits away: whatever the umask, every file ends up with the archive's mode.
#[test]
fn file_modes_are_exact_under_any_umask() {
    for umask in ["022", "077", "000", "027"] {
        modes_are_exact(umask, |_| true);
    }
}

/// A default POSIX ACL on the destination takes the umask's place when the kernel picks a
/// new file's mode (here: nothing for others, under umask 022); the modes stay exact.
#[test]
fn file_modes_are_exact_under_a_default_acl() {
    modes_are_exact("022", |dest| {
        let set = Command::new("setfacl")
            .args(["-d", "-m", "o::---"])
            .arg(dest)
            .status();
        let ok = matches!(set, Ok(s) if s.success());
        if !ok {
            eprintln!("SKIPPED: setfacl (Debian package acl) cannot set a default ACL here");
        }
        ok
    });
}

#[test]
fn path_globs_select_entries_and_a_miss_is_exit_6() {
    let server = server();
    publish_build(&server, sample());
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "build",
        "--path",
        "*.xml",
        "--path",
        "dist/lib/**",
    ])
    .run()
    .success();
    let got: Vec<String> = snapshot(g.dir())
        .into_iter()
        .filter(|(_, d)| d.starts_with("file"))
        .map(|(p, _)| p)
        .collect();
    assert_eq!(got, ["dist/lib/util.js", "reports/junit.xml"]);
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "build",
        "--path",
        "nothing/**",
    ])
    .fails_unchanged(6, &["nothing/**", "dist/app"]);
}

#[test]
fn list_prints_entries_and_writes_nothing() {
    let server = server();
    publish_build(&server, sample());
    let mut g = gljob(&server);
    let before = snapshot(g.dir());
    let run = g
        .args(&["fetch", "--ref", "main", "--job", "build", "--list"])
        .run();
    run.success().stdout_has(&[
        "dist/app",
        "-755",
        "reports/junit.xml",
        "dist/current -> app",
        "logs/",
    ]);
    assert_eq!(snapshot(g.dir()), before);
    let run = gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--list", "--json",
        ])
        .run();
    let items: serde_json::Value = serde_json::from_slice(&run.success().stdout).unwrap();
    let link = items
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["path"] == "dist/current")
        .unwrap();
    assert_eq!(
        (link["type"].as_str(), link["target"].as_str()),
        (Some("symlink"), Some("app"))
    );
}

#[test]
fn json_summary_is_parseable() {
    let server = server();
    publish_build(
        &server,
        build(&[file("a", b"12345", 0o644), file("b/c", b"678", 0o644)]),
    );
    let run = gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--json", "--dest", "o",
        ])
        .run();
    let v: serde_json::Value = serde_json::from_slice(&run.success().stdout).unwrap();
    assert_eq!(v["files"], 2);
    assert_eq!(v["bytes"], 8);
    assert_eq!(v["jobs"][0]["ref"], "main");
    assert_eq!(v["jobs"][0]["name"], "build");
    assert_eq!(v["destination"], "o");
    assert_eq!(v["project"], "1");
}

#[test]
fn quiet_prints_nothing_on_success() {
    let server = server();
    publish_build(&server, sample());
    let run = gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--quiet"])
        .run();
    assert!(run.success().stderr.is_empty(), "{run}");
    assert!(run.stdout.is_empty());
}

#[test]
fn one_file_to_stdout_and_to_a_file_by_ref_and_by_id() {
    let server = server();
    let id = publish_build(&server, sample());
    let expected = {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(sample())).unwrap();
        let mut f = z.by_name("reports/junit.xml").unwrap();
        let mut v = Vec::new();
        std::io::Read::read_to_end(&mut f, &mut v).unwrap();
        v
    };
    let run = gljob(&server)
        .args(&[
            "fetch",
            "--ref",
            "main",
            "--job",
            "build",
            "--file",
            "reports/junit.xml",
        ])
        .run();
    assert_eq!(run.success().stdout, expected);
    // Through the archive's directory with Range (issue 14: the mode survives), not
    // GitLab's single-file route.
    let requests = archive_requests(&server);
    assert!(
        requests.iter().all(|r| !r.path.contains("/raw/")
            && r.target.starts_with(
                "/api/v4/projects/1/jobs/artifacts/main/download?job=build&search_recent_successful_pipelines=true"
            )
            && r.header("range").is_some()),
        "{requests:?}"
    );
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--job-id",
        &id.to_string(),
        "--file",
        "reports/junit.xml",
        "-o",
        "j.xml",
    ])
    .run()
    .success();
    assert_eq!(std::fs::read(g.dir().join("j.xml")).unwrap(), expected);
    assert_no_temp(g.dir());
    let run = gljob(&server)
        .args(&[
            "fetch",
            "--ref",
            "main",
            "--job",
            "build",
            "--file",
            "no/such.txt",
            "-o",
            "x",
        ])
        .run();
    run.code(6)
        .stderr_has(&["no file \"no/such.txt\"", "--list"]);
}

#[test]
fn usage_errors_for_fetch() {
    let server = server();
    for args in [
        &["fetch"][..],
        &["fetch", "--ref", "main"],
        &["fetch", "--job", "build"],
        &["fetch", "--job-id", "1", "--ref", "main", "--job", "b"],
        &["fetch", "--job-id", "x"],
        &["fetch", "--job-id", "1", "-o", "f"],
        &["fetch", "--job-id", "1", "--file", "a", "--list"],
    ] {
        gljob(&server).args(args).run().code(2);
    }
    assert!(server.requests().is_empty());
    gljob(&server)
        .env_remove("CI_PROJECT_ID")
        .args(&["fetch", "--job-id", "1"])
        .run()
        .code(3)
        .stderr_has(&["CI_PROJECT_ID", "--project"]);
}

#[test]
fn a_commit_that_fails_half_way_is_rolled_back() {
    // Preflight finds no conflict, but moving the immutable file aside fails after other
    // entries are already in place: the journal must undo them.
    let server = server();
    publish_build(
        &server,
        build(&[
            file("a/new.txt", b"new", 0o644),
            file("b.txt", b"new b", 0o644),
            file("z/locked", b"new z", 0o644),
        ]),
    );
    let mut g = gljob(&server);
    let d = g.dir().to_path_buf();
    std::fs::write(d.join("b.txt"), "old b").unwrap();
    std::fs::create_dir(d.join("z")).unwrap();
    std::fs::write(d.join("z/locked"), "old z").unwrap();
    let immutable = std::process::Command::new("chattr")
        .arg("+i")
        .arg(d.join("z/locked"))
        .status();
    if !immutable.is_ok_and(|s| s.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to run this test: chattr +i failed"
        );
        eprintln!("skipped: chattr +i is not available here");
        return;
    }
    let before = snapshot(&d);
    let run = g.args(&["fetch", "--ref", "main", "--job", "build"]).run();
    let _ = std::process::Command::new("chattr")
        .arg("-i")
        .arg(d.join("z/locked"))
        .status();
    run.code(9).stderr_has(&["z/locked"]);
    assert_eq!(
        snapshot(&d),
        before,
        "a/ and b.txt were put back as they were"
    );
    assert_no_temp(&d);
}

#[test]
fn modification_times_are_kept() {
    let server = server();
    publish_build(&server, sample());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    let mtime = std::fs::metadata(g.dir().join("dist/app"))
        .unwrap()
        .modified()
        .unwrap();
    // The sample's entries are dated 2025-01-02 03:04:06 UTC.
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_735_787_046
    );
}

#[test]
fn a_server_error_from_object_storage_is_retried() {
    let server = server_with(Config {
        object_storage: true,
        ..Config::default()
    });
    publish_build(&server, sample());
    server.inject(Fault::status("/artifacts/", 503).on_storage());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert!(g.dir().join("dist/app").is_file());
    let storage = server
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Storage)
        .count();
    assert_eq!(storage, 2);
}

// ---- issue 14: --list --path, --path warnings, --file's mode and -o, CI log sections ----

#[test]
fn list_with_path_lists_only_what_matches() {
    let server = server();
    publish_build(&server, sample());
    let run = gljob(&server)
        .args(&[
            "fetch",
            "--ref",
            "main",
            "--job",
            "build",
            "--list",
            "--path",
            "reports/**",
        ])
        .run();
    let listing = run.success().stdout();
    assert_eq!(listing.lines().count(), 1, "{run}");
    assert!(listing.contains("reports/junit.xml"), "{run}");
    let run = gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--list", "--json", "--path", "*.js",
        ])
        .run();
    let entries: serde_json::Value = serde_json::from_slice(&run.success().stdout).unwrap();
    let paths: Vec<&str> = entries
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["dist/lib/util.js"]);
    gljob(&server)
        .args(&[
            "fetch",
            "--ref",
            "main",
            "--job",
            "build",
            "--list",
            "--path",
            "nothing/**",
        ])
        .run()
        .code(6)
        .stderr_has(&["--path nothing/** matched no entry", "entries include"]);
}

#[test]
fn a_path_glob_that_matches_nothing_is_named_in_a_warning() {
    let server = server();
    publish_build(&server, sample());
    let mut g = gljob(&server);
    let run = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--path", "dist/**", "--path", "dsit/**",
        ])
        .run();
    run.success()
        .stderr_has(&["warning: --path \"dsit/**\" matched no entry", "fetched"]);
    assert!(!run.stderr.contains("\"dist/**\" matched"), "{run}");
    assert!(g.dir().join("dist/app").is_file());
    let run = gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--list", "--path", "dist", "--path",
            "*.xlm",
        ])
        .run();
    run.success()
        .stderr_has(&["--path \"*.xlm\" matched no entry"]);
    let run = gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--quiet", "--path", "dist/**", "--path",
            "dsit/**",
        ])
        .run();
    assert!(run.success().stderr.is_empty(), "{run}");
}

/// `--file` reads the entry through the archive's directory: an executable arrives 0755,
/// with the time the fetch of the whole archive gives it.
#[test]
fn one_file_keeps_its_mode_and_time() {
    let server = server();
    publish_build(&server, sample());
    let mut whole = gljob(&server);
    whole
        .args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    let mut g = gljob(&server);
    let run = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--file", "dist/app", "-o", "app",
        ])
        .run();
    run.success()
        .stderr_has(&["fetched dist/app", "mode 755", "to app"]);
    let meta = std::fs::metadata(g.dir().join("app")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o7777, 0o755);
    let reference = std::fs::metadata(whole.dir().join("dist/app")).unwrap();
    assert_eq!(meta.modified().unwrap(), reference.modified().unwrap());
    assert_eq!(
        std::fs::read(g.dir().join("app")).unwrap(),
        std::fs::read(whole.dir().join("dist/app")).unwrap()
    );
    assert_no_temp(g.dir());
    // Not a file: a directory or a symlink is named as such.
    gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--file", "dist/lib", "-o", "x",
        ])
        .fails_unchanged(6, &["\"dist/lib\" is a directory", "--path"]);
    gljob(&server)
        .args(&[
            "fetch",
            "--ref",
            "main",
            "--job",
            "build",
            "--file",
            "dist/current",
        ])
        .fails_unchanged(6, &["\"dist/current\" is a symlink"]);
}

/// A server that ignores Range would send the whole archive for one file: GitLab's
/// single-file route is asked instead.
#[test]
fn without_range_support_one_file_comes_from_the_single_file_route() {
    let server = server();
    publish_build(&server, sample());
    server.inject(Fault::new("/download", FaultKind::IgnoreRange));
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "build",
        "--file",
        "reports/junit.xml",
        "-o",
        "j.xml",
    ])
    .run()
    .success();
    assert!(
        std::fs::read_to_string(g.dir().join("j.xml"))
            .unwrap()
            .contains("<testsuites>")
    );
    let raw = archive_requests(&server);
    assert!(
        raw.last()
            .is_some_and(|r| r.path.ends_with("/raw/reports/junit.xml")),
        "{raw:?}"
    );
    assert_no_temp(g.dir());
}

/// `-o` like `--dest`: missing parents are created; an existing directory (or a path
/// ending in `/`) gets the entry's own name; errors name what the user typed, never
/// gljob's temporary.
#[test]
fn o_creates_missing_parents_and_writes_into_a_directory() {
    let server = server();
    publish_build(&server, sample());
    let fetch = |g: &mut Gljob, o: &str| {
        g.args(&[
            "fetch", "--ref", "main", "--job", "build", "--file", "dist/app", "-o", o,
        ])
        .run()
    };
    let mut g = gljob(&server);
    fetch(&mut g, "dir/missing/app.sh").success();
    assert!(g.dir().join("dir/missing/app.sh").is_file());
    let mut g = gljob(&server);
    std::fs::create_dir(g.dir().join("bin")).unwrap();
    fetch(&mut g, "bin").success().stderr_has(&["to bin/app"]);
    assert!(g.dir().join("bin/app").is_file());
    let mut g = gljob(&server);
    fetch(&mut g, "new/").success();
    assert!(g.dir().join("new/app").is_file());
    assert_no_temp(g.dir());

    // A file where a parent directory must go: the message names the path, no temporary,
    // and the directories made on the way are gone again.
    let mut g = gljob(&server);
    std::fs::write(g.dir().join("plain"), "a file").unwrap();
    let run = g
        .args(&[
            "fetch",
            "--ref",
            "main",
            "--job",
            "build",
            "--file",
            "dist/app",
            "-o",
            "plain/sub/app",
        ])
        .fails_unchanged(9, &["plain/sub"]);
    assert!(
        !run.stderr.contains(".gljob-") && !run.stderr.contains(".tmp"),
        "{run}"
    );
    // Nothing is downloaded into a half-made directory when the file is not there.
    let mut g = gljob(&server);
    let run = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--file", "no/such", "-o", "made/x",
        ])
        .fails_unchanged(6, &["no file \"no/such\""]);
    assert!(!run.stderr.contains(".gljob-"), "{run}");
}

/// Inside GitLab CI the download is a collapsed section of the job log, its header saying
/// what is fetched; the summary comes after it. `--quiet` and a run outside CI print no
/// markers.
#[test]
fn inside_gitlab_ci_the_fetch_is_a_collapsed_section_with_the_summary_after_it() {
    let server = server();
    publish_build(&server, sample());
    let run = gljob(&server)
        .env("CI", "true")
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--dest", "vendor",
        ])
        .run();
    let err = &run.success().stderr;
    let start = err.find("\x1b[0Ksection_start:").expect("a section start");
    let end = err.find("\x1b[0Ksection_end:").expect("a section end");
    let summary = err.find("gljob: fetched").expect("the summary");
    assert!(start == 0 && start < end && end < summary, "{run}");
    let first_line = err.lines().next().unwrap();
    let name = first_line
        .split(':')
        .nth(2)
        .and_then(|n| n.strip_suffix("[collapsed=true]\r\x1b[0Kgljob"))
        .expect("section_start:TIME:NAME[collapsed=true]\\r\\e[0KHEADER");
    assert!(name.starts_with("gljob_fetch_"), "{first_line:?}");
    assert!(
        first_line.ends_with(
            "gljob: fetching the artifacts of job \"build\" (the newest successful one on \"main\") in project 1 into vendor"
        ),
        "{first_line:?}"
    );
    assert!(err[end..].starts_with("\x1b[0Ksection_end:"), "{run}");
    assert!(err[end..].contains(&format!(":{name}\r\x1b[0K\n")), "{run}");

    for args in [
        &["fetch", "--ref", "main", "--job", "build", "--quiet"][..],
        &[
            "fetch", "--ref", "main", "--job", "build", "--dest", "again",
        ],
    ] {
        let mut g = gljob(&server);
        if args.contains(&"--quiet") {
            g.env("CI", "true");
        }
        let run = g.args(args).run();
        assert!(!run.success().stderr.contains("section_"), "{run}");
    }
    // A failure's error paragraph is outside the section too.
    let run = gljob(&server)
        .env("CI", "true")
        .args(&["fetch", "--ref", "main", "--job", "biuld"])
        .run();
    let err = &run.code(6).stderr;
    let end = err.find("section_end").expect("the section ends");
    assert!(err.find("gljob: error").is_some_and(|e| e > end), "{run}");
}
