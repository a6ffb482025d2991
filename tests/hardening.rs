//! Issue 11's promises, each tried as an attacker would: a server that rewrites what was
//! planned, signals and kills in the middle of a commit, a directory swapped for a symlink
//! while gljob commits, leftovers that are not gljob's, staging that others could read, and
//! names that create far more than they count. The tests act on observable events (a
//! request logged, a file appearing), never after a sleep.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_gitlab::zips::{Entry, build};
use fake_gitlab::{Fault, FaultKind};

use crate::util::{
    Gljob, as_job, assert_no_temp, gljob, kill as signal, publish_build, server, snapshot,
};

/// Appends `n` comment bytes to an archive written without a comment.
fn pad(archive: &mut Vec<u8>, n: usize) {
    let at = archive.len() - 2; // the comment length, the end record's last field
    archive[at..].copy_from_slice(&(n as u16).to_le_bytes());
    archive.extend(std::iter::repeat_n(b' ', n));
}

/// An honest archive (a small file first, a symlink, a big stored file) and a hostile one
/// of exactly the same length whose links chain out of DEST: `x/d/l -> ../..` resolves to
/// DEST itself, so `x/y -> d/l/..` is DEST's parent — though each looks inside alone.
fn honest_and_evil() -> (Vec<u8>, Vec<u8>) {
    let a: Vec<u8> = (0..100_000u32).map(|i| (i % 253) as u8).collect();
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut honest = build(&[
        Entry::file("x/a.txt", &a, 0o644).stored(),
        Entry::symlink("x/link", "a.txt"),
        Entry::file("big.bin", &big, 0o644).stored(),
    ]);
    let mut evil = build(&[
        Entry::symlink("x/d/l", "../.."),
        Entry::symlink("x/y", "d/l/.."),
        Entry::file("x/pad.bin", &big, 0o644).stored(),
    ]);
    let (short, long) = if honest.len() < evil.len() {
        (&mut honest, evil.len())
    } else {
        (&mut evil, honest.len())
    };
    let n = long - short.len();
    pad(short, n);
    assert_eq!(honest.len(), evil.len());
    (honest, evil)
}

fn respond(code: u16, headers: &[(&str, String)], body: Vec<u8>) -> FaultKind {
    FaultKind::Respond {
        code,
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        body,
    }
}

#[test]
fn a_206_that_runs_past_the_range_asked_for_is_refused_not_unpacked() {
    for args in [
        &["--path", "x/**"][..],
        &["--list"][..],
        &["--dest", "out"][..],
    ] {
        let server = server();
        let (honest, evil) = honest_and_evil();
        let len = evil.len();
        publish_build(&server, honest);
        // The tail (the directory) is served honestly; the next answer claims the whole
        // archive as a 206 and sends another one, rewriting the directory that was planned.
        server.inject(Fault::new("/download", FaultKind::Delay(Duration::ZERO)));
        server.inject(Fault::new(
            "/download",
            respond(
                206,
                &[
                    ("Content-Type", "application/zip".to_string()),
                    ("Content-Range", format!("bytes 0-{}/{len}", len - 1)),
                ],
                evil,
            ),
        ));
        let mut g = gljob(&server);
        g.args(&["fetch", "--ref", "main", "--job", "build"])
            .args(args);
        let run = g.fails_unchanged(7, &["exactly the range gljob asked for"]);
        assert!(!run.stdout().contains("x/y"), "{run}");
    }
}

