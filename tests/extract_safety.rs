//! Hostile archives: each is refused whole (exit 8), nothing is written anywhere, the
//! destination is unchanged and no temporary file is left.

use fake_gitlab::zips::{Entry, EntryKind, RawEntry, bomb_overlapping, build, raw_zip};

use crate::util::{assert_no_temp, gljob, publish, server, snapshot};

/// Serves `archive`, fetches it into `out/` (which holds a file of the user's), and checks
/// the refusal. Also checks that nothing appeared next to the working directory.
fn refused(archive: Vec<u8>, extra: &[&str], needles: &[&str]) {
    let server = server();
    publish(&server, 1, "main", "evil", archive);
    let mut g = gljob(&server);
    let work = g.dir().to_path_buf();
    std::fs::create_dir(work.join("out")).unwrap();
    std::fs::write(work.join("out/mine.txt"), "the user's").unwrap();
    std::fs::create_dir(work.join("outside")).unwrap();
    g.args(&["fetch", "--ref", "main", "--job", "evil", "--dest", "out"])
        .args(extra)
        .fails_unchanged(8, needles);
}

#[test]
fn absolute_paths() {
    refused(
        raw_zip(&[RawEntry::file("/tmp/gljob-evil", b"x")]),
        &[],
        &["absolute"],
    );
}

#[test]
fn dot_dot_traversal() {
    refused(
        raw_zip(&[
            RawEntry::file("ok.txt", b"fine"),
            RawEntry::file("../outside/x", b"x"),
        ]),
        &[],
        &["'..'"],
    );
    refused(
        raw_zip(&[RawEntry::file("a/../../outside/x", b"x")]),
        &[],
        &["'..'"],
    );
}

#[test]
fn backslash_and_drive_letters() {
    refused(
        raw_zip(&[RawEntry::file("..\\outside\\x", b"x")]),
        &[],
        &["backslash"],
    );
    refused(
        raw_zip(&[RawEntry::file("C:/x", b"x")]),
        &[],
        &["drive letter"],
    );
}

#[test]
fn nul_in_a_name() {
    refused(raw_zip(&[RawEntry::file("a\0b", b"x")]), &[], &["NUL"]);
}

#[test]
fn a_symlink_that_escapes() {
    refused(
        raw_zip(&[RawEntry::symlink("link", "../outside")]),
        &[],
        &["outside the destination"],
    );
    refused(
        raw_zip(&[RawEntry::symlink("link", "/etc")]),
        &[],
        &["absolute"],
    );
}

#[test]
fn writing_through_a_symlink_entry() {
    refused(
        raw_zip(&[
            RawEntry::symlink("link", "sub"),
            RawEntry::dir("sub/"),
            RawEntry::file("link/x", b"x"),
        ]),
        &[],
        &["below the symlink"],
    );
}

#[test]
fn a_symlink_in_the_destination_pointing_outside() {
    let server = server();
    publish(
        &server,
        1,
        "main",
        "evil",
        build(&[Entry {
            name: "escape/x".into(),
            kind: EntryKind::File(b"x".to_vec()),
            mode: 0o644,
            stored: false,
        }]),
    );
    let mut g = gljob(&server);
    let work = g.dir().to_path_buf();
    std::fs::create_dir_all(work.join("out")).unwrap();
    std::fs::create_dir_all(work.join("outside")).unwrap();
    std::os::unix::fs::symlink("../outside", work.join("out/escape")).unwrap();
    let before = snapshot(&work);
    g.args(&["fetch", "--ref", "main", "--job", "evil", "--dest", "out"])
        .run()
        .code(8)
        .stderr_has(&["symlink"]);
    assert_eq!(snapshot(&work), before);
    assert!(
        std::fs::read_dir(work.join("outside"))
            .unwrap()
            .next()
            .is_none(),
        "nothing written through the link"
    );
}

#[test]
fn duplicate_names() {
    refused(
        raw_zip(&[RawEntry::file("a.txt", b"1"), RawEntry::file("a.txt", b"2")]),
        &[],
        &["refused"],
    );
    refused(
        raw_zip(&[
            RawEntry::file("a.txt", b"1"),
            RawEntry::file("./a.txt", b"2"),
        ]),
        &[],
        &["twice"],
    );
}

#[test]
fn a_file_and_a_directory_with_one_name() {
    refused(
        raw_zip(&[RawEntry::file("a", b"1"), RawEntry::file("a/b", b"2")]),
        &[],
        &["both a file and a directory"],
    );
}

#[test]
fn overlapping_entries_the_non_recursive_bomb() {
    refused(bomb_overlapping(50, 1 << 20), &[], &["refused"]);
}

#[test]
fn limits_on_size_and_count() {
    let big = Entry {
        name: "big".into(),
        kind: EntryKind::File(vec![0; 2 << 20]),
        mode: 0o644,
        stored: false,
    };
    refused(
        build(std::slice::from_ref(&big)),
        &["--max-bytes", "1M"],
        &["--max-bytes"],
    );
    let many: Vec<Entry> = (0..20)
        .map(|i| Entry {
            name: format!("f{i}"),
            kind: EntryKind::File(vec![]),
            mode: 0o644,
            stored: true,
        })
        .collect();
    refused(build(&many), &["--max-entries", "10"], &["--max-entries"]);
}

#[test]
fn a_crc_mismatch() {
    let mut entry = RawEntry::file("a.txt", b"hello");
    entry.crc_override = Some(0xDEAD_BEEF);
    refused(
        raw_zip(&[RawEntry::file("first.txt", b"ok"), entry]),
        &[],
        &["corrupt"],
    );
}

