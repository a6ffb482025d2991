//! Download progress on stderr: a live line on a terminal, a line every few seconds in a CI
//! log (never a flood), nothing with `--quiet`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use crate::output::{bytes, stderr};

pub struct Progress {
    enabled: bool,
    live: bool,
    started: Instant,
    last: Instant,
    drawn: bool,
}

const LIVE_EVERY: Duration = Duration::from_millis(150);
const LOG_EVERY: Duration = Duration::from_secs(5);

impl Progress {
    pub fn new(quiet: bool) -> Progress {
        let now = Instant::now();
        Progress {
            enabled: !quiet,
            live: std::io::stderr().is_terminal(),
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
        let every = if self.live { LIVE_EVERY } else { LOG_EVERY };
        if !self.enabled || self.last.elapsed() < every {
            return;
        }
        self.last = Instant::now();
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let mut line = format!("downloading {}", bytes(done));
        if let Some(total) = total.filter(|t| *t > 0) {
            let left = total.saturating_sub(done) as f64 / rate.max(1.0);
            line.push_str(&format!(
                " of {} ({}%), ETA {:.0} s",
                bytes(total),
                done * 100 / total,
                left
            ));
        }
        line.push_str(&format!(", {}/s", bytes(rate as u64)));
        if self.live {
            stderr(&format!("\r\x1b[2Kgljob: {line}"));
            self.drawn = true;
        } else {
            stderr(&format!("gljob: {line}\n"));
        }
    }

    /// Clears the live line before other output.
    pub fn clear(&mut self) {
        if self.drawn {
            stderr("\r\x1b[2K");
            self.drawn = false;
        }
    }
}
