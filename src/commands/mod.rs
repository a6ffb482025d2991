//! One function per subcommand; `run` picks it.

mod agents;
mod fetch;
mod job;

use anyhow::Result;
use serde_json::Value;

use crate::cli::{Cli, Command};
use crate::config::Config;
use crate::output;
use crate::term;

pub fn run(cli: Cli) -> Result<()> {
    if cli.version {
        return Ok(term::stdout(crate::cli::version().as_bytes())?);
    }
    let Some(command) = cli.command else {
        return Err(crate::cli::usage(
            "no command given: use gljob job, gljob agents or gljob fetch",
        )
        .into());
    };
    let config = Config::from_env()?;
    match command {
        Command::Job(args) => job::run(&config, args),
        Command::Agents(args) => agents::run(&config, args),
        Command::Fetch(args) => fetch::run(&config, args),
    }
}

/// The shared shape of `job` and `agents`: the body as received (`--json`), single values
/// (`--field`), or the command's own summary.
fn print_body(
    body: &[u8],
    json: bool,
    fields: &[String],
    summary: fn(&Value) -> String,
) -> Result<()> {
    if json {
        return Ok(term::stdout(body)?);
    }
    // The API layer has already checked that the body is JSON.
    let value: Value = serde_json::from_slice(body)?;
    let text = if fields.is_empty() {
        summary(&value)
    } else {
        output::fields(&value, fields)?
    };
    Ok(term::stdout(text.as_bytes())?)
}
