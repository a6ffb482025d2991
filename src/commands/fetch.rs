//! `gljob fetch`: choose a job, download its artifacts archive, unpack it all or nothing.
//! Also one file (`--file`, GitLab's single-file routes), a filter (`--path`) and a listing
//! (`--list`).

use std::fs::{self, File};
use std::io::{Read, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use anyhow::Result;
use serde_json::json;

use crate::api::Api;
use crate::archive::{self, Limits, Plan};
use crate::cli::{FetchArgs, usage};
use crate::commit;
use crate::config::Config;
use crate::download::{self, Remote};
use crate::error::{Failure, Kind, fail, fs_failure};
use crate::extract::{self, Target, Unpacked};
use crate::glob::Globs;
use crate::output::bytes;
use crate::progress::Progress;
use crate::signals;
use crate::staging::{Staging, TREE};
use crate::term::{self, escape};
use crate::transport::{HttpError, TOKEN_HINT};
use crate::zipfmt::Type;

/// Which job's artifacts, in which project.
struct Selection {
    project: String,
    by: By,
}

enum By {
    Ref { git_ref: String, job: String },
    Id(u64),
}

impl Selection {
    fn from_args(args: &FetchArgs, config: &Config) -> Result<Selection, Failure> {
        let by = match (&args.git_ref, &args.job, args.job_id) {
            (Some(r), Some(j), None) => By::Ref {
                git_ref: r.clone(),
                job: j.clone(),
            },
            (None, None, Some(id)) => By::Id(id),
            (_, _, Some(_)) => {
                return Err(usage("--job-id cannot be combined with --ref or --job"));
            }
            (Some(_), None, None) => {
                return Err(usage(
                    "--ref needs --job NAME (the job whose artifacts to fetch)",
                ));
            }
            (None, Some(_), None) => {
                return Err(usage(
                    "--job needs --ref REF (the branch or tag whose latest successful pipeline ran it)",
                ));
            }
            (None, None, None) => {
                return Err(usage(
                    "choose the job: --ref REF --job NAME, or --job-id ID",
                ));
            }
        };
        let project = match args
            .project
            .clone()
            .filter(|p| !p.is_empty())
            .or_else(|| config.project_id.clone())
        {
            Some(p) => p.trim_matches('/').to_string(),
            None => {
                return Err(fail(Kind::Config, "no project: --project is not given and CI_PROJECT_ID is not set")
                    .hint("pass --project group/project (or its numeric id); inside a CI job GitLab sets CI_PROJECT_ID"));
            }
        };
        Ok(Selection { project, by })
    }

    /// `/projects/:id/jobs/…`, the common prefix of every artifact route.
    fn jobs_path(&self) -> String {
        format!("/projects/{}/jobs", encode(&self.project))
    }

    fn archive_path(&self) -> String {
        match &self.by {
            By::Ref { git_ref, job } => format!(
                "{}/artifacts/{}/download?job={}",
                self.jobs_path(),
                encode(git_ref),
                encode(job)
            ),
            By::Id(id) => format!("{}/{id}/artifacts", self.jobs_path()),
        }
    }

    /// GitLab's single-file routes; the entry path keeps its slashes.
    fn file_path(&self, entry: &str) -> String {
        let entry: Vec<String> = entry
            .trim_start_matches('/')
            .split('/')
            .map(encode)
            .collect();
        let entry = entry.join("/");
        match &self.by {
            By::Ref { git_ref, job } => format!(
                "{}/artifacts/{}/raw/{entry}?job={}",
                self.jobs_path(),
                encode(git_ref),
                encode(job)
            ),
            By::Id(id) => format!("{}/{id}/artifacts/{entry}", self.jobs_path()),
        }
    }

    /// "job build on ref main in group/app", for messages.
    fn describe(&self) -> String {
        match &self.by {
            By::Ref { git_ref, job } => format!(
                "job {job:?} of the latest successful pipeline for {git_ref:?} in project {}",
                self.project
            ),
            By::Id(id) => format!("job {id} in project {}", self.project),
        }
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: slashes in project paths
/// and refs, spaces, `#`, `?`, `%`, `+` and non-ASCII in job names.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub fn run(config: &Config, args: FetchArgs) -> Result<()> {
    if args.output.is_some() && args.file.is_none() {
        return Err(usage("--output goes with --file").into());
    }
    if args.file.is_some() && (args.list || !args.path.is_empty()) {
        return Err(
            usage("--file fetches one file; it cannot be combined with --list or --path").into(),
        );
    }
    if args.list && args.dest.is_some() {
        return Err(usage("--list writes nothing, so --dest has no meaning with it").into());
    }
    let limits = limits(&args)?;
    let selection = Selection::from_args(&args, config)?;
    let mut api = Api::new(config)?;
    api.transport.set_quiet(args.quiet);
    signals::install();

    if let Some(entry) = &args.file {
        return fetch_file(&api, &selection, entry, args.output.as_deref());
    }
    if args.list {
        return list(&api, &selection, &limits, args.json, args.quiet);
    }
    unpack(&api, &selection, &args, &limits)
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

/// The whole fetch: download into staging, plan, unpack, verify, commit.
fn unpack(api: &Api, selection: &Selection, args: &FetchArgs, limits: &Limits) -> Result<()> {
    let dest = PathBuf::from(args.dest.as_deref().unwrap_or("."));
    let globs = Globs::new(&args.path);
    let keep = |p: &str| globs.keep(p);
    let mut progress = Progress::new(args.quiet);
    let mut staging = Staging::new(&dest)?;
    let url = api.url(&selection.archive_path());
    let (written, download_bytes) = with_restarts(api, || {
        staging.remove(ARCHIVE)?;
        staging.remove(TREE)?;
        let file = staging.create_file(ARCHIVE)?;
        let remote = Remote::open(
            &api.transport,
            &url,
            file,
            &staging.root_path.join(ARCHIVE),
            &mut progress,
        )?;
        let plan = archive::plan(&remote, limits, &keep)?;
        if !globs.is_empty() && plan.files == 0 {
            return Err(no_match(&args.path, &plan.examples).into());
        }
        let tree_path = staging.tree_path();
        let target = Target {
            root: &staging.root,
            tree_path: &tree_path,
            dest: &staging.dest,
        };
        let written = if globs.is_empty() {
            unpack_while_downloading(&remote, &plan, &keep, &target, &mut progress)?
        } else {
            let ranges = archive::ranges(&remote, &plan, &keep)?;
            remote.fetch_ranges(&ranges, &mut progress)?;
            extract::unpack(&remote, &plan, &keep, &target, workers(&plan))?
        };
        Ok((written, remote.received()))
    })
    .map_err(|e| explain(e, selection))?;
    progress.clear();
    commit::commit(&mut staging)?;
    drop(staging);

    let seconds = progress.elapsed().as_secs_f64();
    if args.json {
        let (job_id, job_name, git_ref) = match &selection.by {
            By::Ref { git_ref, job } => (None, Some(job.as_str()), Some(git_ref.as_str())),
            By::Id(id) => (Some(*id), None, None),
        };
        let summary = json!({
            "project": selection.project, "job": {"id": job_id, "name": job_name}, "ref": git_ref,
            "pipeline_id": null, "files": written.files, "bytes": written.bytes, "download_bytes": download_bytes,
            "seconds": (seconds * 1000.0).round() / 1000.0, "destination": dest.display().to_string(),
        });
        term::stdout(format!("{summary}\n").as_bytes())?;
    }
    if !args.quiet {
        term::stderr(&format!(
            "gljob: fetched {} files ({}) from {} into {} in {seconds:.1} s\n",
            written.files,
            bytes(written.bytes),
            escape(&selection.describe()),
            escape(&dest.display().to_string()),
        ));
    }
    Ok(())
}

/// Unpacking threads: file creation dominates many-file archives, and two threads on two
/// cores cut it nearly in half; more did not help (measured for issue 6).
const WORKERS: usize = 2;

fn workers(plan: &Plan) -> usize {
    if plan.dir.entries < 64 { 1 } else { WORKERS }
}

/// Downloads the rest of the archive on one thread while the workers unpack what has
/// arrived.
fn unpack_while_downloading(
    remote: &Remote,
    plan: &Plan,
    keep: &(dyn Fn(&str) -> bool + Sync),
    target: &Target,
    progress: &mut Progress,
) -> Result<Unpacked> {
    std::thread::scope(|scope| {
        remote.will_fill();
        let filler = scope.spawn(|| remote.fill(0, plan.dir.start, progress));
        let unpacked = extract::unpack(remote, plan, keep, target, workers(plan));
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

/// Runs a download attempt, starting over (a fresh download, a fresh plan) when the server
/// answered a resumed request with a whole archive, at most `GLJOB_RETRIES` times.
fn with_restarts<T>(api: &Api, mut attempt: impl FnMut() -> Result<T>) -> Result<T> {
    let mut restarts = 0;
    loop {
        match attempt() {
            Err(e) if download::is_restart(&e) => {
                if restarts >= api.transport.retries() {
                    return Err(fail(Kind::Network, format!("{e}, {} times in a row", restarts + 1))
                        .hint("the server or a proxy ignores Range requests and the connection keeps breaking; retry the job, or raise GLJOB_RETRIES")
                        .into());
                }
                restarts += 1;
                api.transport
                    .warn(format_args!("{e}; starting over with a fresh plan"));
            }
            other => return other,
        }
    }
}

/// `--path` matched nothing: name the globs and a few entries that exist.
fn no_match(globs: &[String], examples: &[String]) -> Failure {
    fail(Kind::NotFound, format!("--path {} matched no entry of the archive", globs.join(" --path ")))
        .detail(format!("entries include: {}", examples.join(", ")))
        .hint("globs match archive paths: dist/** for a tree, *.xml for a name at any depth; --list shows every entry")
}

/// `--list`: the entries with mode, size and path; `--json` for scripts. Writes nothing to
/// the workspace: the archive goes to a temporary directory that is always removed. The
/// archive is checked like any other, so a hostile one is refused here too.
fn list(api: &Api, selection: &Selection, limits: &Limits, json: bool, quiet: bool) -> Result<()> {
    let temp = TempDir::new()?;
    let path = temp.0.join(ARCHIVE);
    let url = api.url(&selection.archive_path());
    let mut progress = Progress::new(quiet);
    let (archive, plan) = with_restarts(api, || {
        let _ = fs::remove_file(&path);
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| fs_failure("cannot create the temporary archive", &path, e))?;
        let archive = Remote::open(&api.transport, &url, file, &path, &mut progress)?;
        let plan = archive::plan(&archive, limits, &|_: &str| true)?;
        // Only symlinks need their data (the target) to be listed.
        let links = archive::ranges(&archive, &plan, &|p: &str| plan.is_link(p))?;
        archive.fetch_ranges(&links, &mut progress)?;
        Ok((archive, plan))
    })
    .map_err(|e| explain(e, selection))?;
    progress.clear();
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
    archive::check_same(&listing, &plan)?;
    if json {
        out.write_all(b"]\n")?;
    }
    term::stdout(&out.into_inner()?)?;
    Ok(())
}

/// `--file`: one entry through GitLab's single-file route, streamed to stdout or atomically
/// to a file (a temporary beside it, renamed when complete).
fn fetch_file(api: &Api, selection: &Selection, entry: &str, output: Option<&str>) -> Result<()> {
    let url = api.url(&selection.file_path(entry));
    let response = api
        .transport
        .get(&url, &[])
        .map_err(|e| explain_file(e, selection, entry))?;
    download::check_content_type(&url, &response)?;
    let expected = response.body().content_length();
    let mut reader = response.into_body().into_reader();
    match output {
        None | Some("-") => {
            let mut stdout = std::io::stdout().lock();
            let copied = copy(&mut reader, &mut stdout, expected, &url).or_else(broken_pipe_ok)?;
            let _ = copied;
            Ok(())
        }
        Some(path) => {
            let target = Path::new(path);
            let dir = target
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            let name = target
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let temp = dir.join(format!(".{name}.gljob-{}.tmp", std::process::id()));
            signals::remove_on_signal(&temp, &[]);
            let result = (|| -> Result<()> {
                let mut file =
                    File::create_new(&temp).map_err(|e| fs_failure("cannot create", &temp, e))?;
                copy(&mut reader, &mut file, expected, &url)?;
                file.sync_all()
                    .map_err(|e| fs_failure("cannot write", &temp, e))?;
                fs::rename(&temp, target)
                    .map_err(|e| fs_failure("cannot move into place", target, e))?;
                Ok(())
            })();
            if result.is_err() {
                let _ = fs::remove_file(&temp);
            }
            signals::forget(&temp);
            result
        }
    }
}

fn broken_pipe_ok(err: anyhow::Error) -> Result<u64> {
    match err.downcast_ref::<std::io::Error>() {
        Some(io) if io.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        _ => Err(err),
    }
}

/// Copies a body, checking for signals and that its length is what the server announced.
fn copy(
    reader: &mut impl Read,
    out: &mut impl Write,
    expected: Option<u64>,
    url: &str,
) -> Result<u64> {
    let mut buf = vec![0u8; 128 * 1024];
    let mut copied = 0u64;
    loop {
        signals::check()?;
        let n = reader.read(&mut buf).map_err(|e| {
            fail(Kind::Network, format!("the download broke off after {copied} bytes: {e}"))
                .detail(format!("tried: GET {}", crate::transport::redact(url)))
                .hint("retry the job; single files cannot be resumed (GitLab's single-file routes do not support Range)")
        })?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n])?;
        copied += n as u64;
    }
    out.flush()?;
    if expected.is_some_and(|e| e != copied) {
        return Err(fail(
            Kind::Network,
            format!(
                "the download ended after {copied} of {} bytes",
                expected.unwrap_or(0)
            ),
        )
        .detail(format!("tried: GET {}", crate::transport::redact(url)))
        .hint("retry the job")
        .into());
    }
    Ok(copied)
}

/// A temporary directory outside the workspace (for `--list`), removed on drop or signal.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Result<TempDir> {
        let path = std::env::temp_dir().join(format!(
            "gljob-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_nanos())
                .unwrap_or(0)
        ));
        signals::remove_on_signal(&path, &[]);
        // Private: entries the archive marks 0600 wait here.
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&path)
            .map_err(|e| {
                fs_failure("cannot create a temporary directory", &path, e)
                    .hint("set TMPDIR to a writable directory")
            })?;
        Ok(TempDir(path))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
        signals::forget(&self.0);
    }
}

