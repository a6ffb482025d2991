//! gljob: a GitLab CI job's own helper. `main` parses, runs, reports, and maps the exit code;
//! everything else lives in the library (`lib.rs`).

#![forbid(unsafe_code)]

use std::process::ExitCode;

use gljob::{cli, commands, error, term};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match cli::parse(&args) {
        Ok(cli::Parsed::Help(text)) => {
            return ExitCode::from(if term::stdout(text.as_bytes()).is_ok() {
                0
            } else {
                1
            });
        }
        Ok(cli::Parsed::Run(cli)) => commands::run(cli),
        Err(usage) => Err(usage.into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error::report(&err);
            ExitCode::from(error::exit_code(&err))
        }
    }
}
