//! gljob as a library: everything but `main`. The binary (`main.rs`) parses, runs, reports
//! and maps the exit code; the fuzz targets (`fuzz/`) drive the archive rules and the
//! extractor directly. Not a stable API: the command line is gljob's interface.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used))]

pub mod api;
pub mod archive;
pub mod cli;
pub mod commands;
pub mod commit;
pub mod config;
pub mod dirs;
pub mod download;
pub mod error;
pub mod extract;
pub mod glob;
pub mod merge;
pub mod output;
pub mod progress;
pub mod select;
pub mod signals;
pub mod single;
pub mod staging;
pub mod term;
pub mod time;
pub mod transport;
pub mod url;
pub mod zipfmt;
