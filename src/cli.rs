//! The command line: argh structs whose doc comments are the `--help` texts.
//!
//! Parsing goes through [`parse`] rather than argh's `from_env`, which exits with status 1 on
//! a usage error; the contract says 2.

use argh::FromArgs;

use crate::error::{Failure, Kind, fail};

/// gljob: the GitLab CI job's own helper. Who am I, which Kubernetes agents may I use, and
/// other jobs' artifacts in this workspace, with nothing but CI_JOB_TOKEN and CI_API_V4_URL.
#[derive(FromArgs, Debug)]
#[argh(
    example = "gljob job --field pipeline.id\ngljob agents\ngljob fetch --ref main --job build --dest vendor/",
    note = "Environment: CI_JOB_TOKEN, CI_API_V4_URL (or CI_SERVER_URL), CI_PROJECT_ID,\nGLJOB_TOKEN (fetch only: an access token instead of the job token),\nCI_SERVER_TLS_CA_FILE, SSL_CERT_FILE, HTTPS_PROXY/http_proxy/ALL_PROXY/NO_PROXY,\nNO_COLOR, GLJOB_LOG=debug, GLJOB_RETRIES (default 4), GLJOB_TIMEOUT (seconds);\nCI=true (GitLab's): a fetch's progress is a collapsed section of the job log."
)]
pub struct Cli {
    /// print the version, git revision and target, and exit
    #[argh(switch, short = 'V')]
    pub version: bool,

    #[argh(subcommand)]
    pub command: Option<Command>,
}

// Parsed once at start-up: the size difference between variants costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(FromArgs, Debug)]
#[argh(subcommand)]
pub enum Command {
    Job(JobArgs),
    Agents(AgentsArgs),
    Fetch(FetchArgs),
}

/// Show this job (GET /job): a summary, the raw JSON, or single fields. Doubles as the token
/// check.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "job",
    example = "gljob job\ngljob job --field pipeline.id --field user.username\ngljob job --json > job.json"
)]
pub struct JobArgs {
    /// print GitLab's JSON body exactly as received
    #[argh(switch)]
    pub json: bool,

    /// print one value per line, PATH in dot form (pipeline.id, user.username, tag_list.0);
    /// repeatable
    #[argh(option, arg_name = "PATH")]
    pub field: Vec<String>,
}

/// Show the Kubernetes agents this job may use (GET /job/allowed_agents).
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "agents",
    example = "gljob agents\ngljob agents --field allowed_agents.0.config_project.path_with_namespace"
)]
pub struct AgentsArgs {
    /// print GitLab's JSON body exactly as received
    #[argh(switch)]
    pub json: bool,

    /// print one value per line, PATH in dot form (environment.tier, allowed_agents.0.id);
    /// repeatable
    #[argh(option, arg_name = "PATH")]
    pub field: Vec<String>,
}

/// Fetch other jobs' artifacts into this workspace: streamed, verified, all or nothing.
/// Choose the jobs by --ref (the newest successful job NAME on REF), by --pipeline (jobs of
/// that exact pipeline, or of its --child pipelines), or by --job-id.
#[derive(FromArgs, Debug)]
#[argh(
    subcommand,
    name = "fetch",
    example = "gljob fetch --ref main --job build\ngljob fetch --pipeline \"$UPSTREAM_PIPELINE_ID\" --job build --dest vendor/\ngljob fetch --pipeline current --job 'test *' --per-job --dest reports/\ngljob fetch --pipeline \"$CI_PIPELINE_ID\" --child deploy --job package --wait 10m\ngljob fetch --project group/app --ref v1.2.3 --job 'test 1/3' --path 'dist/**'\ngljob fetch --job-id 1234 --list\ngljob fetch --ref main --job build --file dist/app.tar.gz -o app.tar.gz",
    note = "A plain --job NAME also matches parallel and matrix jobs (NAME 1/3, NAME: [a, b]);\n--job is repeatable and may be a glob ('test *'). Several jobs are unpacked as one change:\na path two jobs provide with different bytes is a conflict (exit 9) unless --per-job.\nLimits stop zip bombs: --max-bytes (default 16G unpacked), --max-entries (500000),\n--max-depth (128), --max-ratio (200, once over 100 MiB). Raise them for genuine large artifacts."
)]
pub struct FetchArgs {
    /// branch, tag or refs/merge-requests/IID/head: its newest successful job NAME
    #[argh(option, long = "ref", arg_name = "REF")]
    pub git_ref: Option<String>,

    /// with --ref: only GitLab's latest successful pipeline for REF (its strict meaning)
    #[argh(switch)]
    pub latest_pipeline: bool,

    /// a pipeline id, or current (CI_PIPELINE_ID): jobs of exactly that pipeline
    #[argh(option, arg_name = "ID|current")]
    pub pipeline: Option<String>,

