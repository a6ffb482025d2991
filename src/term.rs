//! The terminal: the two streams gljob writes, and making text safe to show on them.
//!
//! It depends on nothing else in gljob, so that `error` (which reports on stderr) and
//! `output` (which renders values and fails with `error::Failure`) can both use it without
//! importing each other.

use std::io::Write;

/// Replaces control characters (escape sequences, carriage returns) with `?`, keeping
/// newlines and tabs.
pub fn clean(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() && c != '\n' && c != '\t' {
                '?'
            } else {
                c
            }
        })
        .collect()
}

/// Writes to stdout. A closed pipe (`gljob job --json | head -c1`) is not an error.
pub fn stdout(bytes: &[u8]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|_| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Whether stderr may carry colour: a terminal, and `NO_COLOR` unset (no-color.org).
pub fn color() -> bool {
    use std::io::IsTerminal;
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stderr().is_terminal()
}

/// Writes to stderr, ignoring failures: there is nowhere else to report them.
pub fn stderr(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_removes_escapes() {
        assert_eq!(clean("a\u{1b}[2Jb\rc\nd"), "a?[2Jb?c\nd");
    }
}
