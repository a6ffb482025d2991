//! Destinations whose names are not byte-exact (issue 11, class 2): DEST on a real
//! case-insensitive filesystem, where `UP` is `up`. The archive rules compare names byte for
//! byte; these archives pass them and are refused only because gljob asks the filesystem
//! (parent handles opened without following links, files with `O_EXCL`, link targets
//! resolved on disk).
//!
//! The filesystem is `tests/fixtures/cifs.py`, a case-folding FUSE passthrough (CI's
//! kernel has neither vfat nor ext4 casefold). Without root, `/dev/fuse` or Debian's
//! `python3-fusepy` the tests print `skipping: …` and pass — unless
//! `GLJOB_REQUIRE_CASEFOLD=1` (set by `.ci/run`), where they fail instead.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fake_gitlab::zips::{Entry, RawEntry, build, raw_zip};

use crate::util::{Run, assert_no_temp, gljob, publish_build, server, snapshot};

const PYTHON: &str = "/usr/bin/python3";
/// gljob's refusals when the filesystem finds one entry under another's name.
const BELOW: &str = "lies below a symlink or a file on this filesystem";
const COLLIDES: &str = "collides with another entry on this filesystem";

/// `tests/fixtures/cifs.py` mounted over a temporary directory; unmounted when dropped.
struct CaseFold {
    /// The mount point.
    mnt: PathBuf,
    daemon: Child,
    /// The daemon's stdout and stderr (it prints nothing unless something fails).
    log: PathBuf,
    /// Holds the backing directory and the mount point; dropped after the unmount.
    _dir: tempfile::TempDir,
}

impl CaseFold {
    /// Mounts the filesystem, or says on stderr why it cannot and returns `None` (a panic
    /// with `GLJOB_REQUIRE_CASEFOLD=1`, so CI cannot skip silently).
    fn mount() -> Option<CaseFold> {
        match CaseFold::try_mount() {
            Ok(mount) => Some(mount),
            Err(why) if std::env::var("GLJOB_REQUIRE_CASEFOLD").as_deref() == Ok("1") => {
                panic!("GLJOB_REQUIRE_CASEFOLD=1, but no case-insensitive filesystem: {why}")
            }
            Err(why) => {
                eprintln!("skipping: no case-insensitive filesystem to test on: {why}");
                None
            }
        }
    }