    /// with --pipeline: the downstream pipeline that trigger job TRIGGER started; repeatable
    /// for nested children
    #[argh(option, arg_name = "TRIGGER")]
    pub child: Vec<String>,

    /// the job's name (case-sensitive, e.g. 'test 1/3'), or a glob ('test *'); repeatable
    #[argh(option, arg_name = "NAME")]
    pub job: Vec<String>,

    /// the job's numeric id, instead of --ref or --pipeline and --job
    #[argh(option, arg_name = "ID")]
    pub job_id: Option<u64>,

    /// with --pipeline: wait up to DURATION (30s, 10m, 1h) for the jobs to finish
    #[argh(option, arg_name = "DURATION")]
    pub wait: Option<String>,

    /// put each job's files under DEST/<job name> instead of merging them
    #[argh(switch)]
    pub per_job: bool,

    /// project id, full path (group/sub/project) or its web URL on this GitLab; default
    /// CI_PROJECT_ID
    #[argh(option, arg_name = "ID|PATH")]
    pub project: Option<String>,

    /// directory to unpack into (default .); created if missing
    #[argh(option, arg_name = "DIR")]
    pub dest: Option<String>,

    /// unpack only entries matching GLOB (*, ?, **; a directory selects its contents);
    /// repeatable
    #[argh(option, arg_name = "GLOB")]
    pub path: Vec<String>,

    /// print the archive's entries (mode, size, path), those --path selects if given, and
    /// write nothing
    #[argh(switch)]
    pub list: bool,

    /// fetch one file of the archive (no unzip), with its mode, to --output or stdout
    #[argh(option, arg_name = "PATH")]
    pub file: Option<String>,

    /// with --file: the file to write (missing directories are made), DIR/ for the entry's
    /// own name in DIR, or - for stdout (the default)
    #[argh(option, short = 'o', arg_name = "FILE")]
    pub output: Option<String>,

    /// print a JSON summary (or, with --list, the entries) on stdout; with --file, needs
    /// -o FILE
    #[argh(switch)]
    pub json: bool,

    /// print nothing but errors on stderr
    #[argh(switch, short = 'q')]
    pub quiet: bool,

    /// most bytes to unpack in total, e.g. 40G (default 16G)
    #[argh(option, arg_name = "SIZE")]
    pub max_bytes: Option<String>,

    /// most entries in the archive (default 500000)
    #[argh(option, arg_name = "N")]
    pub max_entries: Option<u64>,

    /// most unpacked bytes per archive byte once over 100 MiB (default 200)
    #[argh(option, arg_name = "N")]
    pub max_ratio: Option<u64>,

    /// most directories deep one entry's path may be (default 128)
    #[argh(option, arg_name = "N")]
    pub max_depth: Option<u64>,

    /// create symlinks that point outside DEST or to absolute paths (a virtualenv's
    /// bin/python3) as links; gljob still never follows a link while extracting
    #[argh(switch)]
    pub allow_external_symlinks: bool,
}

/// What parsing the command line produced.
#[allow(clippy::large_enum_variant)] // made once per run
pub enum Parsed {
    Run(Cli),
    /// `--help` or `help`: the text for stdout, exit 0.
    Help(String),
}

/// Parses `args` (without the program name). Usage errors are exit 2 with argh's message,
/// or with [`check`]'s for flags that do not go together.
pub fn parse(args: &[String]) -> Result<Parsed, Failure> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match Cli::from_args(&["gljob"], &args) {
        Ok(cli) => {
            check(&cli)?;
            Ok(Parsed::Run(cli))
        }
        Err(exit) if exit.status.is_ok() => Ok(Parsed::Help(exit.output)),
        Err(exit) => {
            // argh's message may span lines (a list of missing options). A failure is one
            // line per part (error::report escapes a newline inside one), so its first line
            // is the title and the others are details.
            let mut lines = exit.output.lines().map(str::trim).filter(|l| !l.is_empty());
            let mut failure = usage(lines.next().unwrap_or("bad arguments"));
            for line in lines {
                failure = failure.detail(line);
            }
            if let Some(line) = usage_line(&args) {
                failure = failure.detail(line);
            }
            Err(failure)
        }
    }
}

