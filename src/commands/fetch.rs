//! `gljob fetch`: the orchestration of "which jobs?" (`select.rs`), "get the bytes"
//! (`download.rs`) and "write them" (`extract.rs`, `merge.rs`, `commit.rs`): choose the
//! jobs, download and unpack each into staging, merge them, commit all or nothing. Also one
//! file (`--file`, `single.rs`), a filter (`--path`) and a listing (`--list`). Inside GitLab
//! CI the work before the summary line is a collapsed section of the job log
//! (`progress::Section`).

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use anyhow::Result;
use serde_json::json;

use crate::api::Api;
use crate::archive::{self, Limits, Plan, Segment};
use crate::cli::{FetchArgs, usage};
use crate::commit;
use crate::config::Config;
use crate::download::{self, Remote};
use crate::error::{Failure, Kind, fail};
use crate::extract::{self, Target, Unpacked};
use crate::glob::Globs;
use crate::merge::{self, Part};
use crate::output::bytes;
use crate::progress::{Progress, Section};
use crate::select::{self, By, Chosen, Selection};
use crate::signals;
use crate::single;
use crate::staging::{Staging, TREE, TempDir};
use crate::term::{self, escape};
use crate::zipfmt::Type;

pub fn run(config: &Config, args: FetchArgs) -> Result<()> {
    // Which flags combine was decided at parsing (`cli::check`); these need the environment
    // or the file system.
    let limits = limits(&args)?;
    let selection = Selection::from_args(&args, config)?;
    let output = match &args.file {
        Some(entry) => Some(single::Output::new(args.output.as_deref(), entry)?),
        None => None,
    };
    let mut api = Api::for_fetch(config)?;
    api.transport.set_quiet(args.quiet);
    signals::install();
    let mut section = Section::start(args.quiet, &header(&args, &selection, output.as_ref()));

    if args.file.is_some() || args.list {
        let chosen = match selection.direct() {
            Some(chosen) => chosen,
            None => one(select::resolve(&api, &selection, args.quiet)?)?,
        };
        if let (Some(entry), Some(output)) = (&args.file, &output) {
            let started = std::time::Instant::now();
            let fetched = single::fetch(
                &api,
                &chosen,
                entry,
                output,
                &limits,
                args.quiet,
                &mut section,
            )?;
            return file_summary(&args, &selection, output, &fetched, started);
        }
        let globs = Globs::new(&args.path);
        return list(&api, &chosen, &limits, &globs, &args, &mut section);
    }
    unpack(&api, &selection, &args, &limits, &mut section)
}

/// The header of the job log's section (`progress::Section`): what is fetched, from where,
/// to where, in the user's terms (the jobs are not looked up yet).
fn header(args: &FetchArgs, selection: &Selection, output: Option<&single::Output>) -> String {
    let names = |jobs: &[String]| {
        let quoted: Vec<String> = jobs.iter().map(|j| format!("{j:?}")).collect();
        format!(
            "job{} {}",
            if jobs.len() == 1 { "" } else { "s" },
            quoted.join(", ")
        )
    };
    let which = match &selection.by {
        By::Id(id) => format!("job {id}"),
        By::Ref {
            git_ref,
            jobs,
            latest: false,
        } => {
            format!("{} (the newest successful one on {git_ref:?})", names(jobs))
        }
        By::Ref {
            git_ref,
            jobs,
            latest: true,
        } => {
            format!(
                "{} of the latest successful pipeline for {git_ref:?}",
                names(jobs)
            )
        }
        By::Pipeline {
            id, children, jobs, ..
        } => {
            let children: String = children.iter().map(|c| format!(", child {c:?}")).collect();
            format!("{} of pipeline {id}{children}", names(jobs))
        }
    };
    let what = match (&args.file, args.list) {
        (Some(entry), _) => format!("fetching {entry:?} from the artifacts of"),
        (None, true) => "listing the artifacts of".to_string(),
        (None, false) => "fetching the artifacts of".to_string(),
    };
    let to = match (output, args.list) {
        (Some(output), _) => format!(" to {}", output.shown()),
        (None, true) => String::new(),
        (None, false) => format!(" into {}", args.dest.as_deref().unwrap_or(".")),
    };
    format!("gljob: {what} {which} in project {}{to}", selection.project)
}

