//! `fetch --file PATH`: one entry of a job's archive, to a file (`-o FILE`, or `-o DIR/`
//! for the entry's own name in DIR) or to stdout (`-o -`, the default).
//!
//! The entry is read through the archive's directory with `Range`, as `--path` reads its
//! entries (`download.rs`): the tail and the central directory, then that one entry's
//! bytes. So the file keeps the archive's mode (an executable arrives as 0755, as unzip
//! keeps it) and time, and it is checked like any fetch: the whole directory against the
//! archive rules and limits, the entry's size and CRC. GitLab's single-file routes stream
//! the bytes alone, without mode or time; they are the fallback for a server that ignores
//! `Range`, which would otherwise send the whole archive for one file.
//!
//! To a file, the bytes go to a temporary beside the target (same filesystem), renamed over
//! it when complete and verified, so the target is never half written. Missing parent
//! directories are created, as `--dest` creates its own, and removed again on failure.
//! Messages name the target, never the temporary: it is gljob's business, not the user's.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::Result;

use crate::api::Api;
use crate::archive::{self, Limits, Plan};
use crate::cli::usage;
use crate::download::{self, Remote};
use crate::error::{Failure, Kind, fail, fs_failure_for};
use crate::progress::{Progress, Section};
use crate::select::{self, Chosen};
use crate::signals;
use crate::staging::{self, TempDir};
use crate::transport::HttpError;
use crate::url::redact;
use crate::zipfmt::{self, Central, Type};

/// Where `--file` writes.
pub enum Output {
    Stdout,
    /// `target`, written through a temporary in `dir`.
    File {
        target: PathBuf,
        dir: PathBuf,
    },
}

impl Output {
    /// `-o` as given: none or `-` is stdout; an existing directory, or a path ending in `/`,
    /// gets the entry's own name in it (as `cp` does); anything else is the file itself.
    /// Decided before anything is downloaded, so a bad `-o` costs no request.
    pub fn new(arg: Option<&str>, entry: &str) -> Result<Output, Failure> {
        let arg = match arg {
            None | Some("-") => return Ok(Output::Stdout),
            Some("") => {
                return Err(usage(
                    "-o needs a file, a directory (ending in /), or - for stdout",
                ));
            }
            Some(arg) => arg,
        };
        let path = Path::new(arg);
        if arg.ends_with('/') || path.is_dir() {
            let name = entry.rsplit('/').next().unwrap_or(entry);
            return Ok(Output::File {
                target: path.join(name),
                dir: path.to_path_buf(),
            });
        }
        if path.file_name().is_none() {
            return Err(usage(&format!(
                "-o {arg:?} names no file: give a file name, or a directory ending in /"
            )));
        }
        let dir = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        Ok(Output::File {
            target: path.to_path_buf(),
            dir: dir.to_path_buf(),
        })
    }

    /// "bin/app", or "stdout", for the summary.
    pub fn shown(&self) -> String {
        match self {
            Output::Stdout => "stdout".to_string(),
            Output::File { target, .. } => target.display().to_string(),
        }
    }
}

/// What `--file` fetched, for the summary and `--json`.
pub struct Fetched {
    /// The job that served it (after a by-ref lookup found it in the jobs list, that one).
    pub chosen: Chosen,
    /// The entry's path in the archive, normalised.
    pub entry: String,
    pub bytes: u64,
    /// The permission bits it got from the archive; `None` from the single-file route.
    pub mode: Option<u32>,
    /// What the network carried.
    pub download_bytes: u64,
}

/// Fetches `entry` of `chosen`'s archive into `output`. `section` (the CI log's collapsed
/// section around the download) is ended before anything goes to stdout, so the file's
/// bytes are never hidden in it.
pub fn fetch(
    api: &Api,
    chosen: &Chosen,
    entry: &str,
    output: &Output,
    limits: &Limits,
    quiet: bool,
    section: &mut Section,
) -> Result<Fetched> {
    let wanted = archive::normalise(entry.trim_start_matches('/').as_bytes())
        .ok()
        .filter(|p| !p.is_empty())
        .ok_or_else(|| {
            usage(&format!(
                "--file {entry:?} is not a path inside an archive: use the entry's name, such as dist/app.tar.gz"
            ))
        })?;
    let temp = TempDir::new()?;
    let mut progress = Progress::new(quiet);
    let is_wanted = |p: &str| p == wanted;
    let (found, chosen) = select::with_fallback(api, chosen, |chosen| {
        let url = api.url(&chosen.archive_path());
        download::with_restarts(&api.transport, || {
            let (file, path) = temp.fresh_file("artifacts.zip")?;
            let Some(remote) =
                Remote::open_ranged(&api.transport, &url, file, &path, &mut progress)?
            else {
                return Ok(None);
            };
            let plan = archive::plan(&remote, limits, &is_wanted)?;
            let central = find(&remote, &plan, &wanted, chosen)?;
            let ranges = archive::ranges(&remote, &plan, &is_wanted)?;
            remote.fetch_ranges(&ranges, &mut progress)?;
            Ok(Some((remote, plan, central)))
        })
    })?;
    progress.clear();
    section.end();
    let Some((remote, plan, central)) = found else {
        // The server ignored Range: GitLab's single-file route sends the one entry.
        let (bytes, download_bytes) = by_single_file_route(api, &chosen, &wanted, output)?;
        return Ok(Fetched {
            chosen,
            entry: wanted,
            bytes,
            mode: None,
            download_bytes,
        });
    };
    let mode = archive::mode(&central);
    let bytes = write_entry(&remote, &plan, &central, &wanted, output)?;
    Ok(Fetched {
        chosen,
        entry: wanted,
        bytes,
        mode: Some(mode),
        download_bytes: remote.received(),
    })
}