#[test]
fn a_size_that_lies() {
    let mut entry = RawEntry::file("a.txt", b"hello world");
    entry.size_override = Some(5);
    refused(raw_zip(&[entry]), &[], &["more than its declared"]);
}

#[test]
fn a_truncated_archive() {
    let mut archive = build(&[Entry {
        name: "a".into(),
        kind: EntryKind::File(vec![7; 10_000]),
        mode: 0o644,
        stored: true,
    }]);
    archive.truncate(archive.len() - 30);
    refused(archive, &[], &["zip"]);
}

#[test]
fn an_encrypted_entry_and_an_unknown_method() {
    let mut enc = RawEntry::file("secret", b"x");
    enc.flags |= 1;
    refused(raw_zip(&[enc]), &[], &["encrypted"]);
    let mut odd = RawEntry::file("odd", b"x");
    odd.method = 99;
    refused(raw_zip(&[odd]), &[], &["compression"]);
}

/// More spellings and tricks from the hostile-archive corpus of issue 7, each refused whole.
#[test]
fn the_rest_of_the_hostile_corpus() {
    let named = |name: &[u8]| RawEntry {
        name: name.to_vec(),
        ..RawEntry::file("x", b"x")
    };
    let mut lying_central = RawEntry::file("innocent.txt", b"x");
    lying_central.central_name = Some(b"other.txt".to_vec());
    let mut too_big = RawEntry::file("a.txt", b"short");
    too_big.size_override = Some(500);
    let mut zip64_without_field = RawEntry::file("a.txt", b"x");
    zip64_without_field.size_override = Some(0xFFFF_FFFF);
    let mut chain_link = RawEntry::symlink("z", "x/y/..");
    chain_link.name = b"z".to_vec();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dot-dot backslash",
            raw_zip(&[named(b"..\\..\\x")]),
            "backslash",
        ),
        (
            "UNC path",
            raw_zip(&[named(b"\\\\server\\share\\x")]),
            "backslash",
        ),
        (
            "drive letter with backslash",
            raw_zip(&[named(b"C:\\Windows\\x")]),
            "backslash",
        ),
        ("absolute after dot", raw_zip(&[named(b"./../x")]), "'..'"),
        ("invalid UTF-8", raw_zip(&[named(b"caf\xe9.txt")]), "UTF-8"),
        (
            "a symlink chain",
            raw_zip(&[RawEntry::symlink("x/y", ".."), chain_link]),
            "through another symlink",
        ),
        (
            "a directory then a file of that name",
            raw_zip(&[RawEntry::dir("a/"), RawEntry::file("a", b"1")]),
            "twice",
        ),
        (
            "a file then a directory of that name",
            raw_zip(&[RawEntry::file("a", b"1"), RawEntry::dir("a/")]),
            "twice",
        ),
        (
            "local name differs from central",
            raw_zip(&[lying_central]),
            "local header",
        ),
        (
            "declared size larger than the data",
            raw_zip(&[too_big]),
            "not its declared",
        ),
        (
            "Zip64 size without its extra field",
            raw_zip(&[zip64_without_field]),
            "Zip64",
        ),
        (
            "prepended data",
            [
                b"MZ\x90\x00 an executable stub ".to_vec(),
                raw_zip(&[RawEntry::file("a", b"1")]),
            ]
            .concat(),
            "added before",
        ),
        (
            "an HTML page",
            b"<html><body><h1>502 Bad Gateway</h1></body></html>".to_vec(),
            "not a zip",
        ),
    ];
    for (what, archive, needle) in cases {
        eprintln!("case: {what}");
        refused(archive, &[], &[needle]);
    }
}

#[test]
fn an_empty_archive_is_a_success_with_no_files() {
    let server = server();
    publish(&server, 1, "main", "empty", raw_zip(&[]));
    let mut g = gljob(&server);
    let before = snapshot(g.dir());
    g.args(&["fetch", "--ref", "main", "--job", "empty"])
        .run()
        .success()
        .stderr_has(&["fetched 0 files"]);
    assert_eq!(snapshot(g.dir()), before);
}

/// Findings of the fuzzer and the property tests (fuzz/regressions/), now refused.
#[test]
fn a_symlink_through_a_symlink_the_destination_holds() {
    let server = server();
    publish(
        &server,
        1,
        "main",
        "evil",
        raw_zip(&[RawEntry::symlink("l", "escape/../outside/canary")]),
    );
    let mut g = gljob(&server);
    let work = g.dir().to_path_buf();
    std::fs::create_dir_all(work.join("out")).unwrap();
    std::fs::create_dir_all(work.join("outside")).unwrap();
    std::fs::write(work.join("outside/canary"), "secret").unwrap();
    // The user's own link: inside DEST as text, outside in fact.
    std::os::unix::fs::symlink("../outside", work.join("out/escape")).unwrap();
    let before = snapshot(&work);
    g.args(&["fetch", "--ref", "main", "--job", "evil", "--dest", "out"])
        .run()
        .code(8)
        .stderr_has(&["through another symlink"]);
    assert_eq!(snapshot(&work), before);
    assert_no_temp(&work);
}

#[test]
fn an_overlong_name_and_a_nested_reserved_name() {
    let long = format!("a/{}", "n".repeat(300));
    refused(
        raw_zip(&[RawEntry::file(&long, b"x")]),
        &[],
        &["over 255 bytes"],
    );
    refused(
        raw_zip(&[RawEntry::file("a/.gljob-staging-99999999-1/x", b"x")]),
        &[],
        &["reserved staging name"],
    );
}