/// The summary of `--file`: a line on stderr, and with `--json` (only to a file: stdout is
/// the file's otherwise) the same as JSON on stdout.
fn file_summary(
    args: &FetchArgs,
    selection: &Selection,
    output: &single::Output,
    fetched: &single::Fetched,
    started: std::time::Instant,
) -> Result<()> {
    let seconds = started.elapsed().as_secs_f64();
    let mode = fetched.mode.map(|m| format!("{m:o}"));
    if args.json {
        let summary = json!({
            "project": selection.project,
            "jobs": [fetched.chosen.json()],
            "file": fetched.entry, "bytes": fetched.bytes, "mode": mode,
            "download_bytes": fetched.download_bytes,
            "seconds": (seconds * 1000.0).round() / 1000.0, "output": output.shown(),
        });
        term::stdout(format!("{summary}\n").as_bytes())?;
    }
    if !args.quiet {
        let mode = mode.map(|m| format!(", mode {m}")).unwrap_or_default();
        term::stderr(&format!(
            "gljob: fetched {} ({}{mode}) from {} to {} in {seconds:.1} s\n",
            escape(&fetched.entry),
            bytes(fetched.bytes),
            escape(&fetched.chosen.describe()),
            escape(&output.shown()),
        ));
    }
    Ok(())
}

/// The one job `--file` and `--list` need.
fn one(mut jobs: Vec<Chosen>) -> Result<Chosen> {
    if jobs.len() == 1 {
        return Ok(jobs.remove(0));
    }
    Err(usage(&format!(
        "--file and --list take one job, and the selection matches {}: {}",
        jobs.len(),
        jobs.iter()
            .filter_map(|j| j.name.as_deref())
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    ))
    .into())
}

fn limits(args: &FetchArgs) -> Result<Limits, Failure> {
    let mut limits = Limits::default();
    if let Some(size) = &args.max_bytes {
        limits.max_bytes = parse_size(size).ok_or_else(|| {
            usage(&format!(
                "--max-bytes {size:?}: use a size like 500M, 40G or 1T"
            ))
        })?;
    }
    if let Some(n) = args.max_entries {
        limits.max_entries = n;
    }
    if let Some(n) = args.max_ratio {
        limits.max_ratio = n;
    }
    if let Some(n) = args.max_depth {
        limits.max_depth = n;
    }
    limits.external_links = args.allow_external_symlinks;
    Ok(limits)
}

/// `123`, `500K`, `40G`, `1T` (binary units, an optional `iB`/`B`).
fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim().trim_end_matches("iB").trim_end_matches('B');
    let (digits, shift) = match t.char_indices().last()? {
        (i, 'K' | 'k') => (&t[..i], 10),
        (i, 'M' | 'm') => (&t[..i], 20),
        (i, 'G' | 'g') => (&t[..i], 30),
        (i, 'T' | 't') => (&t[..i], 40),
        _ => (t, 0),
    };
    digits.parse::<u64>().ok()?.checked_mul(1 << shift)
}

/// The temporary archive's name in the staging directory.
const ARCHIVE: &str = "artifacts.zip";

