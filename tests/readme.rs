//! The README's "Which pipeline?" examples, run as pasted against the bundled fake's demo
//! world: the `gljob` lines of each YAML block, in a shell, with the variables GitLab (or the
//! example's trigger) would set. Extracted from README.md, so the two cannot drift apart.

use crate::util::{Gljob, as_job, server};

/// The `- gljob …` lines of the YAML blocks in the README section `heading`.
fn commands(heading: &str) -> Vec<String> {
    let readme = include_str!("../README.md");
    let start = readme
        .find(&format!("\n## {heading}\n"))
        .unwrap_or_else(|| panic!("README has no section {heading:?}"));
    let section = &readme[start + 1..];
    let section = &section[..section[3..].find("\n## ").map_or(section.len(), |e| e + 3)];
    let mut out = Vec::new();
    let mut in_yaml = false;
    for line in section.lines() {
        if line.starts_with("```") {
            in_yaml = line == "```yaml";
            continue;
        }
        if let Some(cmd) = line.trim().strip_prefix("- gljob ").filter(|_| in_yaml) {
            out.push(format!("gljob {cmd}"));
        }
    }
    out
}

#[test]
fn every_which_pipeline_example_runs_against_the_demo_world() {
    let commands = commands("Which pipeline?");
    assert!(commands.len() >= 6, "{commands:?}");
    let server = server();
    let fan_in = fake_gitlab::demo::FAN_IN_PIPELINE.to_string();
    for cmd in &commands {
        // `gljob` on PATH: $0 is the binary's path (Gljob::wrapped appends it).
        let script = format!("PATH=\"$(dirname \"$0\"):$PATH\"; {cmd}");
        let mut g = as_job(Gljob::wrapped(&["/bin/sh", "-c", &script]), &server);
        g.env("CI_PROJECT_ID", "2")
            .env("CI_PIPELINE_ID", &fan_in)
            .env("UPSTREAM_PIPELINE_ID", &fan_in)
            .env("UPSTREAM_PROJECT", "group/sub/my.project")
            .env("PARENT_PIPELINE_ID", &fan_in);
        let run = g.run();
        assert_eq!(run.code, Some(0), "README example failed: {cmd}\n{run}");
        assert!(
            std::fs::read_dir(g.dir()).unwrap().count() > 1,
            "{cmd} wrote something\n{run}"
        );
    }
}
