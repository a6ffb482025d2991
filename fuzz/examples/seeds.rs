//! Writes the seed corpus of the `archive` fuzz target into `corpus/archive/seed-*.zip`:
//! valid archives as the `zip` crate and gitlab-runner write them, a Zip64 one, and the
//! hostile corpus of `tests/extract_safety.rs`, plus a few names that meet the files the
//! target puts in its destination first (`keep.txt`, `keep-dir/`, the symlink `escape`).
//!
//! It also writes `regressions/*.zip`, the archives behind the findings in README.md.
//!
//! Run from `fuzz/`: `cargo run --example seeds` (see README.md). Deterministic: the same
//! bytes every time.

use std::fs;
use std::path::Path;

use fake_gitlab::zips::{
    Entry, EntryKind, RawEntry, bomb_overlapping, build, build_streaming, raw_zip, sample,
    sample_entries, write_large,
};

fn main() -> std::io::Result<()> {
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpus/archive");
    fs::create_dir_all(&out)?;
    let mut total = 0;
    for (name, bytes) in seeds()? {
        total += bytes.len();
        fs::write(out.join(format!("seed-{name}.zip")), bytes)?;
    }
    eprintln!("wrote seeds ({total} bytes) to {}", out.display());
    let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("regressions");
    fs::create_dir_all(&regressions)?;
    for (name, bytes) in regressions_found() {
        fs::write(regressions.join(format!("{name}.zip")), bytes)?;
    }
    eprintln!("wrote the regression archives to {}", regressions.display());
    Ok(())
}

/// The archives of the findings (README.md, "Findings"). None crashes the target as it is.
fn regressions_found() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        // Accepted (exit 0): `l` is lexically inside the destination, but through the symlink
        // `escape` (../outside) the destination already holds, it points outside.
        (
            "symlink-through-dest-symlink",
            raw_zip(&[RawEntry::symlink("l", "escape/../outside/canary")]),
        ),
        // Exit 9 (File name too long), not 8: the name is the archive's fault.
        (
            "long-name",
            raw_zip(&[RawEntry::file(&"a".repeat(300), b"x")]),
        ),
        // Accepted, though the README says entries named .gljob-staging-* are refused; a
        // later fetch with --dest a removes that directory as a stale staging directory.
        (
            "nested-reserved-name",
            raw_zip(&[RawEntry::file(
                "a/.gljob-staging-99999999-1/x",
                b"the user's",
            )]),
        ),
    ]
}

/// A raw archive rewritten with Zip64 end records (a Zip64 end-of-central-directory record
/// and its locator, the classic record saying "see Zip64").
fn with_zip64_end(mut zip: Vec<u8>) -> Vec<u8> {
    let eocd = zip.split_off(zip.len() - 22);
    let entries = u16::from_le_bytes([eocd[10], eocd[11]]) as u64;
    let size = u32::from_le_bytes([eocd[12], eocd[13], eocd[14], eocd[15]]) as u64;
    let start = u32::from_le_bytes([eocd[16], eocd[17], eocd[18], eocd[19]]) as u64;
    let record = zip.len() as u64;
    zip.extend(0x0606_4b50u32.to_le_bytes());
    zip.extend(44u64.to_le_bytes());
    zip.extend(((3u16 << 8) | 45).to_le_bytes());
    zip.extend(45u16.to_le_bytes());
    zip.extend([0u8; 8]); // disk numbers
    zip.extend(entries.to_le_bytes());
    zip.extend(entries.to_le_bytes());
    zip.extend(size.to_le_bytes());
    zip.extend(start.to_le_bytes());
    zip.extend(0x0706_4b50u32.to_le_bytes());
    zip.extend(0u32.to_le_bytes());
    zip.extend(record.to_le_bytes());
    zip.extend(1u32.to_le_bytes());
    zip.extend(0x0605_4b50u32.to_le_bytes());
    zip.extend([0u8; 4]);
    zip.extend([0xFF; 4]); // entries
    zip.extend([0xFF; 8]); // size, start
    zip.extend([0u8; 2]); // comment
    zip
}