/// What a failed archive download means, in GitLab's terms (gitlab-api.md §3–§4).
fn explain(err: anyhow::Error, selection: &Selection) -> anyhow::Error {
    let http = match err.downcast::<HttpError>() {
        Ok(http) => http,
        Err(other) => return other,
    };
    let project = &selection.project;
    let failure = match (http.status, http.message.as_deref()) {
        (401, _) => fail(Kind::Auth, "GitLab rejected CI_JOB_TOKEN (401 Unauthorized)").detail(http.tried()).hint(TOKEN_HINT),
        (403, Some(m)) if m.contains("not allowed from") => fail(Kind::Forbidden, format!("project {project} does not let this job's token in (403)"))
            .detail(http.tried())
            .hint(format!("add this project to the job-token allowlist of {project}: Settings → CI/CD → Job token permissions → Add project"))
            .hint("the allowlist never adds permissions: the user who triggered this job also needs a role in that project"),
        (403, Some(m)) if m.contains("Insufficient permissions") => fail(Kind::Forbidden, format!("the job-token allowlist entry in {project} lacks a permission (403)"))
            .detail(http.tried())
            .hint(format!("in {project}: Settings → CI/CD → Job token permissions, grant this project the read_jobs permission")),
        (403, _) if is_storage(&http) => fail(Kind::Forbidden, "object storage refused the download link (403)")
            .detail(http.tried())
            .hint("the presigned URL may have expired or the storage clock is off; retry the job"),
        (403, _) => fail(Kind::Forbidden, format!("GitLab refused access to the artifacts of {} (403)", selection.describe()))
            .detail(http.tried())
            .hint(format!("the user who triggered this job needs at least the Reporter role in {project} (Developer or Maintainer if the job sets artifacts:access)"))
            .hint(format!("or the job-token allowlist of {project} must include this project: Settings → CI/CD → Job token permissions")),
        (404, Some("404 Project Not Found")) => fail(Kind::NotFound, format!("GitLab does not show project {project} to this job (404 Project Not Found)"))
            .detail(http.tried())
            .hint("check --project (or CI_PROJECT_ID): a numeric id or the full path group/sub/project")
            .hint(format!("a private project answers 404 when the job token may not see it: add this project to the job-token allowlist of {project} (Settings → CI/CD → Job token permissions), and check the triggering user's role"))
            .hint("on GitLab EE without a Premium licence, artifact routes answer 404 to job tokens even for the job's own project"),
        (404, Some("404 Not found" | "404 Job Not Found")) => match &selection.by {
            By::Ref { git_ref, job } => fail(Kind::NotFound, format!("the latest successful pipeline for {git_ref:?} in {project} has no job {job:?} with artifacts"))
                .detail(http.tried())
                .hint("the usual causes: a typo in the job name (it is exact and case-sensitive, e.g. 'test 1/3'); the job did not run in that pipeline; the newest pipeline for the ref is still running or failed (only successful ones count); the artifacts expired"),
            By::Id(id) => fail(Kind::NotFound, format!("project {project} has no job {id}"))
                .detail(http.tried())
                .hint("check --job-id and --project: job ids are per GitLab instance, but the job must belong to the project"),
        },
        (404, Some("404 Not Found")) => fail(Kind::NotFound, format!("{} has no artifacts archive", selection.describe()))
            .detail(http.tried())
            .hint("the artifacts expired or were erased, or the job declared no artifacts: (see artifacts:expire_in in its .gitlab-ci.yml)"),
        (404, _) => fail(Kind::NotFound, "GitLab has no such route (404)")
            .detail(http.tried())
            .hint("check that CI_API_V4_URL ends in /api/v4 and that --project is an id or a full path"),
        _ => http.into_failure(),
    };
    failure.into()
}