    fn try_mount() -> Result<CaseFold, String> {
        let status = fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        let euid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1));
        if euid != Some("0") {
            return Err("not root (libfuse mounts without fusermount only as root)".into());
        }
        if !Path::new("/dev/fuse").exists() {
            return Err("no /dev/fuse".into());
        }
        let fusepy = Command::new(PYTHON)
            .args(["-c", "try: import fusepy\nexcept ImportError: import fuse"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !fusepy.is_ok_and(|s| s.success()) {
            return Err(format!(
                "no {PYTHON} with fusepy (apt-get install python3-fusepy libfuse2)"
            ));
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let (backing, mnt, log) = (
            dir.path().join("backing"),
            dir.path().join("mnt"),
            dir.path().join("cifs.log"),
        );
        fs::create_dir(&backing).map_err(|e| e.to_string())?;
        fs::create_dir(&mnt).map_err(|e| e.to_string())?;
        // As the mount table spells it (TMPDIR may be reached through a link).
        let mnt = fs::canonicalize(&mnt).map_err(|e| e.to_string())?;
        let out = fs::File::create(&log).map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let daemon = Command::new(PYTHON)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cifs.py"))
            .arg(&backing)
            .arg(&mnt)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| format!("cannot start cifs.py: {e}"))?;
        // From here on, dropping `mount` unmounts and ends the daemon.
        let mut mount = CaseFold {
            mnt,
            daemon,
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !mount.mounted() {
            if let Ok(Some(status)) = mount.daemon.try_wait() {
                return Err(format!(
                    "cifs.py ended ({status}) before mounting: {}",
                    mount.log()
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "cifs.py did not mount within 10 s: {}",
                    mount.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // Proof that it folds case before any test relies on it.
        let probe = mount.mnt.join("Probe");
        fs::write(&probe, "probe").map_err(|e| format!("cannot write on the mount: {e}"))?;
        let folded = fs::read(mount.mnt.join("PROBE")).is_ok_and(|b| b == b"probe")
            && fs::write(mount.mnt.join("pRoBe"), "again").is_ok()
            && fs::read_dir(&mount.mnt).map_or(0, |d| d.count()) == 1;
        fs::remove_file(mount.mnt.join("PROBE")).map_err(|e| e.to_string())?;
        if !folded {
            return Err(format!("the mount does not fold case: {}", mount.log()));
        }
        Ok(mount)
    }

    /// Whether the mount point is in this process's mount table.
    fn mounted(&self) -> bool {
        let Ok(table) = fs::read_to_string("/proc/self/mountinfo") else {
            return false;
        };
        let mnt = self.mnt.to_str();
        table
            .lines()
            .any(|l| l.split(' ').nth(4) == mnt && l.contains(" - fuse"))
    }

    fn log(&self) -> String {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        if text.trim().is_empty() {
            "(it printed nothing)".into()
        } else {
            text
        }
    }

    fn root(&self) -> &Path {
        &self.mnt
    }
}

impl Drop for CaseFold {
    fn drop(&mut self) {
        for args in [&["umount"][..], &["umount", "-l"]] {
            if !self.mounted() {
                break;
            }
            let _ = Command::new(args[0])
                .args(&args[1..])
                .arg(&self.mnt)
                .stderr(Stdio::null())
                .status();
        }
        // The daemon ends with its mount; a bounded wait, then it is killed.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.daemon.try_wait().is_ok_and(|s| s.is_none()) {
            if Instant::now() > deadline {
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A destination on the mount, `dest/`, holding a file of the user's, and `canary/` next to
/// it (outside DEST), which no archive may reach.
struct Place {
    mount: CaseFold,
    dest: PathBuf,
    canary: PathBuf,
}

fn place() -> Option<Place> {
    let mount = CaseFold::mount()?;
    let dest = mount.root().join("dest");
    let canary = mount.root().join("canary");
    fs::create_dir(&dest).unwrap();
    fs::write(dest.join("mine.txt"), "the user's").unwrap();
    fs::create_dir(&canary).unwrap();
    fs::write(canary.join("keep.txt"), "outside DEST").unwrap();
    Some(Place {
        mount,
        dest,
        canary,
    })
}

impl Place {
    /// Fetches `archive` into DEST.
    fn fetch(&self, archive: Vec<u8>) -> Run {
        let server = server();
        publish_build(&server, archive);
        let mut g = gljob(&server);
        g.args(&["fetch", "--ref", "main", "--job", "build", "--dest"])
            .arg(self.dest.to_str().unwrap())
            .run()
    }

    /// Fetches `archive` and checks that it is refused (exit 8, a message with each of
    /// `needles`) with nothing changed anywhere on the mount — DEST, the canary — and no
    /// staging left.
    fn refused(&self, archive: Vec<u8>, needles: &[&str]) {
        let before = snapshot(self.mount.root());
        let run = self.fetch(archive);
        run.code(8).stderr_has(needles);
        assert_eq!(
            snapshot(self.mount.root()),
            before,
            "a refused archive changed the mount\n{run}"
        );
        assert_no_temp(self.mount.root());
    }
}

/// `d/UP` is a link and `d/up/x.txt` a file below a directory: distinct names byte for
/// byte, but here `d/up` *is* the link, and writing `x.txt` would follow it.
#[test]
fn an_entry_below_a_symlink_under_another_spelling() {
    let Some(p) = place() else { return };
    p.refused(
        raw_zip(&[
            RawEntry::symlink("d/UP", ".."),
            RawEntry::file("d/up/x.txt", b"x"),
        ]),
        &["\"d/up/x.txt\"", BELOW],
    );
}

/// Links that each stay inside DEST as text, chained through other spellings of their
/// names so that the last one is the directory above DEST — the canary's — and an entry
/// below it writes there (`a/o/canary/pwned` is `canary/pwned`). Byte-exact rules see four
/// links and one file below a directory `a/o`.
#[test]
fn a_write_through_a_chain_of_folded_links_that_leaves_dest() {
    let Some(p) = place() else { return };
    p.refused(
        raw_zip(&[
            RawEntry::symlink("a/L", ".."),
            RawEntry::symlink("a/M", "l/.."),
            RawEntry::symlink("a/N", "m/.."),
            RawEntry::symlink("a/O", "n/.."),
            RawEntry::file("a/o/canary/pwned", b"pwned"),
        ]),
        &[BELOW],
    );
    assert!(!p.canary.join("pwned").exists());
}

/// `a/L -> ..` is DEST's root; `a/m -> l/..` resolves, byte for byte, through no link (there
/// is no `a/l`), but here `a/l` is `a/L`, so `a/m` is DEST's parent.
#[test]
fn a_link_chain_under_another_spelling() {
    let Some(p) = place() else { return };
    p.refused(
        raw_zip(&[
            RawEntry::symlink("a/L", ".."),
            RawEntry::symlink("a/m", "l/.."),
        ]),
        &["\"a/m\"", "resolves through another symlink"],
    );
}

/// Names that are one name here: refused whole, not one written over the other.
#[test]
fn names_that_collide_only_when_folded() {
    let Some(p) = place() else { return };
    p.refused(
        raw_zip(&[
            RawEntry::file("README", b"upper"),
            RawEntry::file("readme", b"lower"),
        ]),
        &["\"readme\"", COLLIDES, "the same name as \"README\""],
    );
    // Unicode normalisation: `é` precomposed and as `e` + combining acute.
    p.refused(
        raw_zip(&[
            RawEntry::file("caf\u{e9}.txt", b"nfc"),
            RawEntry::file("cafe\u{301}.txt", b"nfd"),
        ]),
        &[COLLIDES],
    );
    // Directories under two spellings are one directory; their files still collide.
    p.refused(
        raw_zip(&[
            RawEntry::file("Docs/guide.md", b"1"),
            RawEntry::file("docs/GUIDE.md", b"2"),
        ]),
        &["\"docs/GUIDE.md\"", COLLIDES],
    );
    // A file and, under another spelling, a directory with something in it.
    p.refused(
        raw_zip(&[
            RawEntry::file("Build", b"a file"),
            RawEntry::file("build/x", b"x"),
        ]),
        &["\"build/x\"", BELOW],
    );
}

/// The user's own link in DEST, `Out -> ../canary`, named by the archive as `OUT` and `out`.
#[test]
fn a_symlink_the_destination_holds_under_another_spelling() {
    let Some(p) = place() else { return };
    std::os::unix::fs::symlink("../canary", p.dest.join("Out")).unwrap();
    let canary = snapshot(&p.canary);
    p.refused(
        raw_zip(&[RawEntry::file("OUT/x", b"x")]),
        &[
            "refused to write through the symlink",
            "for its symlink \"Out\"",
        ],
    );
    p.refused(
        raw_zip(&[RawEntry::symlink("lnk", "out/..")]),
        &["\"lnk\"", "resolves through another symlink"],
    );
    assert_eq!(snapshot(&p.canary), canary, "something reached the canary");
}

/// An honest archive with mixed-case names that do not collide, and a link, fetched onto
/// the mount (and again over itself: every file replaced, by renames without
/// `RENAME_NOREPLACE`, which this FUSE filesystem does not have).
#[test]
fn an_honest_mixed_case_archive_fetches_byte_identical() {
    let Some(p) = place() else { return };
    let files: &[(&str, &[u8], u32)] = &[
        ("Makefile", b"all:\n\tcargo build\n", 0o644),
        ("README.md", b"# Read me\n", 0o644),
        ("src/Main.rs", b"fn main() {}\n", 0o644),
        ("src/lib.rs", b"pub fn f() {}\n", 0o644),
        ("Include/Config.h", b"#define X 1\n", 0o600),
        ("bin/Tool", b"#!/bin/sh\necho tool\n", 0o755),
        ("Docs/Guide.md", &[0xAB; 70_000], 0o644),
    ];
    let mut entries = vec![Entry::dir("Docs/")];
    entries.extend(files.iter().map(|(n, d, m)| Entry::file(n, d, *m)));
    entries.push(Entry::symlink("Latest", "src/Main.rs"));
    let archive = build(&entries);
    let canary = snapshot(&p.canary);
    for round in ["first fetch", "the same fetch again, over it"] {
        let run = p.fetch(archive.clone());
        run.success();
        for (name, data, mode) in files {
            let path = p.dest.join(name);
            assert_eq!(fs::read(&path).unwrap(), *data, "{round}: {name}\n{run}");
            let meta = fs::symlink_metadata(&path).unwrap();
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(meta.permissions().mode() & 0o777, *mode, "{round}: {name}");
        }
        assert_eq!(
            fs::read_link(p.dest.join("Latest")).unwrap(),
            Path::new("src/Main.rs")
        );
        // Names keep the spelling of the archive, and any spelling finds them.
        let mut top: Vec<String> = fs::read_dir(&p.dest)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        top.sort();
        let expected = "Docs Include Latest Makefile README.md bin mine.txt src";
        assert_eq!(top.join(" "), expected, "{round}\n{run}");
        assert_eq!(
            fs::read(p.dest.join("SRC/MAIN.RS")).unwrap(),
            b"fn main() {}\n"
        );
        assert_eq!(fs::read(p.dest.join("mine.txt")).unwrap(), b"the user's");
        assert_no_temp(p.mount.root());
        assert_eq!(snapshot(&p.canary), canary);
    }
}