#[test]
fn a_whole_archive_while_resuming_starts_over_with_a_fresh_plan() {
    let server = server();
    let (honest, evil) = honest_and_evil();
    let len = evil.len();
    publish_build(&server, honest);
    // No validator on the first answer, so If-Range cannot tell; the resumed request is
    // answered with a whole archive of the same length: another one.
    server.inject(Fault::new("/download", FaultKind::StripValidators));
    server.inject(Fault::new("/download", FaultKind::Truncate(50_000)));
    server.inject(Fault::new(
        "/download",
        respond(
            200,
            &[
                ("Content-Type", "application/zip".to_string()),
                ("Content-Length", len.to_string()),
            ],
            evil,
        ),
    ));
    let mut g = gljob(&server);
    let run = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--path", "x/**", "--dest", "out",
        ])
        .run();
    run.success().stderr_has(&["starting over"]);
    let out = g.dir().join("out");
    assert_eq!(std::fs::read(out.join("x/a.txt")).unwrap().len(), 100_000);
    assert_eq!(
        std::fs::read_link(out.join("x/link")).unwrap(),
        Path::new("a.txt")
    );
    assert!(
        std::fs::symlink_metadata(out.join("x/y")).is_err(),
        "nothing of the other archive was unpacked"
    );
    assert_no_temp(g.dir());
}

/// `n` small files under `f/`, and a destination holding the same names with other bytes:
/// a commit of `n` replacements, long enough to be interrupted in the middle.
fn replace_setup(server: &fake_gitlab::Server, n: usize) -> Gljob {
    let names: Vec<String> = (0..n).map(|i| format!("f/{i:05}")).collect();
    let entries: Vec<Entry> = names
        .iter()
        .map(|name| Entry::file(name, b"new", 0o644))
        .collect();
    publish_build(server, build(&entries));
    let g = gljob(server);
    let dest = g.dir().join("out/f");
    std::fs::create_dir_all(&dest).unwrap();
    for name in &names {
        std::fs::write(g.dir().join("out").join(name), b"old").unwrap();
    }
    g
}

/// The staging directory in `dest`, once there is one.
fn staging_in(dest: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dest)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(".gljob-staging-"))
        })
}

/// Waits (polling, bounded) until `ready` holds for the staging directory or `child` ends.
fn when(child: &mut std::process::Child, dest: &Path, ready: impl Fn(&Path) -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if staging_in(dest).is_some_and(|s| ready(&s)) {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        // A polling interval, not a guess at timing: a hundred or so commit steps.
        std::thread::sleep(Duration::from_micros(200));
    }
    panic!("the commit never reached the point the test waits for");
}

/// The tree of the destination, without the staging directory.
fn tree(dest: &Path) -> std::collections::BTreeMap<String, String> {
    snapshot(dest)
        .into_iter()
        .filter(|(k, _)| !k.starts_with(".gljob-staging-"))
        .collect()
}

const FILES: usize = 20_000;

#[test]
fn sigterm_at_many_points_of_a_commit_leaves_the_old_tree_or_the_new_one() {
    for point in [10, 12_000] {
        let server = server();
        let mut g = replace_setup(&server, FILES);
        let dest = g.dir().join("out");
        let old = tree(&dest);
        let mut child = g
            .args(&[
                "fetch", "--ref", "main", "--job", "build", "--dest", "out", "--quiet",
            ])
            .spawn();
        let hit = when(&mut child, &dest, |s| {
            s.join("aside").join(point.to_string()).exists()
        });
        if hit {
            signal(&child, "-TERM");
        }
        let run = g.wait(child);
        let now = tree(&dest);
        if run.code == Some(0) {
            assert!(
                !hit,
                "a commit interrupted at step {point} finished anyway\n{run}"
            );
            assert_eq!(std::fs::read(dest.join("f/00000")).unwrap(), b"new");
        } else {
            run.code(143);
            assert_eq!(
                now, old,
                "interrupted at step {point}: DEST is the old tree\n{run}"
            );
        }
        assert_no_temp(g.dir());
    }
}

/// Starts a 20,000-file replace, sends `signals` once step `point` has moved its original
/// aside, and waits for gljob; then runs the next fetch into the same destination (one that
/// fails: no such job), which must first undo what was left. Returns the interrupted run,
/// whether DEST was a mix before the rerun, and the rerun.
fn interrupt_then_rerun(
    point: usize,
    signals: &[&str],
) -> (crate::util::Run, bool, crate::util::Run) {
    let server = server();
    let mut g = replace_setup(&server, FILES);
    let dest = g.dir().join("out");
    let old = tree(&dest);
    let mut child = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--dest", "out", "--quiet",
        ])
        .spawn();
    assert!(when(&mut child, &dest, |s| s
        .join(format!("aside/{point}"))
        .exists()));
    for s in signals {
        signal(&child, s);
    }
    let run = g.wait(child);
    let mixed = tree(&dest) != old;
    if mixed {
        assert!(
            staging_in(&dest).is_some(),
            "the moved-aside originals were kept for the next run\n{run}"
        );
    }
    let mut again = as_job(Gljob::bare(), &server);
    let rerun = again
        .args(&["fetch", "--ref", "main", "--job", "nope", "--dest"])
        .arg(dest.to_str().unwrap())
        .run();
    rerun.code(6);
    assert_eq!(tree(&dest), old, "DEST is exactly the old tree\n{rerun}");
    assert_no_temp(g.dir());
    (run, mixed, rerun)
}

#[test]
fn a_second_signal_during_the_commit_keeps_the_originals_for_the_next_run() {
    // Late in the commit: undoing 15,000 steps takes longer than the watcher takes to
    // notice the second signal.
    let (run, _, _) = interrupt_then_rerun(15_000, &["-TERM", "-TERM"]);
    assert_ne!(run.code, Some(0), "{run}");
}

#[test]
fn sigkill_during_the_commit_then_a_rerun_restores_the_old_tree() {
    let (_, mixed, rerun) = interrupt_then_rerun(3000, &["-KILL"]);
    assert!(mixed, "killed half-way: DEST is a mix until the next run");
    rerun.stderr_has(&["interrupted during its commit", "undone"]);
}

#[test]
fn a_directory_swapped_for_a_symlink_during_the_commit_is_never_written_through() {
    let server = server();
    let mut entries: Vec<Entry> = (0..FILES)
        .map(|i| Entry::file(&format!("a/{i:05}"), b"new", 0o644))
        .collect();
    entries.push(Entry::file("a/zz/x.txt", b"new", 0o644));
    publish_build(&server, build(&entries));
    let mut g = gljob(&server);
    let dest = g.dir().join("out");
    std::fs::create_dir_all(dest.join("a/zz")).unwrap();
    for i in 0..FILES {
        std::fs::write(dest.join(format!("a/{i:05}")), b"old").unwrap();
    }
    std::fs::write(dest.join("a/zz/x.txt"), b"old").unwrap();
    // Where the symlink will point: outside DEST, with a file the commit would replace.
    let outside = g.dir().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("x.txt"), b"canary").unwrap();
    let canary = snapshot(&outside);

    let mut child = g
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--dest", "out", "--quiet",
        ])
        .spawn();
    // A hundred steps into the commit (the checks are long done), swap a/zz for a symlink.
    let started = when(&mut child, &dest, |s| s.join("aside/100").exists());
    let mut late = false;
    if started {
        std::fs::rename(dest.join("a/zz"), dest.join("a/zz.moved")).unwrap();
        std::os::unix::fs::symlink(&outside, dest.join("a/zz")).unwrap();
        // Far enough into the commit that gljob cannot have got there first.
        let staging = staging_in(&dest).unwrap();
        let journal = std::fs::read_to_string(staging.join("journal")).unwrap_or_default();
        let position = journal.lines().position(|l| l.contains("a/zz/x.txt"));
        late = position.is_some_and(|p| p > 5000);
    }
    let run = g.wait(child);
    assert_eq!(
        snapshot(&outside),
        canary,
        "nothing was written outside DEST\n{run}"
    );
    if late {
        run.code(8).stderr_has(&["no longer a directory"]);
        assert_eq!(
            std::fs::read(dest.join("a/00000")).unwrap(),
            b"old",
            "rolled back"
        );
    }
    assert_no_temp(g.dir());
}

#[test]
fn a_directory_only_named_like_staging_is_never_deleted() {
    let server = server();
    publish_build(&server, crate::util::one_file("a.txt", b"x"));
    let mut g = gljob(&server);
    let mine = g.dir().join(".gljob-staging-12345-6");
    std::fs::create_dir(&mine).unwrap();
    std::fs::write(mine.join("notes.txt"), b"the user's").unwrap();
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(
        std::fs::read(mine.join("notes.txt")).unwrap(),
        b"the user's"
    );
}

#[test]
fn a_live_runs_staging_is_left_alone_whatever_its_pid_says() {
    let server = server();
    publish_build(&server, crate::util::one_file("a.txt", b"x"));
    let mut g = gljob(&server);
    // A run in another PID namespace: its PID means nothing here, but it holds its lock.
    let live = g.dir().join(".gljob-staging-999999999-1");
    std::fs::create_dir(&live).unwrap();
    let marker = live.join("gljob-staging");
    std::fs::write(&marker, gljob::staging::MARKER_TEXT).unwrap();
    std::fs::write(live.join("artifacts.zip"), b"arriving").unwrap();
    let held = std::fs::File::open(&marker).unwrap();
    held.lock().unwrap();
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert!(
        live.join("artifacts.zip").exists(),
        "the live run's staging is intact"
    );
    drop(held);
}

#[test]
fn staging_and_the_list_temporary_are_private() {
    for list in [false, true] {
        let server = server();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        publish_build(
            &server,
            build(&[Entry::file("d.bin", &data, 0o600).stored()]),
        );
        // The first answer stalls after a few bytes: the temporaries exist by then.
        server.inject(Fault::new(
            "/download",
            FaultKind::StallAfter(10, Duration::from_secs(30)),
        ));
        let mut g = gljob(&server);
        g.args(&["fetch", "--ref", "main", "--job", "build"]);
        if list {
            g.arg("--list");
        }
        let child = g.spawn();
        server
            .wait_for_request(Duration::from_secs(10), |r| r.path.contains("/download"))
            .expect("gljob asked for the archive");
        let (dir, archive) = if list {
            let tmp = g.dir().join("tmp");
            let dir = std::fs::read_dir(&tmp)
                .unwrap()
                .flatten()
                .next()
                .unwrap()
                .path();
            (dir.clone(), dir.join("artifacts.zip"))
        } else {
            let dir = staging_in(g.dir()).expect("a staging directory");
            (dir.clone(), dir.join("tree.zip"))
        };
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
        assert_eq!(mode(&archive), 0o600, "{}", archive.display());
        signal(&child, "-TERM");
        g.wait(child).code(143);
        assert_no_temp(g.dir());
    }
}

/// An archive of one entry per top-level directory, each `depth` components deep.
fn deep(entries: usize, depth: usize) -> Vec<u8> {
    let list: Vec<Entry> = (0..entries)
        .map(|i| {
            let mut name = format!("e{i}");
            for _ in 1..depth {
                name.push_str("/a");
            }
            Entry::file(&name, b"x", 0o644)
        })
        .collect();
    build(&list)
}

#[test]
fn a_name_deeper_than_the_limit_is_refused_before_anything_is_written() {
    let server = server();
    publish_build(&server, deep(1, 2000));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .fails_unchanged(8, &["2000 directories deep", "--max-depth"]);
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "build",
        "--dest",
        "out",
        "--max-depth",
        "2000",
    ])
    .run()
    .success();
}

#[test]
fn the_directories_a_name_implies_count_as_entries() {
    let server = server();
    publish_build(&server, deep(10, 60));
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "build",
        "--dest",
        "out",
        "--max-entries",
        "100",
    ])
    .fails_unchanged(8, &["counting the directories", "--max-entries"]);
    gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .run()
        .success();
}

#[test]
fn planning_a_directory_of_deep_names_stays_in_flat_memory() {
    let server = server();
    // 4,000 names 120 deep: 480,000 paths in all, just under the default limit.
    publish_build(&server, deep(4000, 120));
    let (_g, run, peak) = crate::util::peak_rss_kib(
        &server,
        &[
            "fetch", "--ref", "main", "--job", "build", "--list", "--quiet",
        ],
    );
    run.success();
    assert!(peak < 48 * 1024, "peak RSS {peak} KiB");
    // 5,000 such names imply 600,000 paths: more than the default limit.
    let server = crate::util::server();
    publish_build(&server, deep(5000, 120));
    gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--list"])
        .fails_unchanged(8, &["counting the directories"]);
}
