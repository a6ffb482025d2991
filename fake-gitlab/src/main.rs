//! `fake-gitlab`: the fake GitLab as a standalone program, for trying gljob (or curl, or
//! python-gitlab) by hand and for the README demo.
//!
//! It serves the demo world and prints `export …` lines for a shell to eval, then runs until
//! SIGINT, SIGTERM or SIGHUP (and then removes the CA it generated for `--tls`). With
//! `--background` it prints them once it listens and returns, serving on in the background
//! (see `background.rs` for why a plain `eval "$(fake-gitlab)"` could never return):
//!
//! ```text
//! eval "$(target/debug/fake-gitlab --object-storage --background)"
//! gljob fetch --project group/sub/my.project --ref main --job build --dest out
//! kill "$FAKE_GITLAB_PID"
//! ```

use std::io::Write;
use std::process::ExitCode;

use argh::FromArgs;
use fake_gitlab::{Config, Edition, Server, TOKEN, background, demo};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// A fake GitLab API on 127.0.0.1 for trying gljob: prints `export` lines for CI_API_V4_URL,
/// CI_SERVER_URL, CI_PROJECT_ID, CI_JOB_TOKEN, CI_PIPELINE_ID (and CI_SERVER_TLS_CA_FILE with
/// --tls) on stdout,
/// logs one line per request on stderr, and runs until SIGINT, SIGTERM or SIGHUP.
/// Example: eval "$(fake-gitlab --tls --object-storage --background)"; …; kill "$FAKE_GITLAB_PID"
#[derive(FromArgs)]
struct Args {
    /// print the export lines once listening (and FAKE_GITLAB_PID), then return and serve
    /// on in the background: for eval "$(fake-gitlab --background)"
    #[argh(switch)]
    background: bool,
    /// with --background: append the request log to FILE (default: no log)
    #[argh(option, arg_name = "FILE")]
    log: Option<std::path::PathBuf>,
    /// port of the API origin (default: any free port)
    #[argh(option, default = "0")]
    port: u16,
    /// port of the object-storage origin (default: any free port)
    #[argh(option, default = "0")]
    storage_port: u16,
    /// serve HTTPS with a CA generated at start (both origins)
    #[argh(switch)]
    tls: bool,
    /// answer archive downloads with 302 to the storage origin
    #[argh(switch)]
    object_storage: bool,
    /// behave like GitLab EE without a license: artifact routes give 404 to job tokens
    #[argh(switch)]
    ee_unlicensed: bool,
    /// behave like GitLab CE (the default is GitLab EE with Premium)
    #[argh(switch)]
    ce: bool,
    /// behave like GitLab before 18.7: ignore search_recent_successful_pipelines
    #[argh(switch)]
    no_search_recent: bool,
    /// behave like an older GitLab whose list routes ignore job tokens: 401 or 404 (what
    /// the pipeline routes answer for a private project)
    #[argh(option)]
    legacy_job_token_lists: Option<u16>,
    /// behave like a GitLab whose bridges and pipeline routes ignore job tokens
    #[argh(switch)]
    legacy_bridges: bool,
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest: Vec<&str> = args.iter().map(String::as_str).collect();
    let args = match Args::from_args(&["fake-gitlab"], &rest) {
        Ok(a) => a,
        Err(early) => {
            return if early.status.is_ok() {
                println!("{}", early.output);
                ExitCode::SUCCESS
            } else {
                eprintln!("{}", early.output);
                ExitCode::from(2)
            };
        }
    };
    if args.log.is_some() && !args.background {
        eprintln!(
            "fake-gitlab: --log goes with --background (in the foreground the log is stderr)"
        );
        return ExitCode::from(2);
    }
    if args.background && !background::is_child() {
        let raw: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        return match background::relaunch(&background::child_args(&raw), args.log.as_deref()) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("fake-gitlab: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-gitlab: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> std::io::Result<()> {
    let server = Server::start(Config {
        tls: args.tls,
        storage_tls: None,
        object_storage: args.object_storage,
        edition: match (args.ee_unlicensed, args.ce) {
            (true, _) => Edition::EeFree,
            (false, true) => Edition::Ce,
            (false, false) => Edition::EePremium,
        },
        no_search_recent: args.no_search_recent,
        legacy_job_token_lists: args.legacy_job_token_lists,
        legacy_bridges: args.legacy_bridges,
        port: args.port,
        storage_port: args.storage_port,
        ..Config::default()
    })?;
    server.log_to_stderr(true);
    // Registered before the export lines are out, so a signal sent once they are read is caught.
    let mut signals = Signals::new([SIGINT, SIGTERM, SIGHUP])?;

    let mut out = std::io::stdout().lock();
    writeln!(out, "export CI_API_V4_URL={}", server.api_url())?;
    writeln!(out, "export CI_SERVER_URL={}", server.server_url())?;
    writeln!(out, "export CI_PROJECT_ID={}", demo::OWN_PROJECT)?;
    writeln!(out, "export CI_JOB_TOKEN={TOKEN}")?;
    writeln!(out, "export CI_PIPELINE_ID={}", demo::OWN_PIPELINE)?;
    if let Some(ca) = server.ca_file() {
        writeln!(
            out,
            "export CI_SERVER_TLS_CA_FILE={}",
            shell_quote(&ca.display().to_string())
        )?;
    }
    if background::is_child() {
        // The parent stops reading here and returns; nothing is written to stdout again.
        writeln!(out, "{}", background::READY)?;
    }
    out.flush()?;
    drop(out);

    eprintln!(
        "fake-gitlab: API {}, storage {} (object storage {}). Try gljob fetch --ref main --job build (project {}), or --project group/sub/my.project.",
        server.api_url(),
        server.storage_url(),
        if args.object_storage { "on" } else { "off" },
        demo::OWN_PROJECT,
    );
    // Until a signal says stop; then `server` drops, which removes the generated CA (a bare
    // `kill` used to leave it in the temporary directory).
    if let Some(signal) = signals.forever().next() {
        eprintln!("fake-gitlab: stopping (signal {signal})");
    }
    drop(server);
    Ok(())
}

/// Quotes a value for a POSIX shell when it needs it.
fn shell_quote(s: &str) -> String {
    if s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"/._-+:,=@%".contains(&b))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}
