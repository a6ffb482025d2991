//! Nothing a server or an archive controls can forge gljob's output: control characters and
//! bidi overrides in entry names, job fields and GitLab's messages are shown escaped, raw C1
//! and bidi characters never reach `--json`, and a message that echoes the token prints
//! `[REDACTED]` instead.

use fake_gitlab::zips::{Entry, build};
use fake_gitlab::{Fault, FaultKind};

use crate::util::{Run, TOKEN, gljob, publish_build, server};

/// The characters gljob must never print raw when it did not write them: C0 (but for the
/// newline that ends gljob's own lines), DEL, C1, the bidi controls and the Unicode line
/// separators.
fn forbidden(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{61c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn assert_no_raw_controls(text: &str, what: &str, run: &Run) {
    if let Some(c) = text.chars().find(|c| forbidden(*c)) {
        panic!("{what} holds a raw {c:?}\n{run}");
    }
}

/// An error is gljob's paragraph: one `gljob: error: ` line, then indented details and
/// hints. A line of any other shape was forged.
fn assert_one_error_paragraph(run: &Run) {
    let mut lines = run.stderr.lines();
    let first = lines.next().unwrap_or_default();
    assert!(first.starts_with("gljob: error: "), "{run}");
    for line in lines {
        assert!(line.starts_with("  "), "a forged line {line:?}\n{run}");
    }
    assert_no_raw_controls(&run.stderr, "stderr", run);
}

/// Entry names an archive may carry (the archive rules refuse NUL and backslashes, not
/// these), each with how `--list` shows it.
const HOSTILE_NAMES: [(&str, &str); 7] = [
    (
        "a\n-644            9 forged-row",
        "a\\n-644            9 forged-row",
    ),
    ("tab\there", "tab\\there"),
    ("cr\rback", "cr\\rback"),
    ("esc\u{1b}[2Jclear", "esc\\u{1b}[2Jclear"),
    ("rlo\u{202e}txt.exe", "rlo\\u{202e}txt.exe"),
    ("nel\u{85}line", "nel\\u{85}line"),
    ("isolate\u{2066}x\u{2069}", "isolate\\u{2066}x\\u{2069}"),
];

fn hostile_archive() -> Vec<u8> {
    let entries: Vec<Entry> = HOSTILE_NAMES
        .iter()
        .map(|(name, _)| Entry::file(name, b"x", 0o644))
        .collect();
    build(&entries)
}

#[test]
fn list_prints_one_row_per_entry_with_names_escaped() {
    let server = server();
    publish_build(&server, hostile_archive());
    let run = gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--list"])
        .run();
    run.success();
    let out = run.stdout();
    assert_no_raw_controls(&out, "stdout", &run);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), HOSTILE_NAMES.len(), "one row per entry\n{run}");
    for (row, (_, shown)) in rows.iter().zip(HOSTILE_NAMES) {
        assert_eq!(*row, format!("-644            1 {shown}"), "{run}");
    }
}

#[test]
fn list_json_has_no_raw_c1_or_bidi_and_keeps_the_names_exact() {
    let server = server();
    publish_build(&server, hostile_archive());
    let run = gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--list", "--json",
        ])
        .run();
    run.success();
    // serde_json escapes C0 itself; C1 and bidi must be `\uXXXX` too.
    assert_no_raw_controls(run.stdout().trim_end(), "--list --json", &run);
    assert!(run.stdout().contains(r"rlo\u202etxt.exe"), "{run}");
    let items: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let paths: Vec<&str> = items
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["path"].as_str().unwrap())
        .collect();
    let names: Vec<&str> = HOSTILE_NAMES.iter().map(|(name, _)| *name).collect();
    assert_eq!(paths, names, "the JSON means exactly the archive's names");
}

#[test]
fn entry_names_in_an_error_cannot_add_lines() {
    // --path that matches nothing names a few entries: archive text inside a detail.
    let server = server();
    publish_build(&server, hostile_archive());
    let run = gljob(&server)
        .args(&[
            "fetch", "--ref", "main", "--job", "build", "--path", "nothing",
        ])
        .fails_unchanged(6, &["nothing", r"a\n-644            9 forged-row"]);
    assert_one_error_paragraph(&run);
}

#[test]
fn a_refused_entry_name_is_escaped_in_the_refusal() {
    let server = server();
    publish_build(
        &server,
        build(&[Entry::file(
            "../\ngljob: fetched 3 files\u{202e}",
            b"x",
            0o644,
        )]),
    );
    let run = gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build", "--list"])
        .fails_unchanged(8, &["climbs out", r"\ngljob: fetched 3 files\u{202e}"]);
    assert_one_error_paragraph(&run);
}

/// GitLab's JSON error with a message that tries to end gljob's paragraph and print a line
/// of its own. (`HttpError::tried` quotes messages with `{:?}`, and `error::report` escapes
/// every line again: this holds gljob to both.)
fn forging_message(code: u16, extra: &str) -> FaultKind {
    let message = format!(
        "{code} Forbidden{extra}\ngljob: fetched 3 files (1.0 KiB) from job 1 into . in 0.1 s\r\u{1b}[2K\u{85}\u{202e}"
    );
    FaultKind::Status {
        code,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: serde_json::json!({ "message": message }).to_string(),
    }
}

