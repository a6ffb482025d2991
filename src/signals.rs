//! Ctrl-C and SIGTERM during a fetch: clean up, then exit 130 / 143.
//!
//! A watcher thread turns the signal into a flag. The main thread checks the flag between
//! chunks and entries ([`check`]), unwinds with an `Interrupted` failure, and its guards
//! remove the staging directory and roll back the destination. If the main thread does not
//! finish within [`GRACE`] (it may be blocked reading a stalled connection, writing nothing),
//! or a second signal arrives, the watcher removes the registered paths itself and exits.
//!
//! Except during a commit: then the staging directory holds the user's files that the
//! commit moved aside, and its journal. The watcher waits for the main thread to finish or
//! roll back (local work, no network), however long; a second signal ends the process at
//! once but removes nothing, and the next fetch into that destination finishes the
//! interrupted commit from the journal (`commit::recover`).

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicI32, Ordering};
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::error::{Failure, Kind, fail};

/// The signal received, or 0.
static RECEIVED: AtomicI32 = AtomicI32::new(0);
/// Paths to remove if the watcher has to end the process itself.
static CLEANUP: Mutex<Vec<Cleanup>> = Mutex::new(Vec::new());

struct Cleanup {
    /// Removed whole.
    root: PathBuf,
    /// Removed if empty, innermost first.
    created: Vec<PathBuf>,
    /// A commit is moving files: remove nothing, and wait for it.
    committing: bool,
}
const GRACE: Duration = Duration::from_secs(2);

/// Starts handling SIGINT and SIGTERM. Without it (job, agents) the default applies: the
/// process ends at once, having nothing to clean up.
pub fn install() {
    let Ok(mut signals) = Signals::new([SIGINT, SIGTERM]) else {
        return;
    };
    std::thread::spawn(move || {
        let Some(signal) = signals.forever().next() else {
            return;
        };
        RECEIVED.store(signal, Ordering::SeqCst);
        // The main thread now unwinds and exits by itself; step in only if it has not
        // within the grace period, or if a second signal insists.
        let deadline = Instant::now() + GRACE;
        while signals.pending().next().is_none() {
            if Instant::now() >= deadline && !committing() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        force_exit(signal);
    });
}

fn committing() -> bool {
    CLEANUP
        .lock()
        .map(|list| list.iter().any(|c| c.committing))
        .unwrap_or(false)
}

fn force_exit(signal: i32) -> ! {
    let mut kept = false;
    if let Ok(list) = CLEANUP.lock() {
        for c in list.iter() {
            if c.committing {
                kept = true;
                continue;
            }
            let _ = std::fs::remove_dir_all(&c.root);
            for dir in c.created.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    let what = if kept {
        "; the commit was cut short: the next gljob fetch into that destination puts it back as it was"
    } else {
        "; cleaned up"
    };
    crate::term::stderr(&format!("gljob: interrupted by {}{what}\n", name(signal)));
    std::process::exit(Kind::Interrupted(signal).code().into())
}

/// The failure to unwind with once a signal arrived.
pub fn check() -> Result<(), Failure> {
    match RECEIVED.load(Ordering::SeqCst) {
        0 => Ok(()),
        signal => Err(fail(
            Kind::Interrupted(signal),
            format!("interrupted by {}", name(signal)),
        )
        .detail("the destination was left as it was and temporary files were removed")),
    }
}

/// Sleeps for `d` (a backoff, a poll's gap), noticing a signal within 100 ms: a signal
/// ends the wait with the failure to unwind with, instead of a retry after it.
pub fn sleep(d: Duration) -> Result<(), Failure> {
    let until = Instant::now() + d;
    loop {
        check()?;
        let now = Instant::now();
        if now >= until {
            return Ok(());
        }
        std::thread::sleep((until - now).min(Duration::from_millis(100)));
    }
}

fn name(signal: i32) -> &'static str {
    if signal == SIGINT {
        "SIGINT"
    } else {
        "SIGTERM"
    }
}

/// Registers `root` (removed whole) and `created` (removed if empty) for a forced exit;
/// calling it again for the same root replaces the entry.
pub fn remove_on_signal(root: &Path, created: &[PathBuf]) {
    if let Ok(mut list) = CLEANUP.lock() {
        list.retain(|c| c.root != root);
        list.push(Cleanup {
            root: root.to_path_buf(),
            created: created.to_vec(),
            committing: false,
        });
    }
}

/// Marks `root` as holding a commit in progress (nothing in it may be removed by a forced
/// exit), or no longer.
pub fn set_committing(root: &Path, committing: bool) {
    if let Ok(mut list) = CLEANUP.lock() {
        for c in list.iter_mut().filter(|c| c.root == root) {
            c.committing = committing;
        }
    }
}

/// Forgets `root`: it is gone or kept.
pub fn forget(root: &Path) {
    if let Ok(mut list) = CLEANUP.lock() {
        list.retain(|c| c.root != root);
    }
}
