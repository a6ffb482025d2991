//! The command line itself: version, help, usage errors, configuration errors.

use crate::util::{Gljob, gljob, server};

#[test]
fn version_names_revision_and_target() {
    let run = Gljob::bare().arg("--version").run();
    run.success().stdout_has(&[
        env!("CARGO_PKG_VERSION"),
        "rev ",
        "x86_64-unknown-linux-gnu",
    ]);
}

#[test]
fn help_shows_working_examples_and_exits_0() {
    let run = Gljob::bare().arg("help").run();
    run.success()
        .stdout_has(&["gljob job --field pipeline.id", "job", "agents"]);
    for command in ["job", "agents"] {
        let run = Gljob::bare().args(&[command, "--help"]).run();
        run.success().stdout_has(&[
            &format!("Usage: gljob {command}"),
            "Examples:",
            &format!("gljob {command}"),
        ]);
    }
}

#[test]
fn usage_errors_exit_2_with_the_usage_line() {
    let run = Gljob::bare().args(&["job", "--bogus"]).run();
    run.code(2).stderr_has(&["--bogus", "Usage: gljob job"]);
    Gljob::bare().arg("frobnicate").run().code(2);
    Gljob::bare().run().code(2).stderr_has(&["no command"]);
    Gljob::bare().args(&["job", "--field"]).run().code(2);
}

#[test]
fn missing_token_is_a_configuration_error_naming_it() {
    let server = server();
    let run = gljob(&server).env_remove("CI_JOB_TOKEN").arg("job").run();
    run.code(3)
        .stderr_has(&["CI_JOB_TOKEN", "export CI_JOB_TOKEN="]);
    assert!(
        server.requests().is_empty(),
        "nothing may be sent without a token"
    );
}

#[test]
fn missing_or_malformed_api_url_is_a_configuration_error() {
    let server = server();
    gljob(&server)
        .env_remove("CI_API_V4_URL")
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["CI_API_V4_URL"]);
    gljob(&server)
        .env("CI_API_V4_URL", "gitlab.example.com/api/v4")
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["CI_API_V4_URL", "http"]);
    gljob(&server)
        .env("GLJOB_RETRIES", "many")
        .arg("job")
        .run()
        .code(3)
        .stderr_has(&["GLJOB_RETRIES"]);
}

#[test]
fn server_url_is_the_fallback_for_the_api_url() {
    let server = server();
    gljob(&server)
        .env_remove("CI_API_V4_URL")
        .env("CI_SERVER_URL", &server.server_url())
        .arg("job")
        .run()
        .success();
    let log = server.requests();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].path, "/api/v4/job");
}