// Which flags go together. Every pair of flags of every command was decided once: `+` the
// two combine and each does what it says; `x` the pair is a usage error (exit 2) whose
// message says why. No flag is silently ignored. `tests/cli.rs` reads this table and runs
// every pair against the fake GitLab: each `x` must be exit 2, no `+` may be.
//
// BEGIN FLAG PAIRS
// gljob:  --version with a command          x  (--version prints the version and runs nothing)
// job:    --json with --field               x  (the whole body, or single values: one of them)
// agents: --json with --field               x  (likewise)
// fetch:
//                            ref lat pip chi job jid wai per prj dst pth lst fil -o  jsn -q  max
// --ref
// --latest-pipeline           +
// --pipeline                  x   x
// --child                     x   x   +
// --job                       +   +   +   +
// --job-id                    x   x   x   x   x
// --wait                      x   x   +   +   +   x
// --per-job                   +   +   +   +   +   +   +
// --project                   +   +   +   +   +   +   +   +
// --dest                      +   +   +   +   +   +   +   +   +
// --path                      +   +   +   +   +   +   +   +   +   +
// --list                      +   +   +   +   +   +   +   x   +   x   +
// --file                      +   +   +   +   +   +   +   x   +   x   x   x
// -o                          x   x   x   x   x   x   x   x   x   x   x   x   +
// --json                      +   +   +   +   +   +   +   +   +   +   +   +   x¹  x
// --quiet                     +   +   +   +   +   +   +   +   +   +   +   +   +   x   +
// --max-*                     +   +   +   +   +   +   +   +   +   +   +   +   +²  x   +   +
// --allow-external-symlinks   +   +   +   +   +   +   +   +   +   +   +   +³  x   x   +   +   +
// END FLAG PAIRS
//
// Why the `x`s: one way to choose the job (--ref or --pipeline or --job-id; --child and
// --wait go with --pipeline, --latest-pipeline with --ref; `select.rs` checks these);
// --list and --file write nothing into --dest and unpack nothing for --per-job, and --file
// takes no --path (it is the path); -o is where --file writes. ¹ --file --json is fine with
// -o FILE (a JSON summary), but with the file's bytes on stdout the JSON would mix into
// them. ² The limits check the archive's directory, which --file reads too. ³ --list lists
// an archive with such links instead of refusing it; --file creates no link, so
// --allow-external-symlinks with --file is an `x`. --max-* is --max-bytes, --max-entries,
// --max-ratio and --max-depth, which behave alike.

/// The flag pairs of the table above that are usage errors, except those about choosing
/// the job (`select.rs`, which knows the selection).
pub fn check(cli: &Cli) -> Result<(), Failure> {
    if cli.version && cli.command.is_some() {
        return Err(usage(
            "--version prints the version and runs no command: use it alone",
        ));
    }
    let (json, field) = match &cli.command {
        Some(Command::Job(a)) => (a.json, !a.field.is_empty()),
        Some(Command::Agents(a)) => (a.json, !a.field.is_empty()),
        Some(Command::Fetch(a)) => return check_fetch(a),
        None => return Ok(()),
    };
    if json && field {
        return Err(usage(
            "--json prints the whole body and --field picks single values: use one of them",
        ));
    }
    Ok(())
}

fn check_fetch(args: &FetchArgs) -> Result<(), Failure> {
    if args.output.is_some() && args.file.is_none() {
        return Err(usage(
            "-o (--output) is where --file writes its one file: it goes with --file",
        ));
    }
    if args.file.is_some() && (args.list || !args.path.is_empty()) {
        return Err(usage(
            "--file fetches one file; it cannot be combined with --list or --path",
        ));
    }
    if args.per_job && (args.list || args.file.is_some()) {
        return Err(usage(
            "--per-job arranges unpacked files; --list and --file unpack nothing",
        ));
    }
    if args.list && args.dest.is_some() {
        return Err(usage(
            "--list writes nothing, so --dest has no meaning with it",
        ));
    }
    if args.file.is_some() && args.dest.is_some() {
        return Err(usage(
            "--file writes its one file to -o (or stdout), not into --dest: use -o DIR/ for a directory",
        ));
    }
    if args.file.is_some() && args.json && matches!(args.output.as_deref(), None | Some("-")) {
        return Err(usage(
            "--file --json needs -o FILE: on stdout, the JSON summary would mix into the file's bytes",
        ));
    }
    if args.file.is_some() && args.allow_external_symlinks {
        return Err(usage(
            "--allow-external-symlinks decides how symlinks are unpacked; --file fetches one file and creates no link",
        ));
    }
    Ok(())
}

/// The `Usage: …` line of the subcommand the user was typing (or of gljob itself).
fn usage_line(args: &[&str]) -> Option<String> {
    let sub: Vec<&str> = args
        .iter()
        .take(1)
        .filter(|a| !a.starts_with('-'))
        .copied()
        .collect();
    let help = [sub, vec!["--help"]].concat();
    let text = match Cli::from_args(&["gljob"], &help) {
        Err(exit) if exit.status.is_ok() => exit.output,
        _ => Cli::from_args(&["gljob"], &["--help"]).err()?.output,
    };
    text.lines().next().map(str::to_string)
}

pub fn usage(message: &str) -> Failure {
    fail(Kind::Usage, message.to_string())
        .hint("gljob help, or gljob COMMAND --help, shows the flags with examples")
}

pub fn version() -> String {
    format!(
        "gljob {} (rev {}, {})\n",
        env!("CARGO_PKG_VERSION"),
        env!("GLJOB_GIT_REV"),
        env!("GLJOB_TARGET")
    )
}