/// The central-directory record of file `wanted`; a directory, a symlink or no such entry
/// is exit 6, saying what the archive has instead.
fn find(remote: &Remote, plan: &Plan, wanted: &str, chosen: &Chosen) -> Result<Central> {
    let below = format!("{wanted}/");
    let mut is_dir = false;
    for c in zipfmt::entries(remote, plan.dir) {
        let c = c.map_err(|why| {
            fail(
                Kind::Archive,
                format!("refused the archive: its central directory is corrupt: {why}"),
            )
        })?;
        let Some((path, kind)) = archive::judge(&c)? else {
            continue;
        };
        is_dir |= path.starts_with(&below);
        if path != wanted {
            continue;
        }
        return match kind {
            Type::File => Ok(c),
            Type::Dir => Err(directory(chosen, wanted)),
            Type::Symlink => Err(fail(
                Kind::NotFound,
                format!(
                    "{wanted:?} is a symlink in the artifacts of {}, not a file",
                    chosen.describe()
                ),
            )
            .hint(format!(
                "--path {wanted:?} --dest DIR unpacks it as the link it is; --file fetches a file's bytes"
            ))
            .into()),
        };
    }
    if is_dir {
        return Err(directory(chosen, wanted));
    }
    Err(fail(
        Kind::NotFound,
        format!("the artifacts of {} have no file {wanted:?}", chosen.describe()),
    )
    .detail(format!("entries include: {}", plan.examples.join(", ")))
    .hint("the path is the exact entry name in the archive (no leading ./); gljob fetch --list shows them")
    .into())
}

fn directory(chosen: &Chosen, wanted: &str) -> anyhow::Error {
    fail(
        Kind::NotFound,
        format!(
            "{wanted:?} is a directory in the artifacts of {}, not a file",
            chosen.describe()
        ),
    )
    .hint(format!(
        "--file fetches one file; --path {wanted:?} --dest DIR unpacks a directory"
    ))
    .into()
}

/// Unpacks the entry (its bytes have arrived) into `output`, checking its size and CRC.
fn write_entry(
    remote: &Remote,
    plan: &Plan,
    c: &Central,
    wanted: &str,
    output: &Output,
) -> Result<u64> {
    let corrupt = |why: String| {
        fail(
            Kind::Archive,
            format!("refused the archive: entry {wanted:?}: {why}"),
        )
        .hint("nothing was written; the artifact is corrupt: rerun the job that made it")
    };
    let start = zipfmt::data_start(remote, c).map_err(corrupt)?;
    if start.saturating_add(c.compressed) > plan.limit(c.offset) {
        return Err(corrupt("its data runs into the next entry".to_string()).into());
    }
    let mut reader = zipfmt::open(remote, c, start).map_err(corrupt)?;
    let mut read = |buf: &mut [u8]| reader.read(buf).map_err(|e| corrupt(e.to_string()));
    match output {
        Output::Stdout => {
            let mut stdout = std::io::stdout().lock();
            copy(&mut read, &mut stdout, None).or_else(broken_pipe_ok)
        }
        Output::File { target, dir } => write_atomically(
            target,
            dir,
            Some(archive::mode(c)),
            c.mtime,
            |file: &mut File| copy(&mut read, file, Some(target)),
        ),
    }
}

