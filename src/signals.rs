//! Ctrl-C and SIGTERM during a fetch: clean up, then exit 130 / 143.
//!
//! A watcher thread turns the signal into a flag. The main thread checks the flag between
//! chunks and entries ([`check`]), unwinds with an `Interrupted` failure, and its guards
//! remove the staging directory and roll back the destination. If the main thread does not
//! finish within [`GRACE`] (it may be blocked reading a stalled connection, writing nothing),
//! or a second signal arrives, the watcher removes the registered paths itself and exits.

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
static CLEANUP: Mutex<Vec<(PathBuf, Vec<PathBuf>)>> = Mutex::new(Vec::new());
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
        while Instant::now() < deadline && signals.pending().next().is_none() {
            std::thread::sleep(Duration::from_millis(20));
        }
        force_exit(signal);
    });
}

fn force_exit(signal: i32) -> ! {
    if let Ok(list) = CLEANUP.lock() {
        for (root, created) in list.iter() {
            let _ = std::fs::remove_dir_all(root);
            for dir in created.iter().rev() {
                let _ = std::fs::remove_dir(dir);
            }
        }
    }
    crate::term::stderr(&format!(
        "gljob: interrupted by {}; cleaned up\n",
        name(signal)
    ));
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
        list.retain(|(r, _)| r != root);
        list.push((root.to_path_buf(), created.to_vec()));
    }
}

/// Forgets `root`: it is gone or kept.
pub fn forget(root: &Path) {
    if let Ok(mut list) = CLEANUP.lock() {
        list.retain(|(r, _)| r != root);
    }
}