/// The flag-pair table in `src/cli.rs` (issue 14): every pair of fetch flags either works
/// or is a usage error that says why, never a flag silently ignored. The table is read from
/// the source, so it cannot drift from what gljob does: each `x` must be exit 2 with a
/// message naming one of the two flags, and no `+` may be exit 2.
#[test]
fn every_pair_of_flags_does_what_the_table_in_cli_rs_says() {
    let source = include_str!("../src/cli.rs");
    let table: Vec<&str> = source
        .lines()
        .skip_while(|l| !l.contains("BEGIN FLAG PAIRS"))
        .take_while(|l| !l.contains("END FLAG PAIRS"))
        .collect();
    let rows: Vec<(&str, Vec<bool>)> = table
        .iter()
        .filter_map(|l| l.strip_prefix("// -"))
        .map(|l| {
            let mut cells = l.split_whitespace();
            let flag = cells.next().unwrap();
            let ok: Vec<bool> = cells
                .map(|c| match c.trim_end_matches(['¹', '²', '³']) {
                    "+" => true,
                    "x" => false,
                    other => panic!("cell {other:?} in the row of -{flag}"),
                })
                .collect();
            (flag, ok)
        })
        .collect();
    let args = |flag: &str| -> Vec<&str> {
        match flag {
            "-ref" => vec!["--ref", "main"],
            "-latest-pipeline" => vec!["--latest-pipeline"],
            "-pipeline" => vec!["--pipeline", "26"],
            "-child" => vec!["--child", "child"],
            "-job" => vec!["--job", "build"],
            "-job-id" => vec!["--job-id", "102"],
            "-wait" => vec!["--wait", "1m"],
            "-per-job" => vec!["--per-job"],
            "-project" => vec!["--project", "group/sub/my.project"],
            "-dest" => vec!["--dest", "out"],
            "-path" => vec!["--path", "**"],
            "-list" => vec!["--list"],
            "-file" => vec!["--file", "dist/app"],
            "o" => vec!["-o", "out.bin"],
            "-json" => vec!["--json"],
            "-quiet" => vec!["--quiet"],
            "-max-*" => vec!["--max-bytes", "1G"],
            "-allow-external-symlinks" => vec!["--allow-external-symlinks"],
            other => panic!("the table has a flag -{other} this test does not know"),
        }
    };
    assert_eq!(rows.len(), 18, "{table:#?}");
    let server = server();
    let mut checked = 0;
    for (i, (a, cells)) in rows.iter().enumerate() {
        assert_eq!(
            cells.len(),
            i,
            "the row of -{a} needs one cell per flag above it"
        );
        for (j, ok) in cells.iter().enumerate() {
            let b = rows[j].0;
            let mut cmd: Vec<&str> = vec!["fetch"];
            cmd.extend(args(a));
            cmd.extend(args(b));
            // Complete the selection the pair leaves open, the way a user would.
            let has = |f: &str| cmd.contains(&f);
            let mut more: Vec<&str> = Vec::new();
            if has("--job-id") {
            } else if has("--ref") {
                if !has("--job") {
                    more.extend(["--job", "build"]);
                }
            } else if has("--pipeline") || has("--child") || has("--wait") {
                if !has("--pipeline") {
                    more.extend(["--pipeline", "26"]);
                }
                if !has("--job") {
                    more.extend(["--job", if has("--child") { "package" } else { "compile" }]);
                }
            } else {
                more.extend(["--ref", "main"]);
                if !has("--job") {
                    more.extend(["--job", "build"]);
                }
            }
            cmd.extend(more);
            let run = gljob(&server).env("CI_PROJECT_ID", "2").args(&cmd).run();
            if *ok {
                assert_ne!(
                    run.code,
                    Some(2),
                    "the table says + for -{a} with -{b}\n{run}"
                );
            } else {
                run.code(2);
                let named = |f: &str| {
                    let needle = match f {
                        "o" => "-o".to_string(),
                        "-max-*" => "--max-".to_string(),
                        f => format!("-{f}"),
                    };
                    run.stderr.contains(&needle)
                };
                assert!(
                    named(a) || named(b),
                    "the usage error for -{a} with -{b} must say which flag\n{run}"
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, 18 * 17 / 2);

    // The other commands' pairs, from the same table.
    let others = [
        (&["--version", "job"][..], "--version"),
        (&["job", "--json", "--field", "id"], "--field"),
        (&["agents", "--json", "--field", "id"], "--field"),
    ];
    for (cmd, named) in others {
        gljob(&server).args(cmd).run().code(2).stderr_has(&[named]);
    }
    assert!(
        table.iter().filter(|l| l.contains("  x  (")).count() == others.len(),
        "each non-fetch pair in the table is tested here"
    );
    // ¹: --file --json with -o FILE is a JSON summary, not an error.
    let run = gljob(&server)
        .env("CI_PROJECT_ID", "2")
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--file", "dist/app", "--json", "-o", "app",
        ])
        .run();
    let summary: serde_json::Value = serde_json::from_slice(&run.success().stdout).unwrap();
    assert_eq!(summary["file"], "dist/app");
    assert_eq!(summary["mode"], "755");
    assert_eq!(summary["output"], "app");
    assert_eq!(summary["jobs"][0]["name"], "build");
}

/// A port the URL parser cannot hold used to fall back to 80: a configuration error now,
/// naming the URL.
#[test]
fn an_api_url_with_a_port_out_of_range_is_a_configuration_error() {
    let server = server();
    let run = gljob(&server)
        .env("CI_API_V4_URL", "http://127.0.0.1:140427/api/v4")
        .arg("job")
        .run();
    run.code(3).stderr_has(&[
        "CI_API_V4_URL",
        "http://127.0.0.1:140427/api/v4",
        "port 140427",
    ]);
    assert!(server.requests().is_empty());
}
