//! Failures a person can act on, and the exit codes of the contract.
//!
//! Every error that reaches `main` is an `anyhow::Error`. Errors gljob understands carry a
//! [`Failure`] inside: what failed (the title), what gljob tried (details such as the request
//! and the status) and what to do (a hint). [`exit_code`] is the one place that maps an error
//! to the contract's exit code, by downcasting — no other code calls `process::exit`.

use std::fmt;

use crate::term;

/// The contract's exit codes (cli-contract.md, "Exit codes").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 1: a bug in gljob.
    Internal,
    /// 2: bad flags or arguments.
    Usage,
    /// 3: a missing or bad environment variable, an unreadable CA file.
    Config,
    /// 4: GitLab answered 401: the job token is invalid, expired, or its job finished.
    Auth,
    /// 5: GitLab answered 403: job-token allowlist, role, `artifacts:access`.
    Forbidden,
    /// 6: GitLab answered 404, or a `--field`/`--path` matched nothing.
    NotFound,
    /// 7: transport, TLS, 5xx or 429 after retries.
    Network,
    /// 8: an unsafe or corrupt archive.
    Archive,
    /// 9: the local filesystem refused (destination, disk full, conflict).
    Filesystem,
    /// 130 / 143: interrupted by SIGINT / SIGTERM, after cleaning up.
    Interrupted(i32),
}

impl Kind {
    pub fn code(self) -> u8 {
        match self {
            Kind::Internal => 1,
            Kind::Usage => 2,
            Kind::Config => 3,
            Kind::Auth => 4,
            Kind::Forbidden => 5,
            Kind::NotFound => 6,
            Kind::Network => 7,
            Kind::Archive => 8,
            Kind::Filesystem => 9,
            Kind::Interrupted(signal) => 128 + signal as u8,
        }
    }

    /// The exit kind for a final HTTP status from GitLab or object storage.
    pub fn for_status(status: u16) -> Kind {
        match status {
            401 => Kind::Auth,
            403 => Kind::Forbidden,
            404 => Kind::NotFound,
            _ => Kind::Network,
        }
    }
}

/// A failure explained for a person: one title line, what was tried, what to do.
///
/// The title, each detail and each hint are one line each: [`report`] escapes a newline
/// inside one of them like any other control character, because it cannot tell gljob's
/// newlines from a server's. A message of several lines is several details.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub title: String,
    /// What gljob tried: requests, statuses, server messages, paths.
    pub details: Vec<String>,
    /// What the user can do about it.
    pub hints: Vec<String>,
}

impl Failure {
    pub fn new(kind: Kind, title: impl Into<String>) -> Failure {
        Failure {
            kind,
            title: title.into(),
            details: Vec::new(),
            hints: Vec::new(),
        }
    }

