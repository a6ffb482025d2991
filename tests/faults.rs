//! The fault matrix of issue 7: a hostile or broken network between gljob and GitLab. Each
//! case either succeeds with a byte-identical result or fails with the right exit code and
//! the destination unchanged — and no secret escapes.

use std::time::Duration;

use fake_gitlab::zips::{Entry, build};
use fake_gitlab::{Config, Fault, FaultKind, Server};

use crate::util::{
    Gljob, assert_no_secret_escaped, assert_no_temp, gljob, publish, server, server_with,
};

/// A ~600 KiB archive of stored and deflated entries, published as job "build" on main.
fn archive(server: &Server) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = (0..6u32)
        .map(|i| {
            (
                format!("d{}/f{i}.bin", i % 2),
                (0..100_000u32)
                    .map(|j| (j.wrapping_mul(i + 7) % 253) as u8)
                    .collect(),
            )
        })
        .collect();
    let entries: Vec<Entry> = files
        .iter()
        .enumerate()
        .map(|(i, (name, data))| {
            let e = Entry::file(name, data, 0o644);
            if i % 2 == 0 { e.stored() } else { e }
        })
        .collect();
    publish(server, 1, "main", "build", build(&entries));
    files
}

/// Fetches into `out/`, expecting `code`; on success the files must be byte-identical, on
/// failure the working directory unchanged. No temp files, no leaked secrets, either way.
fn fetch_expecting(server: &Server, g: &mut Gljob, files: &[(String, Vec<u8>)], code: i32) {
    g.args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"]);
    if code == 0 {
        g.run().success();
        for (name, data) in files {
            assert_eq!(
                &std::fs::read(g.dir().join("out").join(name)).unwrap(),
                data,
                "{name}"
            );
        }
        assert_no_temp(g.dir());
    } else {
        g.fails_unchanged(code, &[]);
    }
    assert_no_secret_escaped(server, g.dir());
}

/// Lets the first archive request (the tail) through, so the fault hits the body's download.
fn after_the_tail(server: &Server, fault: Fault) {
    server.inject(Fault::new("/download", FaultKind::Delay(Duration::ZERO)));
    server.inject(fault);
}

#[test]
fn resets_at_many_offsets_are_resumed() {
    let server = server();
    let files = archive(&server);
    for offset in [0, 1, 4095, 4096, 65_536, 131_071, 300_000, 550_000] {
        after_the_tail(
            &server,
            Fault::new("/download", FaultKind::ResetAfter(offset)),
        );
        fetch_expecting(&server, &mut gljob(&server), &files, 0);
    }
}

#[test]
fn truncations_at_many_offsets_are_resumed() {
    let server = server();
    let files = archive(&server);
    for offset in [0, 1, 30, 65_536, 222_222, 599_000] {
        after_the_tail(
            &server,
            Fault::new("/download", FaultKind::Truncate(offset)),
        );
        fetch_expecting(&server, &mut gljob(&server), &files, 0);
    }
}

#[test]
fn a_stall_longer_than_the_idle_timeout_is_resumed() {
    let server = server();
    let files = archive(&server);
    after_the_tail(
        &server,
        Fault::new(
            "/download",
            FaultKind::StallAfter(200_000, Duration::from_secs(5)),
        ),
    );
    let mut g = gljob(&server);
    g.env("GLJOB_TIMEOUT", "0.5");
    fetch_expecting(&server, &mut g, &files, 0);
}

#[test]
fn server_error_storms_are_ridden_out_or_end_with_exit_7() {
    let server = server();
    let files = archive(&server);
    after_the_tail(&server, Fault::status("/download", 503).times(2));
    fetch_expecting(&server, &mut gljob(&server), &files, 0);
    after_the_tail(&server, Fault::status("/download", 502).times(50));
    fetch_expecting(&server, &mut gljob(&server), &files, 7);
    server.inject(Fault::rate_limited("/download", "0").times(50));
    fetch_expecting(&server, &mut gljob(&server), &files, 7);
}

#[test]
fn an_expired_storage_link_during_a_resume_sends_gljob_back_to_the_api() {
    let server = server_with(Config {
        object_storage: true,
        ..Config::default()
    });
    let files = archive(&server);
    // Tail: fine. Body: breaks off. The resume's link is refused as expired: gljob must ask
    // the API again for a fresh link and finish.
    server.inject(Fault::new("/artifacts/", FaultKind::Delay(Duration::ZERO)).on_storage());
    server.inject(Fault::new("/artifacts/", FaultKind::ResetAfter(100_000)).on_storage());
    server.inject(Fault::new("/artifacts/", FaultKind::ExpireSignatures).on_storage());
    fetch_expecting(&server, &mut gljob(&server), &files, 0);
}

#[test]
fn an_html_page_with_status_200_is_not_an_archive() {
    let server = server();
    let files = archive(&server);
    server.inject(Fault::new("/download", FaultKind::Html(200)));
    let mut g = gljob(&server);
    fetch_expecting(&server, &mut g, &files, 7);
}

#[test]
fn an_oversized_json_answer_is_refused_in_bounded_memory() {
    let server = server();
    server.world().job_body = Some(format!(
        "{{\"id\": 8, \"pad\": \"{}\"}}",
        "x".repeat(20 << 20)
    ));
    let mut g = Gljob::wrapped(&["/usr/bin/time", "-f", "peak-rss-kib=%M"]);
    let mut g = crate::util::as_job(std::mem::replace(&mut g, Gljob::bare()), &server);
    let run = g.args(&["job", "--field", "id"]).run();
    run.code(7);
    let peak: u64 = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    assert!(peak < 40 * 1024, "reading a 20 MiB answer took {peak} KiB");
}