fn seeds() -> std::io::Result<Vec<(&'static str, Vec<u8>)>> {
    let named = |name: &[u8]| RawEntry {
        name: name.to_vec(),
        ..RawEntry::file("x", b"x")
    };
    let mut seeds: Vec<(&str, Vec<u8>)> = vec![
        ("sample-streaming", sample()),
        ("sample-seekable", build(&sample_entries())),
        (
            "modes-streaming",
            build_streaming(&[
                Entry::file("bin/suid", b"#!/bin/sh\n", 0o4755),
                Entry::file("bin/sticky", b"x", 0o1777),
                Entry::file("none", b"", 0),
                Entry::file("all", b"all", 0o777).stored(),
                Entry {
                    mode: 0o2700,
                    ..Entry::dir("private/")
                },
            ]),
        ),
        ("empty", raw_zip(&[])),
    ];

    // Zip64: the zip crate's large-file entries, and Zip64 end records.
    let tmp = std::env::temp_dir().join(format!("gljob-seeds-{}.zip", std::process::id()));
    write_large(&tmp, 2000)?;
    seeds.push(("zip64-large-file", fs::read(&tmp)?));
    fs::remove_file(&tmp)?;
    seeds.push((
        "zip64-end-records",
        with_zip64_end(raw_zip(&[
            RawEntry::dir("d"),
            RawEntry::file("d/a.txt", b"hello hello hello"),
            RawEntry::symlink("d/l", "a.txt"),
        ])),
    ));

    // Raw archives that are fine: data descriptors, stored, links, the user's names.
    let mut descriptor = RawEntry::file("with-descriptor.txt", b"described later");
    descriptor.flags |= 0x0008;
    seeds.push((
        "raw-valid",
        raw_zip(&[
            RawEntry::dir("d"),
            RawEntry::file("d/a.txt", b"hello hello hello hello"),
            RawEntry {
                method: 0,
                ..RawEntry::file("d/stored.bin", &[1, 2, 3])
            },
            RawEntry::symlink("d/link", "a.txt"),
            RawEntry::symlink("up", "d/../d/a.txt"),
            RawEntry::file("ünï.txt", b"utf-8"),
            RawEntry::file("./dot/./a//b", b"normalised"),
            descriptor,
        ]),
    ));
    seeds.push((
        "user-files",
        raw_zip(&[
            RawEntry::file("keep.txt", b"replaced"),
            RawEntry::file("escape", b"a file where the user's symlink was"),
            RawEntry::file("keep-dir/new", b"merged"),
            RawEntry::dir("keep-dir"),
        ]),
    ));
    seeds.push((
        "through-user-symlink",
        raw_zip(&[RawEntry::file("escape/x", b"x")]),
    ));
    seeds.push((
        "file-over-user-dir",
        raw_zip(&[RawEntry::file("keep-dir", b"x")]),
    ));
    seeds.push((
        "link-through-user-symlink",
        raw_zip(&[RawEntry::symlink("l", "escape/../outside/canary")]),
    ));

    // The hostile corpus of tests/extract_safety.rs.
    let mut crc = RawEntry::file("a.txt", b"hello");
    crc.crc_override = Some(0xDEAD_BEEF);
    let mut short = RawEntry::file("a.txt", b"hello world");
    short.size_override = Some(5);
    let mut long = RawEntry::file("a.txt", b"short");
    long.size_override = Some(500);
    let mut zip64_missing = RawEntry::file("a.txt", b"x");
    zip64_missing.size_override = Some(0xFFFF_FFFF);
    let mut enc = RawEntry::file("secret", b"x");
    enc.flags |= 1;
    let mut odd = RawEntry::file("odd", b"x");
    odd.method = 99;
    let mut lying = RawEntry::file("innocent.txt", b"x");
    lying.central_name = Some(b"other.txt".to_vec());
    let mut truncated = build(&[Entry {
        name: "a".into(),
        kind: EntryKind::File(vec![7; 1000]),
        mode: 0o644,
        stored: true,
    }]);
    truncated.truncate(truncated.len() - 30);
    seeds.extend([
        (
            "absolute",
            raw_zip(&[RawEntry::file("/tmp/gljob-evil", b"x")]),
        ),
        (
            "dot-dot",
            raw_zip(&[
                RawEntry::file("ok.txt", b"fine"),
                RawEntry::file("../outside/x", b"x"),
            ]),
        ),
        (
            "dot-dot-deep",
            raw_zip(&[RawEntry::file("a/../../outside/x", b"x")]),
        ),
        ("backslash", raw_zip(&[named(b"..\\outside\\x")])),
        ("unc", raw_zip(&[named(b"\\\\server\\share\\x")])),
        ("drive", raw_zip(&[named(b"C:/x")])),
        ("nul", raw_zip(&[named(b"a\0b")])),
        ("not-utf8", raw_zip(&[named(b"caf\xe9.txt")])),
        ("reserved", raw_zip(&[named(b".gljob-staging-1-2/x")])),
        (
            "symlink-escape",
            raw_zip(&[RawEntry::symlink("link", "../outside")]),
        ),
        (
            "symlink-absolute",
            raw_zip(&[RawEntry::symlink("link", "/etc")]),
        ),
        (
            "below-symlink",
            raw_zip(&[
                RawEntry::symlink("link", "sub"),
                RawEntry::dir("sub/"),
                RawEntry::file("link/x", b"x"),
            ]),
        ),
        (
            "symlink-chain",
            raw_zip(&[
                RawEntry::symlink("x/y", ".."),
                RawEntry::symlink("z", "x/y/.."),
            ]),
        ),
        (
            "duplicate",
            raw_zip(&[
                RawEntry::file("a.txt", b"1"),
                RawEntry::file("./a.txt", b"2"),
            ]),
        ),
        (
            "file-and-dir",
            raw_zip(&[RawEntry::file("a", b"1"), RawEntry::file("a/b", b"2")]),
        ),
        (
            "dir-then-file",
            raw_zip(&[RawEntry::dir("a/"), RawEntry::file("a", b"1")]),
        ),
        ("overlapping", bomb_overlapping(3, 4096)),
        ("crc", raw_zip(&[RawEntry::file("first.txt", b"ok"), crc])),
        ("size-short", raw_zip(&[short])),
        ("size-long", raw_zip(&[long])),
        ("zip64-missing-field", raw_zip(&[zip64_missing])),
        ("encrypted", raw_zip(&[enc])),
        ("method-99", raw_zip(&[odd])),
        ("local-name-differs", raw_zip(&[lying])),
        ("truncated", truncated),
        (
            "prepended",
            [
                b"MZ\x90\x00 stub ".to_vec(),
                raw_zip(&[RawEntry::file("a", b"1")]),
            ]
            .concat(),
        ),
    ]);
    Ok(seeds)
}
