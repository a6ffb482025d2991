//! The README's command blocks, run as pasted against the bundled fake GitLab and extracted
//! from README.md, so the two cannot drift apart (issue 14: "every README line works as
//! written"). Every ```sh and ```yaml block is run by a test here — but the install lines,
//! which `tests/images.rs` runs against the fake's package registry — and a block this file
//! does not know fails [`every_command_block_of_the_readme_is_run`] until it is.

use std::path::{Path, PathBuf};

use crate::util::{Gljob, as_job, server};

/// A fenced ```sh or ```yaml block of the README, with the `## ` section it is in.
struct Block {
    section: String,
    lines: Vec<String>,
}

fn blocks() -> Vec<Block> {
    let readme = include_str!("../README.md");
    let mut out = Vec::new();
    let mut section = String::new();
    // Inside a fence: the lines of a command block, or `None` for another kind (text, a
    // layout), whose lines are skipped.
    let mut fence: Option<Option<Vec<String>>> = None;
    for line in readme.lines() {
        match &mut fence {
            Some(block) if line.starts_with("```") => {
                if let Some(lines) = block.take() {
                    out.push(Block {
                        section: section.clone(),
                        lines,
                    });
                }
                fence = None;
            }
            Some(Some(lines)) => lines.push(line.to_string()),
            Some(None) => {}
            None if line.starts_with("```") => {
                let command = line == "```sh" || line == "```yaml";
                fence = Some(command.then(Vec::new));
            }
            None => {
                if let Some(heading) = line.strip_prefix("## ") {
                    section = heading.to_string();
                }
            }
        }
    }
    out
}

/// Which test runs a block.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Runner {
    /// `./demo.sh` ([`the_demo_runs_against_the_built_binaries`]) and `cargo test`, which
    /// is this very run.
    TryIt,
    /// Starting the fake by hand ([`the_by_hand_recipe_runs_against_the_built_fake`]).
    ByHand,
    /// The `.gitlab-ci.yml` example ([`the_gitlab_ci_example_runs_as_a_job_of_project_1`]).
    CiExample,
    /// "Which pipeline?" ([`every_which_pipeline_example_runs_against_the_demo_world`]).
    WhichPipeline,
    /// install.sh in images (`tests/images.rs`).
    Install,
}

fn runner(block: &Block) -> Option<Runner> {
    let has = |text: &str| block.lines.iter().any(|l| l.contains(text));
    match block.section.as_str() {
        "Try it (no GitLab needed)" if has("./demo.sh") => Some(Runner::TryIt),
        "Try it (no GitLab needed)" if has("fake-gitlab --help") => Some(Runner::ByHand),
        "In `.gitlab-ci.yml`" => Some(Runner::CiExample),
        "Which pipeline?" => Some(Runner::WhichPipeline),
        "Install" if has("install.sh") => Some(Runner::Install),
        _ => None,
    }
}

fn blocks_of(which: Runner) -> Vec<Block> {
    blocks()
        .into_iter()
        .filter(|b| runner(b).as_ref() == Some(&which))
        .collect()
}

/// The `- gljob …` lines of a YAML block (not its `before_script` install line).
fn script_lines(block: &Block) -> Vec<String> {
    block
        .lines
        .iter()
        .filter_map(|l| l.trim().strip_prefix("- gljob "))
        .map(|cmd| format!("gljob {cmd}"))
        .collect()
}

#[test]
fn every_command_block_of_the_readme_is_run() {
    let all = blocks();
    for b in &all {
        assert!(
            runner(b).is_some(),
            "README section {:?} has a command block no test runs: add it to tests/readme.rs\n{}",
            b.section,
            b.lines.join("\n")
        );
    }
    let count = |r: Runner| all.iter().filter(|b| runner(b) == Some(r)).count();
    assert_eq!(count(Runner::TryIt), 1);
    assert_eq!(count(Runner::ByHand), 1);
    assert_eq!(count(Runner::CiExample), 1);
    assert_eq!(count(Runner::Install), 1);
    assert!(count(Runner::WhichPipeline) >= 5);
    // The install lines are images.rs's: it runs install.sh the way they do.
    let images = include_str!("images.rs");
    assert!(images.contains("GLJOB_DOWNLOAD_URL") && images.contains("GLJOB_VERSION"));
}

/// The directory holding the binaries this test run built (`target/debug`), with the
/// fake's standalone binary in it: `cargo test --workspace` builds it for fake-gitlab's
/// own tests (`env!("CARGO_BIN_EXE_fake-gitlab")` exists only there).
fn built() -> PathBuf {
    let dir = Path::new(env!("CARGO_BIN_EXE_gljob"))
        .parent()
        .expect("target/debug")
        .to_path_buf();
    assert!(
        dir.join("fake-gitlab").is_file(),
        "{} has no fake-gitlab: run cargo test --workspace (or cargo build --workspace --bins --examples) first",
        dir.display()
    );
    dir
}