/// Explains single-file failures: an absent entry, then everything an archive fetch can say.
fn explain_file(err: anyhow::Error, selection: &Selection, entry: &str) -> anyhow::Error {
    match err.downcast_ref::<HttpError>() {
        Some(http) if http.status == 404 && http.says("404 page not found") => fail(Kind::NotFound, format!("the artifacts of {} have no file {entry:?}", selection.describe()))
            .detail(http.tried())
            .hint("the path is the exact entry name in the archive (no leading ./); gljob fetch --list shows them")
            .into(),
        _ => explain(err, selection),
    }
}

fn is_storage(http: &HttpError) -> bool {
    !http.api_origin
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("group/sub/my.project"), "group%2Fsub%2Fmy.project");
        assert_eq!(encode("test 1/3"), "test%201%2F3");
        assert_eq!(encode("we#ird?%+ ü"), "we%23ird%3F%25%2B%20%C3%BC");
        assert_eq!(encode("v1.2.3"), "v1.2.3");
    }

    #[test]
    fn routes_for_each_selection() {
        let by_ref = Selection {
            project: "a/b.c".into(),
            by: By::Ref {
                git_ref: "feature/x".into(),
                job: "test 1/3".into(),
            },
        };
        assert_eq!(
            by_ref.archive_path(),
            "/projects/a%2Fb.c/jobs/artifacts/feature%2Fx/download?job=test%201%2F3"
        );
        assert_eq!(
            by_ref.file_path("dist/a b.txt"),
            "/projects/a%2Fb.c/jobs/artifacts/feature%2Fx/raw/dist/a%20b.txt?job=test%201%2F3"
        );
        let by_id = Selection {
            project: "7".into(),
            by: By::Id(42),
        };
        assert_eq!(by_id.archive_path(), "/projects/7/jobs/42/artifacts");
        assert_eq!(by_id.file_path("/x/y"), "/projects/7/jobs/42/artifacts/x/y");
    }

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("500M"), Some(500 << 20));
        assert_eq!(parse_size("40GiB"), Some(40 << 30));
        assert_eq!(parse_size("123"), Some(123));
        assert_eq!(parse_size("lots"), None);
    }
}
