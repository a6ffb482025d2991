//! `--background` for the standalone programs (`fake-gitlab`, the benchmark's
//! `bench_server serve`): print the `export` lines once the server listens, then return,
//! leaving the server running — so that `eval "$(fake-gitlab --background)"` works as
//! pasted.
//!
//! Without it, a shell's command substitution never returns: it reads until every writer
//! of its pipe is gone, and a server that keeps serving keeps its stdout open. (`| head -n
//! 4` does not help: the shell also waits for the whole pipeline to end.) A program cannot
//! fork itself safely once it has threads, and closing its own stdout takes `unsafe`, so
//! the program runs itself again instead: the child serves, with stdout a pipe to the
//! parent, and ends what it prints there with a [`READY`] line; the parent copies the lines
//! before it to its own stdout, adds `export FAKE_GITLAB_PID=…`, and exits. The child never
//! writes to stdout again, so nothing waits on the pipe.
//!
//! The child gets a process group of its own, so a Ctrl-C typed at the shell's prompt
//! later does not stop it: `kill "$FAKE_GITLAB_PID"` does (SIGTERM; it then removes the CA
//! it generated for `--tls`).

use std::ffi::OsString;
use std::fs::OpenOptions;
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The line a background child prints after its `export` lines: the parent stops reading
/// there, and does not pass it on.
pub const READY: &str = "READY";

/// The environment variable that tells a program it is the background child (it then prints
/// [`READY`] after its exports).
pub const CHILD_VAR: &str = "FAKE_GITLAB_BACKGROUND_CHILD";

/// Whether this process is the background child of [`relaunch`].
pub fn is_child() -> bool {
    std::env::var_os(CHILD_VAR).is_some()
}

/// Runs this program again with `args` (the command line without `--background`) as the
/// background child, copies its `export` lines to stdout up to [`READY`], then prints
/// `export FAKE_GITLAB_PID=…` and returns. The child's stderr (its request log) goes to
/// `log`, or nowhere. A child that ends before it is ready is an error, naming the log.
pub fn relaunch(args: &[OsString], log: Option<&Path>) -> io::Result<()> {
    let stderr = match log {
        Some(path) => Stdio::from(
            OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?,
        ),
        None => Stdio::null(),
    };
    let mut child = Command::new(std::env::current_exe()?)
        .args(args)
        .env(CHILD_VAR, "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        .process_group(0)
        .spawn()?;
    let pipe = child
        .stdout
        .take()
        .ok_or_else(|| io::Error::other("no pipe to the background server"))?;
    let mut out = io::stdout().lock();
    for line in BufReader::new(pipe).lines() {
        let line = line?;
        if line == READY {
            writeln!(out, "export FAKE_GITLAB_PID={}", child.id())?;
            return out.flush();
        }
        writeln!(out, "{line}")?;
    }
    let status = child.wait()?;
    let see = log.map_or_else(
        || " (run it without --background to see why)".to_string(),
        |p| format!(" (its log: {})", p.display()),
    );
    Err(io::Error::other(format!(
        "the background server ended before it was ready: {status}{see}"
    )))
}

/// The command line without `--background` and without `--log FILE`: the child's stderr is
/// that file already.
pub fn child_args(args: &[OsString]) -> Vec<OsString> {
    let mut out = Vec::new();
    let mut skip_value = false;
    for arg in args {
        if skip_value {
            skip_value = false;
            continue;
        }
        match arg.to_str() {
            Some("--background") => {}
            Some("--log") => skip_value = true,
            _ => out.push(arg.clone()),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_runs_without_background_and_log() {
        let args: Vec<OsString> = ["--tls", "--background", "--log", "f.log", "--port", "1"]
            .iter()
            .map(OsString::from)
            .collect();
        assert_eq!(child_args(&args), ["--tls", "--port", "1"]);
    }
}