/// The whole fetch: choose the jobs, download and unpack each into staging (a few at a
/// time), merge them, commit.
fn unpack(
    api: &Api,
    selection: &Selection,
    args: &FetchArgs,
    limits: &Limits,
    section: &mut Section,
) -> Result<()> {
    let dest = PathBuf::from(args.dest.as_deref().unwrap_or("."));
    let globs = Globs::new(&args.path);
    let started = std::time::Instant::now();
    let jobs = match selection.direct() {
        Some(chosen) => vec![chosen],
        None => select::resolve(api, selection, args.quiet)?,
    };
    let mut staging = Staging::new(&dest, commit::recover)?;
    let job = Job {
        api,
        staging: &staging,
        globs: &globs,
        path_args: &args.path,
        limits,
        quiet: args.quiet,
        planned: Mutex::new(HashMap::new()),
    };
    let (jobs, written) = match job.all(&jobs, args.per_job) {
        Err((i, e)) if jobs.len() == 1 && jobs[i].is_missing_by_ref(&e) => {
            // The by-ref route does not know it: the jobs list may (an older GitLab, or a
            // job missing from the newest pipeline). Start again with what it finds.
            let found = select::fallback(api, &jobs[i], e)?;
            for name in [TREE.to_string(), tree_name(0)] {
                staging.remove(&name)?;
            }
            let written = job
                .all(&found, args.per_job)
                .map_err(|(i, e)| explained(api, &found, i, e))?;
            (found, written)
        }
        Err((i, e)) => return Err(explained(api, &jobs, i, e)),
        Ok(written) => (jobs, written),
    };
    commit::commit(&mut staging)?;
    drop(staging);
    section.end();
    warn_unmatched(&globs, args.quiet);

    let seconds = started.elapsed().as_secs_f64();
    if args.json {
        let summary = json!({
            "project": selection.project,
            "jobs": jobs.iter().map(Chosen::json).collect::<Vec<_>>(),
            "files": written.files, "bytes": written.bytes, "download_bytes": written.download_bytes,
            "seconds": (seconds * 1000.0).round() / 1000.0, "destination": dest.display().to_string(),
        });
        term::stdout(format!("{summary}\n").as_bytes())?;
    }
    if !args.quiet {
        let from = match jobs.as_slice() {
            [one] => one.describe(),
            many => format!(
                "{} jobs ({}) in project {}",
                many.len(),
                many.iter()
                    .map(|j| j.name.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join(", "),
                selection.project
            ),
        };
        term::stderr(&format!(
            "gljob: fetched {} from {} into {} in {seconds:.1} s\n",
            count(written.files, "file", &bytes(written.bytes)),
            escape(&from),
            escape(&dest.display().to_string()),
        ));
    }
    Ok(())
}

/// A job's failure explained; among several jobs, naming the job.
fn explained(api: &Api, jobs: &[Chosen], i: usize, err: anyhow::Error) -> anyhow::Error {
    let err = jobs[i].explain(api, err);
    if jobs.len() > 1 {
        err.context(format!("fetching {}", jobs[i].describe()))
    } else {
        err
    }
}

/// "1 file (12 B)", "3 files (1.2 MiB)".
fn count(n: u64, what: &str, size: &str) -> String {
    format!("{n} {what}{} ({size})", if n == 1 { "" } else { "s" })
}

/// What a fetch wrote and downloaded, over all its jobs.
#[derive(Default)]
struct Written {
    files: u64,
    bytes: u64,
    download_bytes: u64,
}

/// Jobs downloaded and unpacked at the same time: enough to overlap the requests' latency,
/// few enough that memory stays flat however many jobs a fan-in names.
const CONCURRENT_JOBS: usize = 3;

fn tree_name(i: usize) -> String {
    format!("{TREE}-{i}")
}

/// Everything one fetch's jobs share.
struct Job<'a> {
    api: &'a Api,
    staging: &'a Staging,
    globs: &'a Globs,
    path_args: &'a [String],
    limits: &'a Limits,
    quiet: bool,
    /// Bytes and entries planned per job (by tree): the limits hold for the merge too. A
    /// job that starts over replaces its own figures.
    planned: Mutex<HashMap<String, (u64, u64)>>,
}

