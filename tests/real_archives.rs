//! Zips as other tools write them (issue 13): bsdtar's padded output, Info-ZIP's modes,
//! Python's MS-DOS attributes, a Zip64 end record behind all-0xFFFF classic fields, the old
//! Info-ZIP Unix time field, directory times, and symlinks that leave DEST on purpose.
//! Where a tool is missing the test says so and skips, unless `GLJOB_REQUIRE_TOOLS=1` (CI).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::time::UNIX_EPOCH;

use fake_gitlab::zips::{Entry, build};

use crate::util::{gljob, publish_build, server};

/// Runs a tool in `dir`, or says why not (skipping, or failing under GLJOB_REQUIRE_TOOLS).
fn tool(dir: &Path, program: &str, args: &[&str]) -> bool {
    match Command::new(program).args(args).current_dir(dir).status() {
        Ok(s) if s.success() => true,
        other => {
            let why = format!("skipping: {program} {args:?} did not run: {other:?}");
            assert!(std::env::var_os("GLJOB_REQUIRE_TOOLS").is_none(), "{why}");
            eprintln!("{why}");
            false
        }
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

fn mtime(p: &Path) -> u64 {
    std::fs::symlink_metadata(p)
        .unwrap()
        .modified()
        .unwrap()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[test]
fn bsdtar_output_padded_to_its_block_size_is_read() {
    let work = tempfile::tempdir().unwrap();
    std::fs::create_dir(work.path().join("d")).unwrap();
    std::fs::write(work.path().join("d/a.txt"), "from bsdtar").unwrap();
    if !tool(
        work.path(),
        "bsdtar",
        &["--format", "zip", "-b", "20", "-cf", "out.zip", "d"],
    ) {
        return;
    }
    let zip = std::fs::read(work.path().join("out.zip")).unwrap();
    assert_eq!(zip.len() % 10240, 0, "bsdtar padded its output");
    let server = server();
    publish_build(&server, zip);
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(g.dir().join("d/a.txt")).unwrap(),
        "from bsdtar"
    );
}

#[test]
fn data_prepended_to_an_archive_is_still_refused() {
    let mut zip = b"#!/bin/sh\nexit 0\n".to_vec();
    zip.extend(build(&[Entry::file("a.txt", b"x", 0o644)]));
    zip.extend(vec![0u8; 5000]); // and padding after it
    let server = server();
    publish_build(&server, zip);
    gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build"])
        .fails_unchanged(8, &["data was added before or inside the archive"]);
}

#[test]
fn info_zip_modes_are_kept_exactly_000_included() {
    let work = tempfile::tempdir().unwrap();
    let d = work.path().join("d");
    std::fs::create_dir(&d).unwrap();
    for (name, m) in [("none", 0o000), ("exec", 0o755), ("private", 0o600)] {
        std::fs::write(d.join(name), name).unwrap();
        std::fs::set_permissions(d.join(name), std::fs::Permissions::from_mode(m)).unwrap();
    }
    if !tool(work.path(), "zip", &["-q", "-r", "out.zip", "d"]) {
        return;
    }
    let server = server();
    publish_build(&server, std::fs::read(work.path().join("out.zip")).unwrap());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(mode(&g.dir().join("d/none")), 0o000);
    assert_eq!(mode(&g.dir().join("d/exec")), 0o755);
    assert_eq!(mode(&g.dir().join("d/private")), 0o600);
}

#[test]
fn the_ms_dos_read_only_attribute_gives_0444_without_a_unix_mode() {
    let work = tempfile::tempdir().unwrap();
    // Python as it runs on Windows: create_system 0 (MS-DOS), attribute bit 0 read-only.
    let script = r#"
import zipfile
with zipfile.ZipFile("out.zip", "w") as z:
    for name, attr in (("ro.txt", 0x01), ("rw.txt", 0x20)):
        info = zipfile.ZipInfo(name, (2020, 1, 2, 3, 4, 6))
        info.create_system = 0
        info.external_attr = attr
        z.writestr(info, name)
"#;
    if !tool(work.path(), "python3", &["-c", script]) {
        return;
    }
    let server = server();
    publish_build(&server, std::fs::read(work.path().join("out.zip")).unwrap());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(mode(&g.dir().join("ro.txt")), 0o444);
    assert_eq!(mode(&g.dir().join("rw.txt")), 0o644);
}

/// An archive whose classic end record has every field at its maximum (disk numbers too),
/// with the real values in the Zip64 end record, as PHPZipStreamer writes it.
fn all_ffff_end_record() -> Vec<u8> {
    let zip = build(&[Entry::file("z.txt", b"zip64 end", 0o644)]);
    let eocd = zip.len() - 22;
    assert_eq!(&zip[eocd..eocd + 4], b"PK\x05\x06");
    let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]);
    let u32_at = |i: usize| u32::from_le_bytes([zip[i], zip[i + 1], zip[i + 2], zip[i + 3]]);
    let (entries, cd_size, cd_start) = (
        u64::from(u16_at(eocd + 10)),
        u64::from(u32_at(eocd + 12)),
        u64::from(u32_at(eocd + 16)),
    );
    let mut out = zip[..eocd].to_vec();
    let record = out.len() as u64;
    out.extend(b"PK\x06\x06");
    out.extend(44u64.to_le_bytes());
    out.extend(45u16.to_le_bytes());
    out.extend(45u16.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(0u32.to_le_bytes());
    out.extend(entries.to_le_bytes());
    out.extend(entries.to_le_bytes());
    out.extend(cd_size.to_le_bytes());
    out.extend(cd_start.to_le_bytes());
    out.extend(b"PK\x06\x07");
    out.extend(0u32.to_le_bytes());
    out.extend(record.to_le_bytes());
    out.extend(1u32.to_le_bytes());
    out.extend(b"PK\x05\x06");
    out.extend([0xFF; 16]);
    out.extend(0u16.to_le_bytes());
    out
}

#[test]
fn a_zip64_end_record_behind_all_ffff_classic_fields_is_read() {
    let server = server();
    publish_build(&server, all_ffff_end_record());
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(
        std::fs::read_to_string(g.dir().join("z.txt")).unwrap(),
        "zip64 end"
    );
}

/// A one-file stored zip with the old Info-ZIP Unix extra field (0x5855: atime, mtime), as
/// macOS Archive Utility writes it, and a DOS time a year earlier.
fn old_unix_time_zip(mtime: u32) -> Vec<u8> {
    let name = b"mac.txt";
    let data = b"from a mac";
    let crc = crc32fast::hash(data);
    let mut extra = vec![0x55, 0x58, 8, 0];
    extra.extend(mtime.to_le_bytes()); // atime
    extra.extend(mtime.to_le_bytes());
    let (dos_time, dos_date) = (0u16, ((2000 - 1980) << 9 | 1 << 5 | 1) as u16);
    let mut out = Vec::new();
    out.extend(b"PK\x03\x04");
    out.extend(20u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(dos_time.to_le_bytes());
    out.extend(dos_date.to_le_bytes());
    out.extend(crc.to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend((name.len() as u16).to_le_bytes());
    out.extend((extra.len() as u16).to_le_bytes());
    out.extend(name);
    out.extend(&extra);
    out.extend(data);
    let cd_start = out.len();
    out.extend(b"PK\x01\x02");
    out.extend((0x0300u16 | 20).to_le_bytes()); // made on Unix
    out.extend(20u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out.extend(dos_time.to_le_bytes());
    out.extend(dos_date.to_le_bytes());
    out.extend(crc.to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend((data.len() as u32).to_le_bytes());
    out.extend((name.len() as u16).to_le_bytes());
    out.extend((extra.len() as u16).to_le_bytes());
    out.extend(0u16.to_le_bytes()); // comment
    out.extend(0u16.to_le_bytes()); // disk
    out.extend(0u16.to_le_bytes()); // internal
    out.extend((0o100644u32 << 16).to_le_bytes());
    out.extend(0u32.to_le_bytes()); // offset
    out.extend(name);
    out.extend(&extra);
    let cd_size = out.len() - cd_start;
    out.extend(b"PK\x05\x06");
    out.extend([0u8; 4]);
    out.extend(1u16.to_le_bytes());
    out.extend(1u16.to_le_bytes());
    out.extend((cd_size as u32).to_le_bytes());
    out.extend((cd_start as u32).to_le_bytes());
    out.extend(0u16.to_le_bytes());
    out
}

#[test]
fn the_old_info_zip_unix_time_comes_before_the_dos_time() {
    let when = 1_300_000_000u32; // 2011, where the DOS time says 2000
    let server = server();
    publish_build(&server, old_unix_time_zip(when));
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build"])
        .run()
        .success();
    assert_eq!(mtime(&g.dir().join("mac.txt")), u64::from(when));
}

/// The build job's artifacts, `zip`, fetched into `out` in a fresh working directory.
fn fetched_into_out(zip: Vec<u8>) -> crate::util::Gljob {
    let server = server();
    publish_build(&server, zip);
    let mut g = gljob(&server);
    g.args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .run()
        .success();
    g
}

#[test]
fn directories_get_their_archive_times_after_their_contents() {
    let stamp = zip::DateTime::from_date_and_time(2020, 9, 13, 12, 26, 40).unwrap();
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default().last_modified_time(stamp);
    w.add_directory("docs/", opts.unix_permissions(0o755))
        .unwrap();
    w.start_file("docs/a.txt", opts.unix_permissions(0o644))
        .unwrap();
    std::io::Write::write_all(&mut w, b"a").unwrap();
    let g = fetched_into_out(w.finish().unwrap().into_inner());
    let dos_stamp = mtime(&g.dir().join("out/docs/a.txt"));
    assert_eq!(
        mtime(&g.dir().join("out/docs")),
        dos_stamp,
        "the directory has its archive time, not the time its file was written"
    );
}

#[test]
fn nested_and_sibling_directories_each_get_their_own_time() {
    // Each directory its own minute, deeper ones between siblings: the dating pass walks
    // down and back up the tree, reusing the handles of the parents it shares.
    let dirs = ["a/", "a/b/", "a/b/c/", "a/d/", "e/"];
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (i, dir) in dirs.iter().enumerate() {
        let stamp = zip::DateTime::from_date_and_time(2021, 3, 4, 5, i as u8, 0).unwrap();
        let opts = zip::write::SimpleFileOptions::default()
            .last_modified_time(stamp)
            .unix_permissions(0o755);
        w.add_directory(*dir, opts).unwrap();
        w.start_file(format!("{dir}f.txt"), opts.unix_permissions(0o644))
            .unwrap();
        std::io::Write::write_all(&mut w, dir.as_bytes()).unwrap();
    }
    let g = fetched_into_out(w.finish().unwrap().into_inner());
    let first = mtime(&g.dir().join("out/a"));
    for (i, dir) in dirs.iter().enumerate() {
        assert_eq!(
            mtime(&g.dir().join("out").join(dir)),
            first + 60 * i as u64,
            "{dir} has its own archive time"
        );
    }
}

#[test]
fn symlinks_leaving_dest_are_refused_unless_allowed_and_never_followed() {
    let server = server();
    publish_build(
        &server,
        build(&[
            Entry::symlink("venv/bin/python3", "/usr/bin/python3"),
            Entry::symlink("venv/lib/up", "../../.."),
            Entry::file("venv/pyvenv.cfg", b"home = /usr/bin\n", 0o644),
        ]),
    );
    gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--dest", "out"])
        .fails_unchanged(8, &["absolute path", "--allow-external-symlinks"]);
    let mut g = gljob(&server);
    g.args(&[
        "fetch",
        "--ref",
        "main",
        "--job",
        "build",
        "--dest",
        "out",
        "--allow-external-symlinks",
    ])
    .run()
    .success();
    assert_eq!(
        std::fs::read_link(g.dir().join("out/venv/bin/python3")).unwrap(),
        Path::new("/usr/bin/python3")
    );
    assert_eq!(
        std::fs::read_link(g.dir().join("out/venv/lib/up")).unwrap(),
        Path::new("../../..")
    );
    // Entries below such a link are still refused: the link is never written through.
    let server = crate::util::server();
    publish_build(
        &server,
        build(&[
            Entry::symlink("out-link", "/tmp"),
            Entry::file("out-link/x", b"x", 0o644),
        ]),
    );
    gljob(&server)
        .args(&[
            "fetch",
            "--ref",
            "main",
            "--job",
            "build",
            "--allow-external-symlinks",
        ])
        .fails_unchanged(8, &["below the symlink"]);
}
