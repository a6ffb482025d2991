//! Local faults of issue 7: a full disk during download and during unpacking, a read-only
//! destination, a destination that is a file, SIGKILL and the next run, and two fetches into
//! one destination at once. The mount cases need root (CI has it) and skip loudly elsewhere.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fake_gitlab::zips::{Entry, build};
use fake_gitlab::{Fault, FaultKind};

use crate::util::{assert_no_temp, gljob, publish, publish_build, server, snapshot};

/// A tmpfs of `size` at `dir`, unmounted on drop; `None` (after saying why) when this
/// machine cannot mount — which CI must be able to.
pub struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    pub fn mount(dir: &Path, options: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI must be able to mount a tmpfs (run as root)"
            );
            eprintln!("skipped: cannot mount a tmpfs here (not root?)");
            return None;
        }
        Some(Tmpfs(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn big_archive() -> Vec<u8> {
    let data: Vec<u8> = (0..400_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    build(&[
        Entry::file("a.bin", &data, 0o644).stored(),
        Entry::file("b.bin", &data, 0o644).stored(),
    ])
}

#[test]
fn a_full_disk_during_the_download_is_exit_9_and_changes_nothing() {
    let server = server();
    publish_build(&server, big_archive());
    let mut g = gljob(&server);
    let Some(_disk) = Tmpfs::mount(&g.dir().join("small"), "size=256k") else {
        return;
    };
    std::fs::write(g.dir().join("small/mine"), "keep").unwrap();
    g.args(&[
        "fetch", "--ref", "main", "--job", "build", "--dest", "small",
    ])
    .fails_unchanged(9, &["disk is full"]);
    assert_no_temp(g.dir());
}

#[test]
fn a_full_disk_while_unpacking_is_exit_9_and_changes_nothing() {
    let server = server();
    publish_build(&server, big_archive());
    let mut g = gljob(&server);
    // Room for the first 400 KB file, not for the second.
    let Some(_disk) = Tmpfs::mount(&g.dir().join("small"), "size=600k") else {
        return;
    };
    g.args(&[
        "fetch", "--ref", "main", "--job", "build", "--dest", "small",
    ])
    .fails_unchanged(9, &["disk is full"]);
    assert_no_temp(g.dir());
}

#[test]
fn a_read_only_destination_is_exit_9() {
    let server = server();
    publish_build(&server, big_archive());
    let mut g = gljob(&server);
    let Some(_ro) = Tmpfs::mount(&g.dir().join("ro"), "size=1m,ro") else {
        return;
    };
    g.args(&["fetch", "--ref", "main", "--job", "build", "--dest", "ro"])
        .run()
        .code(9)
        .stderr_has(&["not writable"]);
}

#[test]
fn a_destination_that_is_a_file_is_exit_9() {
    let server = server();
    publish_build(&server, big_archive());
    let mut g = gljob(&server);
    std::fs::write(g.dir().join("target"), "a file").unwrap();
    g.args(&[
        "fetch", "--ref", "main", "--job", "build", "--dest", "target",
    ])
    .fails_unchanged(9, &["not a directory"]);
}

#[test]
fn after_sigkill_the_next_run_removes_the_leftovers_and_succeeds() {
    let server = server();
    publish_build(&server, big_archive());
    server.inject(Fault::new("/download", FaultKind::Delay(Duration::ZERO)));
    server.inject(Fault::new(
        "/download",
        FaultKind::StallAfter(100_000, Duration::from_secs(30)),
    ));
    let mut g = gljob(&server);
    let child = g
        .args(&["fetch", "--ref", "main", "--job", "build"])
        .spawn();
    server
        .wait_for_request(Duration::from_secs(10), |r| {
            r.header("range").is_some_and(|v| v.starts_with("bytes=0-"))
        })
        .expect("the body's download started");
    assert!(
        Command::new("kill")
            .args(["-KILL", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let killed = g.wait(child);
    assert_eq!(killed.code, None, "killed by a signal");
    let stale: Vec<_> = snapshot(g.dir())
        .into_keys()
        .filter(|p| p.starts_with(".gljob-staging-") && !p.contains('/'))
        .collect();
    assert_eq!(
        stale.len(),
        1,
        "SIGKILL leaves its staging directory: {stale:?}"
    );
    // The second run fetches into the same directory as the killed one.
    let again_dir = g.dir().to_path_buf();
    let run = gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--dest"])
        .arg(again_dir.to_str().unwrap())
        .run();
    run.success();
    assert!(again_dir.join("a.bin").is_file());
    assert_no_temp(&again_dir);
}

#[test]
fn two_fetches_into_one_destination_never_mix() {
    let server = server();
    let names: Vec<String> = (0..1500).map(|i| format!("d{}/f{i}", i % 10)).collect();
    let make = |tag: &[u8]| {
        build(
            &names
                .iter()
                .map(|n| Entry::file(n, tag, 0o644).stored())
                .collect::<Vec<_>>(),
        )
    };
    publish(&server, 1, "a", "build", make(b"A"));
    publish(&server, 1, "b", "build", make(b"B"));
    let mut g = gljob(&server);
    let dest = g.dir().join("shared");
    // A full destination makes every commit replace entry by entry: the widest window.
    std::fs::create_dir(&dest).unwrap();
    for n in &names {
        std::fs::create_dir_all(dest.join(n).parent().unwrap()).unwrap();
        std::fs::write(dest.join(n), "old").unwrap();
    }
    let mut h = gljob(&server);
    let first = g
        .args(&[
            "fetch",
            "--ref",
            "a",
            "--job",
            "build",
            "--dest",
            dest.to_str().unwrap(),
        ])
        .spawn();
    let second = h
        .args(&[
            "fetch",
            "--ref",
            "b",
            "--job",
            "build",
            "--dest",
            dest.to_str().unwrap(),
        ])
        .spawn();
    let (r1, r2) = (g.wait(first), h.wait(second));
    r1.success();
    r2.success();
    let contents: std::collections::BTreeSet<Vec<u8>> = names
        .iter()
        .map(|n| std::fs::read(dest.join(n)).unwrap())
        .collect();
    assert_eq!(
        contents.len(),
        1,
        "the tree mixes both fetches: {contents:?}"
    );
    assert_no_temp(g.dir());
}

/// The destination's lock, deterministically: while another process holds it, gljob
/// downloads and unpacks but leaves the destination alone, then commits once it is free.
/// (The test above shows no mix, but only catches a missing lock when the two commits
/// happen to overlap.)
#[test]
fn a_fetch_waits_while_the_destination_is_locked() {
    let server = server();
    publish_build(&server, build(&[Entry::file("out.txt", b"new", 0o644)]));
    let mut g = gljob(&server);
    let dest = g.dir().join("shared");
    std::fs::create_dir(&dest).unwrap();
    let held = std::fs::File::open(&dest).unwrap();
    held.lock().unwrap();
    // /proc/locks lines: "N: [-> ]FLOCK ADVISORY WRITE PID MAJ:MIN:INODE 0 EOF".
    let inode = format!(
        ":{} ",
        std::os::unix::fs::MetadataExt::ino(&held.metadata().unwrap())
    );
    let on_dest = |pid: u32, waiting: bool| {
        let pid = format!(" {pid} ");
        let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
        locks
            .lines()
            .any(|l| l.contains("->") == waiting && l.contains(&pid) && l.contains(&inode))
    };
    if !on_dest(std::process::id(), false) {
        eprintln!(
            "SKIPPED: /proc/locks does not list this test's flock (no procfs lock list here)"
        );
        return;
    }
    let mut child = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--dest", "shared",
        ])
        .spawn();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !on_dest(child.id(), true) {
        if let Some(status) = child.try_wait().unwrap() {
            panic!("gljob ended ({status}) without waiting for the destination's lock");
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gljob did not wait for the destination's lock within 60 s"
        );
        // Polling a condition, not a sleep standing in for one.
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(
        !dest.join("out.txt").exists(),
        "gljob wrote into a locked destination"
    );
    drop(held);
    g.wait(child).success();
    assert_eq!(std::fs::read(dest.join("out.txt")).unwrap(), b"new");
    assert_no_temp(g.dir());
}

/// `--file -o` into a read-only directory (issue 14): exit 9 naming the file the user
/// asked for and `-o` (not `--dest`, which the command does not have), never gljob's
/// temporary; a missing directory below it too.
#[test]
fn one_file_into_a_read_only_directory_names_the_file_and_o() {
    let server = server();
    publish_build(&server, fake_gitlab::zips::sample());
    let g = gljob(&server);
    let ro = g.dir().join("ro");
    let Some(_ro) = Tmpfs::mount(&ro, "size=1m,ro") else {
        return;
    };
    for (o, named) in [
        (ro.join("app"), ro.join("app")),
        (ro.join("sub/app"), ro.join("sub")),
    ] {
        let o = o.to_str().unwrap();
        let run = gljob(&server)
            .args(&[
                "fetch", "--ref", "main", "--job", "build", "--file", "dist/app", "-o", o,
            ])
            .fails_unchanged(
                9,
                &["not writable", "choose another -o", named.to_str().unwrap()],
            );
        assert!(
            !run.stderr.contains("--dest") && !run.stderr.contains(".gljob-"),
            "{run}"
        );
    }
    assert_eq!(std::fs::read_dir(&ro).unwrap().count(), 0);
}