/// GitLab's single-file route: the entry's bytes alone (no mode, no time, no resume).
fn by_single_file_route(
    api: &Api,
    chosen: &Chosen,
    entry: &str,
    output: &Output,
) -> Result<(u64, u64)> {
    let url = api.url(&chosen.file_path(entry));
    let response =
        api.transport
            .get(&url, &[])
            .map_err(|e| match e.downcast_ref::<HttpError>() {
                Some(_) => chosen.explain_file(api, e, entry),
                None => e,
            })?;
    download::check_content_type(&url, &response)?;
    let expected = response.body().content_length();
    let mut reader = response.into_body().into_reader();
    let mut copied = 0u64;
    let mut read = |buf: &mut [u8]| -> Result<usize, Failure> {
        let n = reader.read(buf).map_err(|e| {
            fail(Kind::Network, format!("the download broke off after {copied} bytes: {e}"))
                .detail(format!("tried: GET {}", redact(&url)))
                .hint("retry the job; this server ignores Range, so gljob used GitLab's single-file route, which cannot be resumed")
        })?;
        copied += n as u64;
        Ok(n)
    };
    let bytes = match output {
        Output::Stdout => {
            let mut stdout = std::io::stdout().lock();
            copy(&mut read, &mut stdout, None).or_else(broken_pipe_ok)?
        }
        Output::File { target, dir } => {
            write_atomically(target, dir, None, None, |file: &mut File| {
                copy(&mut read, file, Some(target))
            })?
        }
    };
    if expected.is_some_and(|e| e != bytes) {
        return Err(fail(
            Kind::Network,
            format!(
                "the download ended after {bytes} of {} bytes",
                expected.unwrap_or(0)
            ),
        )
        .detail(format!("tried: GET {}", redact(&url)))
        .hint("retry the job")
        .into());
    }
    Ok((bytes, bytes))
}

/// Writes `target` through a temporary beside it, created in `dir` (made with its missing
/// parents): `fill` writes the bytes, then the file gets `mode` exactly (whatever the
/// umask; without one, the umask decides as for any new file) and `mtime`, is synced and
/// renamed over `target`. On failure the temporary and the directories made are removed.
fn write_atomically(
    target: &Path,
    dir: &Path,
    mode: Option<u32>,
    mtime: Option<SystemTime>,
    fill: impl FnOnce(&mut File) -> Result<u64>,
) -> Result<u64> {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let created = staging::create_dirs(dir, "-o")?;
    let temp = dir.join(format!(".{name}.gljob-{}.tmp", std::process::id()));
    signals::remove_on_signal(&temp, &created);
    // Every message names the target: the temporary is an implementation detail.
    let cannot = |what: &str, e| fs_failure_for("-o", what, target, e);
    let result = (|| -> Result<u64> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(if mode.is_some() { 0o600 } else { 0o666 })
            .open(&temp)
            .map_err(|e| cannot("cannot create", e))?;
        let written = fill(&mut file)?;
        if let Some(mode) = mode {
            file.set_permissions(fs::Permissions::from_mode(mode))
                .map_err(|e| cannot("cannot set the mode of", e))?;
        }
        if let Some(mtime) = mtime {
            let _ = file.set_modified(mtime);
        }
        file.sync_all().map_err(|e| cannot("cannot write", e))?;
        fs::rename(&temp, target).map_err(|e| cannot("cannot write", e))?;
        Ok(written)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
        for made in created.iter().rev() {
            let _ = fs::remove_dir(made);
        }
    }
    signals::forget(&temp);
    result
}

/// Copies what `read` yields into `out`, noticing signals; write errors name `target` (a
/// file behind `-o`) or are stdout's own.
fn copy(
    read: &mut impl FnMut(&mut [u8]) -> Result<usize, Failure>,
    out: &mut impl Write,
    target: Option<&Path>,
) -> Result<u64> {
    let written = |e: std::io::Error| -> anyhow::Error {
        match target {
            Some(target) => fs_failure_for("-o", "cannot write", target, e).into(),
            None => e.into(),
        }
    };
    let mut buf = vec![0u8; 128 * 1024];
    let mut copied = 0u64;
    loop {
        signals::check()?;
        let n = read(&mut buf)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(written)?;
        copied += n as u64;
    }
    out.flush().map_err(written)?;
    Ok(copied)
}

/// A closed stdout (`gljob fetch --file f | head -c 10`) is not an error.
fn broken_pipe_ok(err: anyhow::Error) -> Result<u64> {
    match err.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        _ => Err(err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(o: &Output) -> Option<(String, String)> {
        match o {
            Output::Stdout => None,
            Output::File { target, dir } => {
                Some((target.display().to_string(), dir.display().to_string()))
            }
        }
    }

    #[test]
    fn outputs_are_stdout_a_file_or_the_entry_in_a_directory() {
        let at = |arg: Option<&str>| target(&Output::new(arg, "dist/bin/app").unwrap());
        assert_eq!(at(None), None);
        assert_eq!(at(Some("-")), None);
        assert_eq!(at(Some("app")), Some(("app".into(), ".".into())));
        assert_eq!(
            at(Some("a/missing/f")),
            Some(("a/missing/f".into(), "a/missing".into()))
        );
        assert_eq!(at(Some("bin/")), Some(("bin/app".into(), "bin/".into())));
        assert_eq!(at(Some("/")), Some(("/app".into(), "/".into())));
        assert!(Output::new(Some(""), "x").is_err());
    }
}
