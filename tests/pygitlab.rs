//! A client nobody here wrote against the fake (issue 13, item 8): python-gitlab, from PyPI
//! in a throwaway virtualenv (`scripts/pygitlab-venv.sh`, the benchmark's too), drives every
//! route gljob uses — `GET /job`, the project's and the pipeline's jobs lists, the archive by
//! job id and by ref, one file each way, a generic package file — through
//! `bench/pygitlab.py routes`, in local and object-storage modes. Whatever the fake answers
//! differently from GitLab where python-gitlab depends on it (pagination, redirects,
//! content, the storage's handling of the JOB-TOKEN that requests carries across the 302)
//! fails here.
//!
//! Without python3's venv or without PyPI the test prints `skipping: …` and passes — unless
//! `GLJOB_REQUIRE_PYGITLAB=1` (set by `.ci/run`), where it fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;

use fake_gitlab::zips::sample;
use fake_gitlab::{Archive, Config, Origin, demo};

use crate::util::{TOKEN, server_with};

const PACKAGE: &[u8] = b"0123abcd  gljob-0.1.0-x86_64-linux\n";

/// The venv's python, or `None` (said on stderr) where it cannot be made.
fn python_gitlab() -> Option<PathBuf> {
    let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("pygitlab-venv");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/pygitlab-venv.sh");
    // The machine's own environment: pip may need its proxy to reach PyPI.
    let made = Command::new("sh").arg(&script).arg(&venv).output();
    let why = match made {
        Ok(out) if out.status.success() => return Some(venv.join("bin/python")),
        Ok(out) => format!(
            "{} ({}): {}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ),
        Err(e) => format!("cannot run sh: {e}"),
    };
    if std::env::var("GLJOB_REQUIRE_PYGITLAB").as_deref() == Ok("1") {
        panic!("GLJOB_REQUIRE_PYGITLAB=1, but no python-gitlab: {why}");
    }
    eprintln!("skipping: no python-gitlab to test the fake with: {why}");
    None
}

#[test]
fn python_gitlab_works_against_the_fake_in_both_storage_modes() {
    let Some(python) = python_gitlab() else {
        return;
    };
    for object_storage in [false, true] {
        let server = server_with(Config {
            object_storage,
            ..Config::default()
        });
        server
            .world()
            .add_package(demo::OWN_PROJECT, "gljob", "0.1.0", "SHA256SUMS", PACKAGE);
        let out = tempfile::tempdir().unwrap();
        // A clean environment: no proxy may take the loopback traffic.
        let run = Command::new(&python)
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/pygitlab.py"))
            .arg("routes")
            .arg(out.path())
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", out.path())
            .env("CI_SERVER_URL", server.server_url())
            .env("CI_JOB_TOKEN", TOKEN)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&run.stdout).into_owned();
        let said = format!(
            "object storage {object_storage}\n--- stdout ---\n{stdout}--- stderr ---\n{}",
            String::from_utf8_lossy(&run.stderr)
        );
        assert!(run.status.success(), "python-gitlab failed\n{said}");
        let routes: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        let route = |name: &str| {
            routes
                .iter()
                .find(|r| r["route"] == name)
                .unwrap_or_else(|| panic!("no {name}\n{said}"))
                .clone()
        };
        let job = route("job");
        assert_eq!(
            (
                &job["id"],
                &job["status"],
                &job["pipeline"],
                &job["project"]
            ),
            (
                &serde_json::json!(8),
                &serde_json::json!("running"),
                &serde_json::json!(6),
                &serde_json::json!(1)
            ),
            "{said}"
        );
        assert_eq!(
            route("project jobs")["ids"],
            serde_json::json!([
                demo::DEPLOY_JOB,
                demo::TOKEN_JOB,
                demo::FINISHED_JOB,
                demo::OWN_BUILD_JOB
            ]),
            "{said}"
        );
        assert_eq!(
            route("pipeline jobs")["ids"],
            serde_json::json!([demo::TOKEN_JOB, demo::FINISHED_JOB]),
            "{said}"
        );

        let setup = match server
            .world()
            .job(demo::FINISHED_JOB)
            .unwrap()
            .archive
            .clone()
        {
            Some(Archive::Bytes(b)) => b.to_vec(),
            other => panic!("{other:?}"),
        };
        let read = |name: &str| std::fs::read(out.path().join(name)).unwrap();
        assert!(read("by-id.zip") == setup, "{said}");
        assert_eq!(
            read("by-id-file"),
            b"written by setup (job 7) in pipeline 6\n"
        );
        assert!(read("by-ref.zip") == sample(), "{said}");
        assert_eq!(
            read("by-ref-file"),
            b"#!/bin/sh\necho 'hello from the build job'\n"
        );
        assert_eq!(read("package"), PACKAGE);

        // Both archives came from storage in that mode, with the JOB-TOKEN requests keeps
        // across the redirect: ignored there, as S3 ignores it beside a presigned URL.
        let storage: Vec<_> = server
            .requests()
            .into_iter()
            .filter(|r| r.origin == Origin::Storage)
            .collect();
        if object_storage {
            assert_eq!(storage.len(), 2, "{storage:#?}");
            assert!(storage.iter().all(|r| r.header("job-token") == Some(TOKEN)));
        } else {
            assert!(storage.is_empty(), "{storage:#?}");
        }
    }
}
