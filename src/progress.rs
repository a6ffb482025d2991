//! Download progress on stderr: a live line on a terminal, a line every few seconds in a CI
//! log (never a flood), nothing with `--quiet`. Inside GitLab CI the progress of a fetch
//! goes into a collapsed section of the job log ([`Section`]), so the log shows one header
//! and the summary line, and the detail a click away.

use std::io::IsTerminal;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::output::bytes;
use crate::term::stderr;

pub struct Progress {
    enabled: bool,
    live: bool,
    started: Instant,
    last: Instant,
    drawn: bool,
}

/// How often the live terminal line is redrawn.
const LIVE_EVERY: Duration = Duration::from_millis(150);
/// How often a CI log gets a progress line.
const LOG_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        Progress::with(!quiet, std::io::stderr().is_terminal(), Instant::now())
    }

    fn with(enabled: bool, live: bool, now: Instant) -> Progress {
        Progress {
            enabled,
            live,
            started: now,
            last: now,
            drawn: false,
        }
    }

    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Reports `done` of `total` bytes downloaded, if it is time to.
    pub fn update(&mut self, done: u64, total: Option<u64>) {
        if let Some(line) = self.due(Instant::now(), done, total) {
            if self.live {
                stderr(&format!("\r\x1b[2Kgljob: {line}"));
                self.drawn = true;
            } else {
                stderr(&format!("gljob: {line}\n"));
            }
        }
    }

    /// The progress line to show at `now`, if one is due.
    fn due(&mut self, now: Instant, done: u64, total: Option<u64>) -> Option<String> {
        let every = if self.live { LIVE_EVERY } else { LOG_EVERY };
        if !self.enabled || now.duration_since(self.last) < every {
            return None;
        }
        self.last = now;
        let rate = done as f64 / now.duration_since(self.started).as_secs_f64().max(0.001);
        let mut line = format!("downloading {}", bytes(done));
        if let Some(total) = total.filter(|t| *t > 0) {
            let left = total.saturating_sub(done) as f64 / rate.max(1.0);
            line.push_str(&format!(
                " of {} ({}%), ETA {left:.0} s",
                bytes(total),
                done * 100 / total
            ));
        }
        line.push_str(&format!(", {}/s", bytes(rate as u64)));
        Some(line)
    }

    /// Clears the live line before other output.
    pub fn clear(&mut self) {
        if self.drawn {
            stderr("\r\x1b[2K");
            self.drawn = false;
        }
    }
}

/// A collapsible section of a GitLab job log around a fetch's progress lines, waits and
/// retry warnings: `\e[0Ksection_start:UNIX_TIME:NAME[collapsed=true]\r\e[0KHEADER` …
/// `\e[0Ksection_end:UNIX_TIME:NAME\r\e[0K`, the markers GitLab's log viewer folds (see
/// GitLab's "Custom collapsible sections"). Only inside GitLab CI (`CI=true`) and when
/// stderr is not a terminal: on a terminal the markers would be noise, and `--quiet` prints
/// nothing anyway. The summary line and errors come after [`Section::end`], outside the
/// fold, so what matters is never hidden; dropping the section ends it too (an error
/// unwinds through it before `main` reports).
pub struct Section {
    name: Option<String>,
}

impl Section {
    /// Starts a section whose header says what is fetched, if this is a CI job log.
    pub fn start(quiet: bool, header: &str) -> Section {
        let in_ci = std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
        Section::with(!quiet && in_ci && !std::io::stderr().is_terminal(), header)
    }

    fn with(enabled: bool, header: &str) -> Section {
        if !enabled {
            return Section { name: None };
        }
        // One fetch's section: a job may run gljob more than once.
        let name = format!("gljob_fetch_{}", std::process::id());
        stderr(&start_marker(&name, unix_now(), header));
        Section { name: Some(name) }
    }

    /// Closes the section (once; later calls do nothing).
    pub fn end(&mut self) {
        if let Some(name) = self.name.take() {
            stderr(&end_marker(&name, unix_now()));
        }
    }
}

impl Drop for Section {
    fn drop(&mut self) {
        self.end();
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The start marker and its header line; the header is escaped (it holds job names).
fn start_marker(name: &str, at: u64, header: &str) -> String {
    format!(
        "\x1b[0Ksection_start:{at}:{name}[collapsed=true]\r\x1b[0K{}\n",
        crate::term::escape(header)
    )
}

fn end_marker(name: &str, at: u64) -> String {
    format!("\x1b[0Ksection_end:{at}:{name}\r\x1b[0K\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sections_use_gitlabs_markers_and_escape_the_header() {
        assert_eq!(
            start_marker("gljob_fetch_7", 1700000000, "gljob: fetching job \"a\nb\""),
            "\x1b[0Ksection_start:1700000000:gljob_fetch_7[collapsed=true]\r\x1b[0Kgljob: fetching job \"a\\nb\"\n"
        );
        assert_eq!(
            end_marker("gljob_fetch_7", 1700000009),
            "\x1b[0Ksection_end:1700000009:gljob_fetch_7\r\x1b[0K\n"
        );
        let mut off = Section::with(false, "x");
        assert!(off.name.is_none());
        off.end();
    }

    #[test]
    fn a_ci_log_gets_a_line_every_few_seconds_not_a_flood() {
        let t0 = Instant::now();
        let mut p = Progress::with(true, false, t0);
        let lines = (1..=100)
            .filter_map(|i| {
                p.due(
                    t0 + Duration::from_millis(100 * i),
                    i * 1_000_000,
                    Some(200_000_000),
                )
            })
            .collect::<Vec<_>>();
        assert_eq!(lines.len(), 2, "10 s of updates every 100 ms: {lines:?}");
        assert!(
            lines[0].contains("47.7 MiB of 190.7 MiB (25%)")
                && lines[0].contains("ETA")
                && lines[0].contains("/s"),
            "{lines:?}"
        );
    }

    #[test]
    fn a_terminal_is_redrawn_often_and_quiet_shows_nothing() {
        let t0 = Instant::now();
        let mut live = Progress::with(true, true, t0);
        assert!(live.due(t0 + Duration::from_millis(200), 1, None).is_some());
        let mut quiet = Progress::with(false, true, t0);
        assert!(quiet.due(t0 + Duration::from_secs(60), 1, None).is_none());
    }
}