impl Job<'_> {
    /// Downloads and unpacks every job, [`CONCURRENT_JOBS`] at a time, then makes the one
    /// tree the commit moves: a single job's directly, several merged (or one directory
    /// each with `--per-job`). The error says which job failed (unexplained).
    fn all(&self, jobs: &[Chosen], per_job: bool) -> Result<Written, (usize, anyhow::Error)> {
        if jobs.len() == 1 && !per_job {
            let (unpacked, download) = self.one(&jobs[0], TREE, !self.quiet).map_err(|e| (0, e))?;
            return Ok(Written {
                files: unpacked.files,
                bytes: unpacked.bytes,
                download_bytes: download,
            });
        }
        let next = std::sync::atomic::AtomicUsize::new(0);
        let failed = std::sync::atomic::AtomicBool::new(false);
        let results: Vec<(usize, Result<(Unpacked, u64)>)> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..CONCURRENT_JOBS.min(jobs.len()))
                .map(|_| {
                    scope.spawn(|| {
                        let mut done = Vec::new();
                        loop {
                            let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                            if i >= jobs.len() || failed.load(std::sync::atomic::Ordering::SeqCst) {
                                return done;
                            }
                            let result = self.one(&jobs[i], &tree_name(i), false);
                            match &result {
                                Err(_) => failed.store(true, std::sync::atomic::Ordering::SeqCst),
                                Ok((u, _)) if !self.quiet => term::stderr(&format!(
                                    "gljob: {}: {}\n",
                                    escape(&jobs[i].describe()),
                                    count(u.files, "file", &bytes(u.bytes))
                                )),
                                Ok(_) => {}
                            }
                            done.push((i, result));
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let mut written = Written::default();
        let mut first_error: Option<(usize, anyhow::Error)> = None;
        for (i, result) in results {
            match result {
                Ok((u, download)) => {
                    written.files += u.files;
                    written.bytes += u.bytes;
                    written.download_bytes += download;
                }
                Err(e) if first_error.as_ref().is_none_or(|(j, _)| i < *j) => {
                    first_error = Some((i, e))
                }
                Err(_) => {}
            }
        }
        if let Some(failure) = first_error {
            return Err(failure);
        }
        let mut names: Vec<String> = Vec::new();
        let parts: Vec<Part> = jobs
            .iter()
            .enumerate()
            .map(|(i, job)| {
                let dir = per_job.then(|| {
                    let mut name = job.dir_name();
                    if names.contains(&name) {
                        name = format!("{name} ({})", job.id.unwrap_or(i as u64));
                    }
                    names.push(name.clone());
                    name
                });
                Part {
                    tree: tree_name(i),
                    label: job.describe(),
                    dir,
                }
            })
            .collect();
        merge::merge(self.staging, &parts, self.limits.external_links).map_err(|e| (0, e))?;
        Ok(written)
    }

    /// Counts a job's plan against the limits of the whole fetch (each archive is within
    /// them alone; ten of them together need not be).
    fn budget(&self, tree: &str, plan: &Plan) -> Result<(), Failure> {
        let (bytes, entries) = {
            let mut planned = self.planned.lock().unwrap_or_else(|p| p.into_inner());
            planned.insert(tree.to_string(), (plan.bytes, plan.dir.entries));
            planned.values().fold((0u64, 0u64), |(b, e), (pb, pe)| {
                (b.saturating_add(*pb), e.saturating_add(*pe))
            })
        };
        if bytes > self.limits.max_bytes {
            return Err(archive::limit_failure(
                format!(
                    "the jobs together unpack {bytes} bytes, more than the limit of {}",
                    self.limits.max_bytes
                ),
                "--max-bytes",
            ));
        }
        if entries > self.limits.max_entries {
            return Err(archive::limit_failure(
                format!(
                    "the jobs together hold {entries} entries, more than the limit of {}",
                    self.limits.max_entries
                ),
                "--max-entries",
            ));
        }
        Ok(())
    }

    /// One job: download into `artifacts-TREE.zip`, plan, unpack into `tree`.
    fn one(&self, chosen: &Chosen, tree: &str, show: bool) -> Result<(Unpacked, u64)> {
        let staging = self.staging;
        let url = self.api.url(&chosen.archive_path());
        let archive = format!("{tree}.zip");
        let keep = |p: &str| self.globs.keep(p);
        let mut progress = Progress::new(!show);
        let result = download::with_restarts(&self.api.transport, || {
            staging.remove(&archive)?;
            staging.remove(tree)?;
            let file = staging.create_file(&archive)?;
            let remote = Remote::open(
                &self.api.transport,
                &url,
                file,
                &staging.root_path.join(&archive),
                &mut progress,
            )?;
            let plan = archive::plan(&remote, self.limits, &keep)?;
            if !self.globs.is_empty() && plan.files == 0 {
                return Err(no_match(self.path_args, &plan.examples).into());
            }
            self.budget(tree, &plan)?;
            let tree_path = staging.root_path.join(tree);
            let target = Target {
                root: &staging.root,
                tree,
                tree_path: &tree_path,
                dest: &staging.dest,
            };
            let written = if remote.complete() || !plan.ordered {
                // The whole archive is on disk (a server without Range support), or its
                // entries' data is out of directory order, so segments are not ranges:
                // download it, and unpack from the file as it arrives.
                unpack_from_file(
                    &remote,
                    &plan,
                    &keep,
                    !self.globs.is_empty(),
                    &target,
                    &mut progress,
                )?
            } else {
                // Each worker streams its segments' bytes straight into their files.
                let total =
                    remote.received() + plan.segments.iter().map(|s| s.end - s.start).sum::<u64>();
                let open = |s: &Segment| -> Box<dyn extract::Data + '_> {
                    Box::new(remote.stream(s.start, s.end))
                };
                extract::unpack(
                    &remote,
                    Some(&open),
                    &plan,
                    &keep,
                    &target,
                    WORKERS,
                    &mut || progress.update(remote.received(), Some(total)),
                )?
            };
            Ok((written, remote.received()))
        });
        progress.clear();
        // The archive is not needed once its entries are unpacked.
        let _ = staging.remove(&archive);
        result
    }
}

/// Unpacking threads: file creation dominates many-file archives, and two threads on two
/// cores cut it nearly in half; more did not help (measured for issue 6).
const WORKERS: usize = 2;

/// Unpacks from the temporary archive: with no `--path`, while the rest of it downloads on
/// one thread; with one, after the selected entries' ranges have arrived.
fn unpack_from_file(
    remote: &Remote,
    plan: &Plan,
    keep: &(dyn Fn(&str) -> bool + Sync),
    filtered: bool,
    target: &Target,
    progress: &mut Progress,
) -> Result<Unpacked> {
    if filtered {
        let ranges = archive::ranges(remote, plan, keep)?;
        remote.fetch_ranges(&ranges, progress)?;
        return extract::unpack(remote, None, plan, keep, target, WORKERS, &mut || {});
    }
    std::thread::scope(|scope| {
        remote.will_fill();
        let filler = scope.spawn(|| remote.fill(0, plan.dir.start, progress));
        let unpacked = extract::unpack(remote, None, plan, keep, target, WORKERS, &mut || {});
        if unpacked.is_err() {
            remote.cancel();
        }
        let filled = filler
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the download thread panicked")));
        match (filled, unpacked) {
            // The download's own failure explains more than the readers' it starved.
            (Err(e), _) if !download::is_cancelled(&e) => Err(e),
            (_, unpacked) => unpacked,
        }
    })
}

/// A `--path` that matched nothing while the others matched: a typo the fetch would
/// otherwise pass over in silence. (Nothing matched at all is exit 6, [`no_match`].)
fn warn_unmatched(globs: &Globs, quiet: bool) {
    if quiet {
        return;
    }
    for glob in globs.unmatched() {
        term::stderr(&format!(
            "gljob: warning: --path {} matched no entry (the other --path globs did)\n",
            escape(&format!("{glob:?}"))
        ));
    }
}

/// `--path` matched nothing: name the globs and a few entries that exist.
fn no_match(globs: &[String], examples: &[String]) -> Failure {
    fail(Kind::NotFound, format!("--path {} matched no entry of the archive", globs.join(" --path ")))
        .detail(format!("entries include: {}", examples.join(", ")))
        .hint("globs match archive paths: dist/** for a tree, *.xml for a name at any depth; --list shows every entry")
}

/// `--list`: the entries with mode, size and path (those `--path` selects, if given);
/// `--json` for scripts. Writes nothing to the workspace: the archive goes to a temporary
/// directory that is always removed. The whole archive is checked like any other, so a
/// hostile one is refused here too.
fn list(
    api: &Api,
    chosen: &Chosen,
    limits: &Limits,
    globs: &Globs,
    args: &FetchArgs,
    section: &mut Section,
) -> Result<()> {
    let temp = TempDir::new()?;
    let mut progress = Progress::new(args.quiet);
    let ((archive, plan), _) = select::with_fallback(api, chosen, |chosen| {
        let url = api.url(&chosen.archive_path());
        download::with_restarts(&api.transport, || {
            let (file, path) = temp.fresh_file(ARCHIVE)?;
            let archive = Remote::open(&api.transport, &url, file, &path, &mut progress)?;
            let plan = archive::plan(&archive, limits, &|p: &str| globs.keep(p))?;
            if !globs.is_empty() && plan.files == 0 {
                return Err(no_match(&args.path, &plan.examples).into());
            }
            // Only symlinks need their data (the target) to be listed.
            let links =
                archive::ranges(&archive, &plan, &|p: &str| plan.is_link(p) && globs.keep(p))?;
            archive.fetch_ranges(&links, &mut progress)?;
            Ok((archive, plan))
        })
    })?;
    progress.clear();
    section.end();
    let json = args.json;
    let mut out = std::io::BufWriter::new(Vec::new());
    if json {
        out.write_all(b"[")?;
    }
    let mut first = true;
    let mut listing = crate::zipfmt::entries(&archive, plan.dir);
    for c in listing.by_ref() {
        let c = c.map_err(|why| fail(Kind::Archive, format!("refused the archive: {why}")))?;
        let Some((path, kind)) = archive::judge(&c)? else {
            continue;
        };
        if !globs.keep(&path) {
            continue;
        }
        let mode = archive::mode(&c);
        let target = match kind {
            Type::Symlink => Some(archive::link_target(&archive, &c, &path, &plan)?),
            _ => None,
        };
        if json {
            let kind = match kind {
                Type::File => "file",
                Type::Dir => "directory",
                Type::Symlink => "symlink",
            };
            let item = json!({"path": path, "type": kind, "size": c.size, "mode": format!("{mode:o}"), "target": target});
            write!(out, "{}{item}", if first { "" } else { "," })?;
        } else {
            let (mark, suffix) = match kind {
                Type::File => ('-', String::new()),
                Type::Dir => ('d', "/".to_string()),
                Type::Symlink => (
                    'l',
                    format!(" -> {}", escape(target.as_deref().unwrap_or("?"))),
                ),
            };
            writeln!(
                out,
                "{mark}{mode:o} {:>12} {}{suffix}",
                c.size,
                escape(&path)
            )?;
        }
        first = false;
    }
    archive::check_same(&listing, plan.dir_end)?;
    if json {
        out.write_all(b"]\n")?;
    }
    term::stdout(&out.into_inner()?)?;
    warn_unmatched(globs, args.quiet);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("500M"), Some(500 << 20));
        assert_eq!(parse_size("40GiB"), Some(40 << 30));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("lots"), None);
    }
}
