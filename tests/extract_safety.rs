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
    let before = snapshot(&work);
    g.args(&["fetch", "--ref", "main", "--job", "evil", "--dest", "out"])
        .args(extra)
        .run()
        .code(8)
        .stderr_has(needles);
    assert_eq!(snapshot(&work), before);
    assert_no_temp(&work);
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
