//! SIGINT and SIGTERM during a fetch: exit 130 / 143, the destination as it was, no
//! temporary files. The tests act once the fake has seen the download request, never after
//! a sleep.

use std::time::Duration;

use fake_gitlab::zips::sample;
use fake_gitlab::{Fault, FaultKind};

use crate::util::{assert_no_temp, gljob, kill, publish_build, server, snapshot};

#[test]
fn sigterm_while_the_download_stalls_cleans_up_and_exits_143() {
    let server = server();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    let archive =
        fake_gitlab::zips::build(&[fake_gitlab::zips::Entry::file("d.bin", &data, 0o644).stored()]);
    publish_build(&server, archive);
    // The first request (the archive's tail) goes through; in the download of the rest,
    // some bytes arrive (entries are being unpacked), then the server goes quiet.
    server.inject(Fault::new("/download", FaultKind::Delay(Duration::ZERO)));
    server.inject(Fault::new(
        "/download",
        FaultKind::StallAfter(100_000, Duration::from_secs(30)),
    ));
    let mut g = gljob(&server);
    std::fs::create_dir(g.dir().join("out")).unwrap();
    std::fs::write(g.dir().join("out/mine"), "keep").unwrap();
    let before = snapshot(g.dir());
    let child = g
        .args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .spawn();
    let rest = |r: &fake_gitlab::LoggedRequest| {
        r.path.contains("/download") && r.header("range").is_some_and(|v| v.starts_with("bytes=0-"))
    };
    server
        .wait_for_request(Duration::from_secs(10), rest)
        .expect("gljob asked for the rest of the archive");
    kill(&child, "-TERM");
    let run = g.wait(child);
    run.code(143).stderr_has(&["SIGTERM"]);
    assert_eq!(snapshot(g.dir()), before);
    assert_no_temp(g.dir());
}

#[test]
fn sigint_before_the_answer_cleans_up_and_exits_130() {
    let server = server();
    publish_build(&server, sample());
    server.inject(Fault::new(
        "/download",
        FaultKind::Delay(Duration::from_millis(500)),
    ));
    let mut g = gljob(&server);
    let before = snapshot(g.dir());
    let child = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--dest", "new/dir",
        ])
        .spawn();
    server
        .wait_for_request(Duration::from_secs(10), |r| r.path.contains("/download"))
        .expect("gljob asked for the archive");
    kill(&child, "-INT");
    let run = g.wait(child);
    run.code(130).stderr_has(&["SIGINT"]);
    assert_eq!(
        snapshot(g.dir()),
        before,
        "the created destination is gone again"
    );
    assert_no_temp(g.dir());
}

#[test]
fn a_stale_staging_directory_of_a_killed_run_is_removed() {
    let server = server();
    publish_build(&server, sample());
    let mut g = gljob(&server);
    // What a SIGKILLed run leaves: a staging directory with gljob's marker, unlocked.
    let stale = g.dir().join(".gljob-staging-999999999-1");
    std::fs::create_dir_all(stale.join("tree/dist")).unwrap();
    std::fs::write(stale.join("artifacts.zip"), "partial").unwrap();
    std::fs::write(stale.join("gljob-staging"), gljob::staging::MARKER_TEXT).unwrap();
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert!(!stale.exists());
    assert_no_temp(g.dir());
}

/// A signal while the body is flowing unwinds at once: it is never reported as an
/// interrupted download about to resume (issue 14).
#[test]
fn sigint_during_a_download_is_not_reported_as_a_retry() {
    let server = crate::util::server_with(fake_gitlab::Config {
        throttle_bytes_per_sec: Some(200_000),
        ..fake_gitlab::Config::default()
    });
    let data: Vec<u8> = (0..2_000_000u32).map(|i| (i % 251) as u8).collect();
    publish_build(
        &server,
        fake_gitlab::zips::build(&[fake_gitlab::zips::Entry::file("d.bin", &data, 0o644).stored()]),
    );
    let mut g = gljob(&server);
    let before = snapshot(g.dir());
    let child = g
        .args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .spawn();
    server
        .wait_for_request(Duration::from_secs(10), |r| {
            r.path.contains("/download")
                && r.header("range").is_some_and(|v| v.starts_with("bytes=0-"))
        })
        .expect("gljob asked for the rest of the archive");
    kill(&child, "-INT");
    let run = g.wait(child);
    run.code(130).stderr_has(&["SIGINT"]);
    assert!(
        !run.stderr.contains("resuming") && !run.stderr.contains("retrying"),
        "{run}"
    );
    assert_eq!(snapshot(g.dir()), before);
    assert_no_temp(g.dir());
}