/// The recipe for starting the fake by hand, as pasted, in a directory whose `target` is
/// this run's target directory. Its `cargo build` line is left out: this run built those
/// binaries (cargo inside `cargo test` would wait for the build lock, or rebuild them).
#[test]
fn the_by_hand_recipe_runs_against_the_built_fake() {
    let [block] = &blocks_of(Runner::ByHand)[..] else {
        panic!("one by-hand block");
    };
    let lines: Vec<&str> = block
        .lines
        .iter()
        .map(String::as_str)
        .filter(|l| !l.starts_with("cargo build"))
        .collect();
    assert!(
        lines.iter().any(|l| l.contains("--background")),
        "{lines:?}"
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("kill ")),
        "{lines:?}"
    );
    // Should a line fail, the fake it started is stopped all the same.
    let script = format!(
        "set -eu\ntrap 'if [ -n \"${{FAKE_GITLAB_PID:-}}\" ]; then kill \"$FAKE_GITLAB_PID\" 2>/dev/null || true; fi' EXIT\n{}\nunset FAKE_GITLAB_PID\n",
        lines.join("\n")
    );
    let mut g = Gljob::wrapped(&["/bin/sh", "-c", &script]);
    let target = built()
        .parent()
        .expect("the target directory")
        .to_path_buf();
    std::os::unix::fs::symlink(&target, g.dir().join("target")).unwrap();
    let run = g.run();
    assert_eq!(run.code, Some(0), "the README's recipe failed\n{run}");
    assert_eq!(run.stdout().lines().last(), Some("6"), "{run}");
    assert!(g.dir().join("vendor/dist/bin/app").is_file(), "{run}");
}

/// `./demo.sh` as the README runs it, without its build (this run built the binaries).
#[test]
fn the_demo_runs_against_the_built_binaries() {
    let [block] = &blocks_of(Runner::TryIt)[..] else {
        panic!("one Try it block");
    };
    assert!(block.lines.iter().any(|l| l.starts_with("./demo.sh")));
    assert!(
        block
            .lines
            .iter()
            .any(|l| l.starts_with("cargo test --workspace"))
    );
    let demo = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo.sh");
    let target = built()
        .parent()
        .expect("the target directory")
        .to_path_buf();
    let mut g = Gljob::wrapped(&[demo.to_str().unwrap()]);
    g.env("GLJOB_DEMO_PREBUILT", "1")
        .env("CARGO_TARGET_DIR", target.to_str().unwrap());
    let run = g.run();
    assert_eq!(run.code, Some(0), "{run}");
    let out = run.stdout();
    for shown in [
        "$ gljob job\x1b[0m\n",
        "gljob: fetched 2 files",
        "-rwxr-xr-x",
        "bin/app\n",
        "no successful job \"biuld\"",
        "(exit 6)",
        "does not let this job's token in",
        "(exit 5)",
    ] {
        assert!(
            out.contains(shown) || run.stderr.contains(shown),
            "the demo shows no {shown:?}\n{run}"
        );
    }
    // Only the two refusals the demo means to show fail.
    assert_eq!(out.matches("(exit ").count(), 2, "{run}");
}

/// The `.gitlab-ci.yml` example's script, line by line in one shell as a job's script
/// runs, as a job of the fake's project 1 (the demo world has its `build` on `main` and
/// `group/backend`'s `v1.2.3`).
#[test]
fn the_gitlab_ci_example_runs_as_a_job_of_project_1() {
    let [block] = &blocks_of(Runner::CiExample)[..] else {
        panic!("one .gitlab-ci.yml block");
    };
    let commands = script_lines(block);
    assert_eq!(commands.len(), 4, "{commands:?}");
    let server = server();
    // `gljob` on PATH: $0 is the binary's path (Gljob::wrapped appends it).
    let script = format!(
        "set -e\nPATH=\"$(dirname \"$0\"):$PATH\"\n{}\n",
        commands.join("\n")
    );
    let mut g = as_job(Gljob::wrapped(&["/bin/sh", "-c", &script]), &server);
    let run = g.run();
    assert_eq!(run.code, Some(0), "the README's example failed\n{run}");
    assert_eq!(run.stdout().lines().next(), Some("6"), "{run}");
    let dir = g.dir();
    assert!(dir.join("vendor/dist/app.tar.gz").is_file(), "{run}");
    assert!(dir.join("reports/junit-1.xml").is_file(), "{run}");
    assert!(
        !dir.join("coverage").exists(),
        "--path \"reports/**\" only\n{run}"
    );
    assert!(dir.join("app.tar.gz").is_file(), "{run}");
}

#[test]
fn every_which_pipeline_example_runs_against_the_demo_world() {
    let commands: Vec<String> = blocks_of(Runner::WhichPipeline)
        .iter()
        .flat_map(script_lines)
        .collect();
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
