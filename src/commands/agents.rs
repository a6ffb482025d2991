//! `gljob agents`: the Kubernetes agents this job may use, `GET /job/allowed_agents`.

use anyhow::Result;
use serde_json::Value;

use crate::api::Api;
use crate::cli::AgentsArgs;
use crate::config::Config;
use crate::output::{show, table};

pub fn run(config: &Config, args: AgentsArgs) -> Result<()> {
    let body = Api::new(config)?.allowed_agents()?;
    super::print_body(&body, args.json, &args.field, summary)
}

/// The agents as a table, then the context GitLab evaluated them in. No agents is a normal
/// answer, said in words.
fn summary(body: &Value) -> String {
    let get = |path: &str| crate::output::lookup(body, path);
    let agents: Vec<&Value> = get("allowed_agents")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .collect();
    let mut out = String::new();
    if agents.is_empty() {
        out.push_str("no Kubernetes agents are allowed for this job\n");
    } else {
        let rows: Vec<(String, String)> = agents
            .iter()
            .map(|a| {
                (
                    show(a.get("id")),
                    show(crate::output::lookup(
                        a,
                        "config_project.path_with_namespace",
                    )),
                )
            })
            .collect();
        let width = rows
            .iter()
            .map(|(id, _)| id.len())
            .max()
            .unwrap_or(0)
            .max("AGENT".len());
        out.push_str(&format!("{:width$}  CONFIG PROJECT\n", "AGENT"));
        for (id, project) in rows {
            out.push_str(&format!("{id:width$}  {project}\n"));
        }
    }
    out.push('\n');
    let mut user = show(get("user.username"));
    if let Some(roles) = get("user.roles_in_project").and_then(Value::as_array) {
        let roles: Vec<String> = roles.iter().map(|r| show(Some(r))).collect();
        user.push_str(&format!(" (roles: {})", roles.join(", ")));
    }
    let mut rows = vec![
        ("job", show(get("job.id"))),
        ("pipeline", show(get("pipeline.id"))),
        ("project", show(get("project.id"))),
        ("user", user),
    ];
    if get("environment").is_some_and(Value::is_object) {
        rows.push((
            "environment",
            format!(
                "{} (slug {})",
                show(get("environment.tier")),
                show(get("environment.slug"))
            ),
        ));
    }
    out.push_str(&table(&rows));
    out
}