#[test]
fn a_server_message_cannot_forge_a_line_in_an_error() {
    let server = server();
    publish_build(&server, hostile_archive());
    server.inject(Fault::new("/artifacts", forging_message(403, "")));
    let run = gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build"])
        .fails_unchanged(5, &["403", r"\ngljob: fetched 3 files"]);
    assert_one_error_paragraph(&run);

    server.inject(Fault::new("/job", forging_message(403, "")));
    let run = gljob(&server).arg("job").run();
    run.code(5);
    assert_one_error_paragraph(&run);
}

#[test]
fn a_server_message_that_echoes_the_token_prints_it_redacted() {
    let server = server();
    publish_build(&server, hostile_archive());
    let echo = format!(": JOB-TOKEN {TOKEN} is not allowed");
    server.inject(Fault::new("/artifacts", forging_message(403, &echo)));
    // The harness fails any run whose output holds a secret; the message must still show.
    let run = gljob(&server)
        .args(&["fetch", "--ref", "main", "--job", "build"])
        .fails_unchanged(5, &["JOB-TOKEN [REDACTED] is not allowed"]);
    assert!(!run.stderr.contains(TOKEN));

    // The same in a debug run, and for `gljob job`.
    server.inject(Fault::new("/job", forging_message(403, &echo)));
    let run = gljob(&server).env("GLJOB_LOG", "debug").arg("job").run();
    run.code(5).stderr_has(&["[REDACTED]", "gljob: debug: "]);
    assert!(!run.stderr.contains(TOKEN));
}

#[test]
fn a_token_in_the_job_body_is_redacted_in_every_output() {
    let server = server();
    let body = server.job_json().replace("rubocop", TOKEN);
    server.world().job_body = Some(body.clone());
    gljob(&server)
        .arg("job")
        .run()
        .success()
        .stdout_has(&["8 [REDACTED]"]);
    let run = gljob(&server).args(&["job", "--field", "name"]).run();
    assert_eq!(run.success().stdout(), "[REDACTED]\n");
    let run = gljob(&server).args(&["job", "--json"]).run();
    assert_eq!(
        run.success().stdout(),
        body.replace(TOKEN, "[REDACTED]"),
        "otherwise byte for byte"
    );
}

/// A job name that tries to add a summary row, flip the text after it, and clear the screen.
const HOSTILE_JOB_NAME: &str = "rubocop\nstatus     success\u{202e}\u{1b}[2J\u{9b}";
const HOSTILE_JOB_NAME_SHOWN: &str = r"rubocop\nstatus     success\u{202e}\u{1b}[2J\u{9b}";

fn hostile_job_body(server: &fake_gitlab::Server) -> String {
    let name = serde_json::to_string(HOSTILE_JOB_NAME).unwrap();
    // serde_json leaves C1 and bidi raw, as a server may send them.
    assert!(name.contains('\u{202e}') && name.contains('\u{9b}'));
    // A failed job, so that the body has a failure_reason to make hostile too.
    server.world().job_mut(8).unwrap().status = "failed".into();
    let body = server
        .job_json()
        .replace("\"rubocop\"", &name)
        .replace("\"script_failure\"", "\"script_failure\\t\\u001b[1A\"");
    server.world().job_body = Some(body.clone());
    body
}

#[test]
fn job_summary_escapes_a_hostile_name() {
    let server = server();
    hostile_job_body(&server);
    let run = gljob(&server).arg("job").run();
    run.success();
    let out = run.stdout();
    assert_no_raw_controls(&out, "the summary", &run);
    let rows: Vec<&str> = out.lines().collect();
    assert_eq!(rows.len(), 11, "one row per label\n{run}");
    assert_eq!(
        rows[0],
        format!("job        8 {HOSTILE_JOB_NAME_SHOWN}"),
        "{run}"
    );
    assert_eq!(
        rows.iter().filter(|r| r.starts_with("status")).count(),
        1,
        "{run}"
    );
    run.stdout_has(&[r"failed (script_failure\t\u{1b}[1A)"]);
}

#[test]
fn job_field_escapes_like_the_summary_and_json_escapes_c1_and_bidi() {
    let server = server();
    let body = hostile_job_body(&server);
    let run = gljob(&server)
        .args(&["job", "--field", "name", "--field", "id"])
        .run();
    assert_eq!(
        run.success().stdout(),
        format!("{HOSTILE_JOB_NAME_SHOWN}\n8\n"),
        "one line per field"
    );

    let run = gljob(&server).args(&["job", "--json"]).run();
    run.success();
    let expected = body
        .replace('\u{202e}', r"\u202e")
        .replace('\u{9b}', r"\u009b");
    assert_eq!(run.stdout(), expected, "otherwise byte for byte");
    let parsed: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(
        parsed["name"], HOSTILE_JOB_NAME,
        "the same value for a script"
    );
}

#[test]
fn agents_summary_escapes_server_text() {
    let server = server();
    let body = server
        .agents_json()
        .replace(
            "namespace1/project1",
            r"namespace1/project1\n2     evil/forged\u202e",
        )
        .replace("\"root\"", "\"root\u{85}\"");
    server.world().agents_body = Some(body);
    let run = gljob(&server).arg("agents").run();
    run.success().stdout_has(&[
        r"namespace1/project1\n2     evil/forged\u{202e}",
        r"root\u{85}",
    ]);
    assert_no_raw_controls(&run.stdout(), "the agents summary", &run);
    assert!(!run.stdout().lines().any(|l| l.starts_with("2 ")), "{run}");
}
