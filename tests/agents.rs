//! `gljob agents`: the allowed-agents table, no agents, `--json`, `--field`.

use crate::util::{gljob, server};

#[test]
fn table_lists_agents_and_the_context() {
    let server = server();
    let run = gljob(&server).arg("agents").run();
    run.success().stdout_has(&[
        "AGENT",
        "CONFIG PROJECT",
        "namespace1/project1",
        "root",
        "guest, planner, reporter, developer",
    ]);
    let out = run.stdout();
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().eq(["1", "namespace1/project1"])),
        "{run}"
    );
}

#[test]
fn roles_and_environment_are_shown_when_present() {
    let server = server();
    server.world().agents_body = Some(r#"{"allowed_agents":[{"id":4,"config_project":{"path_with_namespace":"ops/agents"}},
        {"id":12,"config_project":{"path_with_namespace":"ops/prod"}}],"job":{"id":31},"pipeline":{"id":7},
        "project":{"id":3,"groups":[]},"user":{"id":2,"username":"ana","roles_in_project":["reporter","developer"]},
        "environment":{"tier":"production","slug":"prod-x1"}}"#
        .into());
    let run = gljob(&server).arg("agents").run();
    run.success().stdout_has(&[
        "ops/agents",
        "ops/prod",
        "reporter, developer",
        "production (slug prod-x1)",
        "31",
    ]);
}

#[test]
fn no_agents_is_a_normal_answer() {
    let server = server();
    server.world().agents_body = Some(r#"{"allowed_agents":[],"job":{"id":8},"pipeline":{"id":6},"project":{"id":1},"user":{"id":1,"username":"root"}}"#.into());
    gljob(&server)
        .arg("agents")
        .run()
        .success()
        .stdout_has(&["no Kubernetes agents"]);
}

#[test]
fn json_and_fields() {
    let server = server();
    let body = server.agents_json();
    let run = gljob(&server).args(&["agents", "--json"]).run();
    assert_eq!(run.success().stdout(), body);
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    let run = gljob(&server)
        .args(&[
            "agents",
            "--field",
            "allowed_agents.0.config_project.path_with_namespace",
            "--field",
            "project.groups.0.id",
            "--field",
            "user.roles_in_project.3",
        ])
        .run();
    assert_eq!(
        run.success().stdout(),
        format!(
            "namespace1/project1\n{}\ndeveloper\n",
            parsed["project"]["groups"][0]["id"]
        )
    );
    gljob(&server)
        .args(&["agents", "--field", "environment.tier"])
        .run()
        .code(6)
        .stderr_has(&["environment.tier"]);
}

#[test]
fn agents_errors_are_explained_like_job() {
    let server = server();
    gljob(&server)
        .env("CI_JOB_TOKEN", crate::util::FINISHED_TOKEN)
        .arg("agents")
        .run()
        .code(4);
    gljob(&server)
        .env("CI_JOB_TOKEN", crate::util::PAT)
        .arg("agents")
        .run()
        .code(4)
        .stderr_has(&["not a job token at all"]);
}
