//! `gljob job`: who am I? `GET /job` as a summary, `--json` or `--field`.

use anyhow::Result;
use serde_json::Value;

use crate::api::Api;
use crate::cli::JobArgs;
use crate::config::Config;
use crate::output::{bytes, show, table};
use crate::term::escape;

pub fn run(config: &Config, args: JobArgs) -> Result<()> {
    let body = Api::new(config)?.job()?;
    super::print_body(&body, args.json, &args.field, summary)
}

/// A few lines a person reads in a job log. Every field may be missing or null on some
/// GitLab version, so each is looked up leniently.
fn summary(job: &Value) -> String {
    let get = |path: &str| crate::output::lookup(job, path);
    let field = |path: &str| show(get(path));
    let mut status = field("status");
    if let Some(reason) = get("failure_reason").and_then(Value::as_str) {
        status.push_str(&format!(" ({})", escape(reason)));
    }
    let ref_kind = match get("tag").and_then(Value::as_bool) {
        Some(true) => " (tag)",
        Some(false) => " (branch)",
        None => "",
    };
    let mut pipeline = field("pipeline.id");
    if let Some(source) = get("pipeline.source").and_then(Value::as_str) {
        pipeline.push_str(&format!(" (source {})", escape(source)));
    }
    let project = match get("pipeline.project_id") {
        Some(v) if !v.is_null() => show(Some(v)),
        _ => field("project.id"),
    };
    let runner = match get("runner") {
        Some(r) if r.is_object() => {
            format!("{} (#{})", show(r.get("description")), show(r.get("id")))
        }
        _ => "-".to_string(),
    };
    let rows = [
        ("job", format!("{} {}", field("id"), field("name"))),
        ("stage", field("stage")),
        ("status", status),
        ("ref", format!("{}{ref_kind}", field("ref"))),
        ("pipeline", pipeline),
        ("project", project),
        ("user", field("user.username")),
        ("runner", runner),
        ("started", field("started_at")),
        ("web", field("web_url")),
        ("artifacts", artifacts(get("artifacts"))),
    ];
    table(&rows)
}

fn artifacts(list: Option<&Value>) -> String {
    let items: Vec<String> = list
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|a| {
            let size = a
                .get("size")
                .and_then(Value::as_u64)
                .map(bytes)
                .unwrap_or_else(|| "?".into());
            format!(
                "{} ({}, {size})",
                show(a.get("filename")),
                show(a.get("file_type"))
            )
        })
        .collect();
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(", ")
    }
}
