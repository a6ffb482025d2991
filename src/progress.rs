//! Download progress on stderr: a live line on a terminal, a line every few seconds in a CI
//! log (never a flood), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

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

#[cfg(test)]
mod tests {
    use super::*;

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
