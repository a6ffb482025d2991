//! gljob's integration tests: the real binary, as a subprocess, against the fake GitLab on
//! 127.0.0.1. One test binary (ripgrep's layout) so it builds once.

mod util;

mod agents;
mod casefold;
mod cli;
mod editions;
mod escaping;
mod extract_safety;
mod faults;
mod fetch;
mod fetch_errors;
mod globs;
mod hardening;
mod images;
mod job;
mod large;
mod local_faults;
mod properties;
mod pygitlab;
mod readme;
mod real_archives;
mod select;
mod signals;
mod transport;
mod write_once;