    pub fn detail(mut self, detail: impl Into<String>) -> Failure {
        self.details.push(detail.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Failure {
        self.hints.push(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.title)
    }
}

impl std::error::Error for Failure {}

/// Shorthand for returning a [`Failure`] as an `anyhow::Error`.
pub fn fail(kind: Kind, title: impl Into<String>) -> Failure {
    Failure::new(kind, title)
}

/// A filesystem failure (exit 9) naming the path; a full disk or a read-only destination
/// says so.
pub fn fs_failure(what: &str, path: &std::path::Path, err: std::io::Error) -> Failure {
    fs_failure_for("--dest", what, path, err)
}

/// [`fs_failure`] for the destination that `flag` chose (`--dest`, or `-o` for `--file`),
/// so that the hint names the flag the user typed.
pub fn fs_failure_for(
    flag: &str,
    what: &str,
    path: &std::path::Path,
    err: std::io::Error,
) -> Failure {
    use std::io::ErrorKind;
    let mut failure = fail(
        Kind::Filesystem,
        format!("{what} {}: {err}", path.display()),
    );
    if err.kind() == ErrorKind::StorageFull || err.kind() == ErrorKind::QuotaExceeded {
        let less = if flag == "--dest" {
            "or fetch less with --path"
        } else {
            "or write the file elsewhere with -o"
        };
        failure = failure.hint(format!(
            "the disk is full: free space on the runner, {less}"
        ));
    } else if err.kind() == ErrorKind::PermissionDenied
        || err.kind() == ErrorKind::ReadOnlyFilesystem
    {
        failure = failure.hint(format!(
            "the destination is not writable by this job's user; choose another {flag}"
        ));
    }
    failure.hint("the destination was left as it was")
}

/// The contract's exit code for any error that reaches `main`.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    kind_of(err).code()
}

fn kind_of(err: &anyhow::Error) -> Kind {
    for cause in err.chain() {
        if let Some(failure) = cause.downcast_ref::<Failure>() {
            return failure.kind;
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return io_kind(io);
        }
    }
    Kind::Internal
}

/// Local I/O errors are filesystem errors (exit 9) unless they are really network ones.
fn io_kind(err: &std::io::Error) -> Kind {
    use std::io::ErrorKind::*;
    match err.kind() {
        ConnectionReset | ConnectionAborted | ConnectionRefused | TimedOut | UnexpectedEof
        | BrokenPipe | NotConnected => Kind::Network,
        _ => Kind::Filesystem,
    }
}

/// Prints an error as one short paragraph on stderr: title, what was tried, what to do.
/// Context added with anyhow's `.context()` is printed as the leading part of the title.
pub fn report(err: &anyhow::Error) {
    term::stderr(&paragraph(err, error_label()));
}

/// The paragraph [`report`] prints, `label` ("error", perhaps coloured) after `gljob: `.
///
/// gljob composes it line by line: the title, then each detail and each hint on its own
/// indented line. Each of them is escaped again as a whole ([`term::escape`]) before it is
/// put on its line, so text a server or an archive controls cannot add a line or rewrite
/// one, even where the code that put it into the message forgot to escape it; text escaped
/// there is unchanged by this second pass.
fn paragraph(err: &anyhow::Error, label: &str) -> String {
    let failure = err.chain().find_map(|c| c.downcast_ref::<Failure>());
    let mut out = String::new();
    match failure {
        Some(failure) => {
            // Contexts wrapped around the failure come first, most general first.
            let contexts: Vec<String> = err
                .chain()
                .take_while(|c| c.downcast_ref::<Failure>().is_none())
                .map(|c| c.to_string())
                .collect();
            let mut title = contexts.join(": ");
            if !title.is_empty() {
                title.push_str(": ");
            }
            title.push_str(&failure.title);
            out.push_str(&format!("gljob: {label}: {}\n", term::escape(&title)));
            for detail in &failure.details {
                out.push_str(&format!("  {}\n", term::escape(detail)));
            }
            for hint in &failure.hints {
                out.push_str(&format!("  hint: {}\n", term::escape(hint)));
            }
        }
        None => {
            out.push_str(&format!(
                "gljob: {label}: {}\n",
                term::escape(&format!("{err:#}"))
            ));
            if kind_of(err) == Kind::Internal {
                out.push_str("  hint: this looks like a bug in gljob; please report it with GLJOB_LOG=debug output\n");
            }
        }
    }
    out
}

/// "error", in bold red on a terminal unless `NO_COLOR` is set.
fn error_label() -> &'static str {
    if term::color() {
        "\x1b[1;31merror\x1b[0m"
    } else {
        "error"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_inside_context_keeps_its_code() {
        let err = anyhow::Error::new(fail(Kind::Forbidden, "no")).context("fetching");
        assert_eq!(exit_code(&err), 5);
    }

    #[test]
    fn signals_map_to_128_plus() {
        assert_eq!(Kind::Interrupted(2).code(), 130);
        assert_eq!(Kind::Interrupted(15).code(), 143);
    }

    #[test]
    fn unknown_errors_are_internal() {
        assert_eq!(exit_code(&anyhow::anyhow!("boom")), 1);
    }

    #[test]
    fn a_report_is_one_line_per_part_whatever_the_parts_hold() {
        let server_text = "no\ngljob: fetched 3 files\r\u{1b}[2K\u{202e}";
        let err = anyhow::Error::new(
            fail(Kind::Forbidden, format!("refused ({server_text})"))
                .detail(format!("tried: GET /x → 403 {server_text}"))
                .detail("a second line of gljob's own")
                .hint(format!("hint {}", term::escape(server_text))),
        )
        .context("fetching");
        let shown = paragraph(&err, "error");
        let escaped = r"no\ngljob: fetched 3 files\r\u{1b}[2K\u{202e}";
        assert_eq!(
            shown,
            format!(
                "gljob: error: fetching: refused ({escaped})\n  tried: GET /x → 403 {escaped}\n  a second line of gljob's own\n  hint: hint {escaped}\n"
            )
        );
        let plain = paragraph(&anyhow::anyhow!("boom\nforged"), "error");
        assert!(
            plain.starts_with("gljob: error: boom\\nforged\n"),
            "{plain}"
        );
    }

    #[test]
    fn io_errors_are_filesystem_unless_network() {
        let disk = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::StorageFull));
        assert_eq!(exit_code(&disk), 9);
        let reset = anyhow::Error::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset));
        assert_eq!(exit_code(&reset), 7);
    }
}
