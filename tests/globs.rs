//! `--path` globs against names the archive's author made deep (issue 11): several `**` in
//! one glob and 120-segment names, through the real binary. The matching's cost is bounded
//! by a unit test in src/glob.rs; this checks that what lands on disk is what the globs say.

use fake_gitlab::zips::{Entry, build};

use crate::util::{gljob, publish_build, server, snapshot};

#[test]
fn globs_with_many_double_stars_select_deep_entries_and_a_miss_is_exit_6() {
    // a/b/a/b/.../a (119 directories), so each `**` could start almost anywhere.
    let dirs: Vec<&str> = (0..119).map(|i| ["a", "b"][i % 2]).collect();
    let deep = format!("{}/leaf", dirs.join("/"));
    assert_eq!(deep.split('/').count(), 120);
    let server = server();
    publish_build(
        &server,
        build(&[
            Entry::file(&deep, b"deep", 0o644),
            Entry::file(&format!("{}/other.txt", dirs.join("/")), b"no", 0o644),
            Entry::file("x/a/y/b/z/leaf", b"spread", 0o644),
            // Selected through its parent directory `a/b/leaf`.
            Entry::file("a/b/leaf/inside.txt", b"below", 0o644),
            Entry::file("a/leaf", b"no b", 0o644),
            Entry::file("b/a/leaf", b"b before a", 0o644),
            Entry::file("leaf", b"top", 0o644),
        ]),
    );
    let glob = "**/a/**/b/**/leaf";
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build", "--path", glob])
        .run()
        .success();
    let got: Vec<String> = snapshot(g.dir())
        .into_iter()
        .filter(|(_, d)| d.starts_with("file"))
        .map(|(p, _)| p)
        .collect();
    let mut want = vec![
        deep.clone(),
        "a/b/leaf/inside.txt".to_string(),
        "x/a/y/b/z/leaf".to_string(),
    ];
    want.sort();
    assert_eq!(got, want);
    assert_eq!(std::fs::read(g.dir().join(&deep)).unwrap(), b"deep");

    let miss = "**/a/**/b/**/c/**/leaf";
    gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--path", miss])
        .fails_unchanged(6, &[miss]);
}
