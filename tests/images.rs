//! Shipping (issue 5): install.sh as jobs run it, and the static release binary in the images
//! it must run in.
//!
//! - install.sh under dash, `bash --posix` and busybox sh, with curl, GNU wget or busybox
//!   wget, against the fake GitLab's generic package registry. The payload is the test build
//!   of gljob (or a stand-in script), so these run anywhere.
//! - The static release binary in chroots: a scratch-like root (the binary, `/etc/hosts`, a CA
//!   file and nothing else: no libc, no NSS modules, no `/etc/nsswitch.conf`, no `/dev`) and a
//!   busybox root (Debian's busybox-static). They need root, for chroot(2), and the binary
//!   that `scripts/release.sh` builds, named by `GLJOB_STATIC_BIN` (`.ci/run` does both).
//!   Without either they are skipped with a message saying why, except in CI (`CI=true`) or
//!   when `GLJOB_STATIC_BIN` is set, where a skip is a failure.

use std::io::{self, Write as _};
use std::net::{Ipv4Addr, UdpSocket};
use std::os::unix::fs::{MetadataExt, PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use fake_gitlab::{Config, Server};

use crate::util::{Run, SECRETS, TOKEN, api_requests, server, server_with};

const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The project install.sh downloads from by default (`GLJOB_PROJECT`).
const RELEASE_PROJECT: u64 = 50;
const INSTALL_SH: &str = include_str!("../install.sh");
/// The release budget (issue 5).
const MAX_BINARY_BYTES: u64 = 4 * 1024 * 1024;

// ---- install.sh, no root needed --------------------------------------------------------------

#[test]
fn dash_with_curl_installs_the_latest_release() {
    let server = server();
    let gljob = std::fs::read(env!("CARGO_BIN_EXE_gljob")).unwrap();
    release(&server, VERSION, &gljob, true);
    let mut sh = Install::new("dash", &[]);
    sh.env("CI_API_V4_URL", &server.api_url())
        .env("CI_JOB_TOKEN", TOKEN);
    let run = sh.run();
    run.success().stderr_has(&[
        &format!("installed gljob {VERSION} "),
        "is not on PATH",
        "export PATH=",
    ]);
    let installed = sh.bin_dir().join("gljob");
    assert_eq!(std::fs::read(&installed).unwrap(), gljob, "{run}");
    assert_eq!(
        std::fs::metadata(&installed).unwrap().permissions().mode() & 0o777,
        0o755
    );
    assert_eq!(listing(&sh.bin_dir()), ["gljob"], "no temporary is left");

    let paths: Vec<String> = api_requests(&server)
        .iter()
        .map(|r| r.path.clone())
        .collect();
    let base = "/api/v4/projects/tools%2Fgljob/packages/generic/gljob";
    assert_eq!(
        paths,
        [
            format!("{base}/latest/VERSION"),
            format!("{base}/{VERSION}/SHA256SUMS"),
            format!("{base}/{VERSION}/gljob-{VERSION}-x86_64-linux"),
        ],
        "{run}"
    );
    for r in api_requests(&server) {
        assert!(r.header("user-agent").unwrap_or("").starts_with("curl/"));
        assert_eq!(
            r.header("job-token"),
            None,
            "install.sh sends no credentials"
        );
        assert_eq!(r.header("authorization"), None);
    }
}

#[test]
fn bash_posix_installs_a_pinned_version_over_an_older_one() {
    let server = server();
    let gljob = std::fs::read(env!("CARGO_BIN_EXE_gljob")).unwrap();
    release(&server, VERSION, &gljob, true);
    release(&server, "0.0.9", STAND_IN, false);
    let mut sh = Install::new("bash", &["--posix"]);
    std::fs::create_dir_all(sh.bin_dir()).unwrap();
    std::fs::write(sh.bin_dir().join("gljob"), "old").unwrap();
    let path = format!("{}:/usr/bin:/bin", sh.bin_dir().display());
    sh.env("CI_API_V4_URL", &server.api_url())
        .env("GLJOB_VERSION", "v0.0.9")
        .env("PATH", &path);
    let run = sh.run();
    run.success()
        .stderr_has(&["installed gljob 0.0.9 (stand-in)"]);
    assert!(!run.stderr.contains("not on PATH"), "{run}");
    assert_eq!(std::fs::read(sh.bin_dir().join("gljob")).unwrap(), STAND_IN);
    assert_eq!(listing(&sh.bin_dir()), ["gljob"]);
    assert!(
        api_requests(&server)
            .iter()
            .all(|r| !r.path.contains("latest")),
        "a pinned version does not ask for latest"
    );
}

#[test]
fn gnu_wget_is_used_without_curl_and_a_mirror_url_is_honoured() {
    let server = server();
    release(&server, "0.0.9", STAND_IN, true);
    let mut sh = Install::new("dash", &[]);
    let tools = sh.toolbox(&["wget", "sha256sum"]);
    // GLJOB_DOWNLOAD_URL replaces the default: here the same registry, spelt by id.
    let base = format!(
        "{}/projects/{RELEASE_PROJECT}/packages/generic/gljob/",
        server.api_url()
    );
    sh.env("PATH", &tools).env("GLJOB_DOWNLOAD_URL", &base);
    let run = sh.run();
    run.success().stderr_has(&["installed gljob 0.0.9"]);
    let requests = api_requests(&server);
    assert_eq!(requests.len(), 3, "{run}");
    for r in requests {
        assert!(r.path.starts_with("/api/v4/projects/50/"), "{}", r.path);
        assert!(r.header("user-agent").unwrap_or("").starts_with("Wget/"));
    }
}

#[test]
fn a_tampered_checksum_is_refused_and_nothing_is_installed() {
    let server = server();
    release(&server, "0.0.9", STAND_IN, true);
    let forged = format!("{}  gljob-0.0.9-x86_64-linux\n", "0".repeat(64));
    server
        .world()
        .add_package(RELEASE_PROJECT, "gljob", "0.0.9", "SHA256SUMS", forged);
    let mut sh = Install::new("dash", &[]);
    std::fs::create_dir_all(sh.bin_dir()).unwrap();
    std::fs::write(sh.bin_dir().join("gljob"), "old").unwrap();
    sh.env("CI_API_V4_URL", &server.api_url());
    let run = sh.run();
    run.code(1).stderr_has(&[
        "error: checksum mismatch",
        "nothing was installed",
        &format!("expected SHA-256 {}", "0".repeat(64)),
    ]);
    assert_eq!(std::fs::read(sh.bin_dir().join("gljob")).unwrap(), b"old");
    assert_eq!(listing(&sh.bin_dir()), ["gljob"], "no temporary is left");
}

#[test]
fn a_checksum_file_without_the_binary_is_refused() {
    let server = server();
    release(&server, "0.0.9", STAND_IN, true);
    let other = format!("{}  gljob-0.0.8-x86_64-linux\n", "a".repeat(64));
    server
        .world()
        .add_package(RELEASE_PROJECT, "gljob", "0.0.9", "SHA256SUMS", other);
    let mut sh = Install::new("dash", &[]);
    sh.env("CI_API_V4_URL", &server.api_url());
    sh.run()
        .code(1)
        .stderr_has(&["has no SHA-256 for gljob-0.0.9-x86_64-linux"]);
    assert!(listing(&sh.bin_dir()).is_empty());
}

#[test]
fn no_downloader_is_a_clear_error() {
    let server = server();
    let mut sh = Install::new("dash", &[]);
    let tools = sh.toolbox(&["sha256sum"]);
    sh.env("PATH", &tools)
        .env("CI_API_V4_URL", &server.api_url());
    sh.run()
        .code(1)
        .stderr_has(&["error: neither curl nor wget is installed"]);
    assert!(server.requests().is_empty());
    assert!(!sh.bin_dir().exists() || listing(&sh.bin_dir()).is_empty());
}

#[test]
fn shasum_or_busybox_verifies_where_sha256sum_is_missing() {
    let server = server();
    release(&server, "0.0.9", STAND_IN, true);
    let mut sh = Install::new("dash", &[]);
    let tools = sh.toolbox(&["curl", "shasum", "perl"]);
    sh.env("PATH", &tools)
        .env("CI_API_V4_URL", &server.api_url());
    sh.run().success().stderr_has(&["installed gljob 0.0.9"]);

    let Some(busybox) = static_busybox() else {
        return;
    };
    let mut sh = Install::new("dash", &[]);
    let tools = sh.toolbox(&["curl"]);
    symlink(busybox, Path::new(&tools).join("busybox")).unwrap();
    sh.env("PATH", &tools)
        .env("CI_API_V4_URL", &server.api_url());
    sh.run().success().stderr_has(&["installed gljob 0.0.9"]);
}

#[test]
fn no_sha256_tool_refuses_to_install() {
    let server = server();
    let mut sh = Install::new("dash", &[]);
    let tools = sh.toolbox(&["curl"]);
    sh.env("PATH", &tools)
        .env("CI_API_V4_URL", &server.api_url());
    sh.run().code(1).stderr_has(&[
        "error: no SHA-256 tool (sha256sum, busybox sha256sum or shasum)",
        "not installed unverified",
    ]);
    assert!(server.requests().is_empty());
}

#[test]
fn an_unsupported_architecture_is_a_clear_error() {
    let server = server();
    let mut sh = Install::new("dash", &[]);
    let tools = sh.toolbox(&["curl", "sha256sum"]);
    let uname = Path::new(&tools).join("uname");
    std::fs::remove_file(&uname).unwrap();
    std::fs::write(
        &uname,
        "#!/bin/sh\nif [ \"$1\" = -m ]; then echo aarch64; else echo Linux; fi\n",
    )
    .unwrap();
    std::fs::set_permissions(&uname, std::fs::Permissions::from_mode(0o755)).unwrap();
    sh.env("PATH", &tools)
        .env("CI_API_V4_URL", &server.api_url());
    sh.run().code(1).stderr_has(&[
        "error: unsupported architecture: aarch64",
        "Linux on x86_64 only",
    ]);
    assert!(server.requests().is_empty());
}

#[test]
fn a_version_that_is_not_published_is_a_download_failure() {
    let server = server();
    release(&server, "0.0.9", STAND_IN, true);
    let mut sh = Install::new("dash", &[]);
    sh.env("CI_API_V4_URL", &server.api_url())
        .env("GLJOB_VERSION", "9.9.9");
    sh.run().code(1).stderr_has(&[
        "error: download failed: ",
        "/packages/generic/gljob/9.9.9/SHA256SUMS",
        "is version \"9.9.9\" published?",
    ]);
    assert!(listing(&sh.bin_dir()).is_empty());
}

#[test]
fn outside_ci_without_a_download_url_is_a_clear_error() {
    let mut sh = Install::new("dash", &[]);
    sh.run()
        .code(1)
        .stderr_has(&["GLJOB_DOWNLOAD_URL is not set, and neither is CI_API_V4_URL"]);
}

#[test]
fn publish_sh_uploads_the_layout_install_sh_reads() {
    let server = server();
    server.world().project_mut(1).unwrap().public = true;
    let dist = tempfile::tempdir().unwrap();
    let file = "gljob-0.0.9-x86_64-linux";
    std::fs::write(dist.path().join(file), STAND_IN).unwrap();
    let sums = format!("{}  {file}\n", sha256_hex(STAND_IN));
    std::fs::write(dist.path().join("SHA256SUMS"), sums).unwrap();
    std::fs::write(dist.path().join("latest"), "0.0.9\n").unwrap();

    let mut publish = Command::new(system_tool("dash"));
    publish
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/publish.sh"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GLJOB_DIST", dist.path())
        .env("CI_API_V4_URL", server.api_url())
        .env("CI_PROJECT_ID", "1")
        .env("CI_JOB_TOKEN", TOKEN)
        .env("CI_COMMIT_TAG", "v0.0.9");
    let run = run_command(publish, "publish.sh".into(), dist.path(), None);
    run.success();
    let base = "/api/v4/projects/1/packages/generic/gljob";
    let puts: Vec<String> = api_requests(&server)
        .iter()
        .map(|r| {
            assert_eq!(r.header("job-token"), Some(TOKEN));
            format!("{} {}", r.method, r.path)
        })
        .collect();
    assert_eq!(
        puts,
        [
            format!("PUT {base}/0.0.9/{file}"),
            format!("PUT {base}/0.0.9/SHA256SUMS"),
            format!("PUT {base}/latest/VERSION"),
        ],
        "{run}"
    );

    let mut sh = Install::new("dash", &[]);
    sh.env("CI_API_V4_URL", &server.api_url())
        .env("GLJOB_PROJECT", "namespace1/project1");
    sh.run().success().stderr_has(&["installed gljob 0.0.9"]);
    assert_eq!(std::fs::read(sh.bin_dir().join("gljob")).unwrap(), STAND_IN);
}

#[test]
fn publish_sh_refuses_a_tag_that_is_not_the_version() {
    let dist = tempfile::tempdir().unwrap();
    std::fs::write(dist.path().join("latest"), "0.0.9\n").unwrap();
    let mut publish = Command::new(system_tool("dash"));
    publish
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/publish.sh"))
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("GLJOB_DIST", dist.path())
        .env("CI_COMMIT_TAG", "v0.1.0");
    run_command(publish, "publish.sh".into(), dist.path(), None)
        .code(1)
        .stderr_has(&["tag v0.1.0 does not match the version being published (0.0.9)"]);
}

// ---- the static binary in chroots (root) -----------------------------------------------------

#[test]
fn release_binary_is_static_stripped_and_small() {
    let Some(bin) = release_binary() else { return };
    let bytes = std::fs::read(&bin).unwrap();
    assert!(
        elf_is_static(&bytes),
        "{} asks for a dynamic loader",
        bin.display()
    );
    assert!(
        bytes.len() as u64 <= MAX_BINARY_BYTES,
        "{} is {} bytes, over the 4 MiB budget",
        bin.display(),
        bytes.len()
    );
    let file = Command::new("file").arg("-b").arg(&bin).output();
    if let Ok(out) = file {
        let kind = String::from_utf8_lossy(&out.stdout);
        assert!(
            kind.contains("static") && kind.contains("stripped") && !kind.contains("not stripped"),
            "file(1) says: {kind}"
        );
    }
}

#[test]
fn scratch_root_works_over_tls_by_host_name() {
    let Some(bin) = static_binary() else { return };
    let server = server_with(Config {
        tls: true,
        object_storage: true,
        ..Config::default()
    });
    let root = Root::new();
    root.add_file("gljob", &std::fs::read(&bin).unwrap(), 0o755);
    root.add_file("etc/hosts", b"127.0.0.1 localhost\n", 0o644);
    let ca = std::fs::read(server.ca_file().unwrap()).unwrap();
    root.add_file("ca.pem", &ca, 0o644);
    let port = port_of(&server.api_url());
    let env = job_env(&format!("https://localhost:{port}/api/v4"), Some("/ca.pem"));

    root.run(&["/gljob", "--version"], &env)
        .success()
        .stdout_has(&[&format!("gljob {VERSION} ")]);
    let run = root.run(&["/gljob", "job", "--field", "id"], &env);
    run.success();
    assert_eq!(run.stdout(), "8\n", "{run}");
    root.run(
        &[
            "/gljob",
            "fetch",
            "--project",
            "group/sub/my.project",
            "--ref",
            "main",
            "--job",
            "build",
            "--dest",
            "/builds/vendor",
        ],
        &env,
    )
    .success();
    let app = std::fs::read(root.path().join("builds/vendor/dist/app")).unwrap();
    assert!(app.starts_with(b"#!/bin/sh\necho 'hello from the build job'"));
    let hosts: Vec<String> = api_requests(&server)
        .iter()
        .filter_map(|r| r.header("host").map(str::to_string))
        .collect();
    assert!(
        hosts.iter().all(|h| *h == format!("localhost:{port}")) && !hosts.is_empty(),
        "gljob asked for the API by name: {hosts:?}"
    );
}

#[test]
fn scratch_root_resolves_names_from_etc_hosts() {
    let Some(bin) = static_binary() else { return };
    let server = server();
    let root = Root::new();
    root.add_file("gljob", &std::fs::read(&bin).unwrap(), 0o755);
    let url = format!("http://gitlab.test:{}/api/v4", port_of(&server.api_url()));
    let mut env = job_env(&url, None);
    env.push(("GLJOB_RETRIES", "0".to_string()));

    // Without /etc/hosts the name does not resolve: the success below is the file's doing.
    root.run(&["/gljob", "job", "--field", "id"], &env)
        .code(7)
        .stderr_has(&["gitlab.test"]);
    root.add_file(
        "etc/hosts",
        b"# a job's hosts file\n127.0.0.1\tgitlab.test gitlab\n",
        0o644,
    );
    let run = root.run(&["/gljob", "job", "--field", "id"], &env);
    run.success();
    assert_eq!(run.stdout(), "8\n", "{run}");
}

#[test]
fn scratch_root_resolves_names_through_dns() {
    let Some(bin) = static_binary() else { return };
    let server = server();
    let dns = FakeDns::start("gitlab.test", Ipv4Addr::LOCALHOST);
    let root = Root::new();
    root.add_file("gljob", &std::fs::read(&bin).unwrap(), 0o755);
    let resolv = format!("nameserver {}\noptions timeout:1 attempts:1\n", dns.addr);
    root.add_file("etc/resolv.conf", resolv.as_bytes(), 0o644);
    let url = format!("http://gitlab.test:{}/api/v4", port_of(&server.api_url()));

    let run = root.run(&["/gljob", "job", "--field", "id"], &job_env(&url, None));
    run.success();
    assert_eq!(run.stdout(), "8\n", "{run}");
    let queries = dns.queries();
    assert!(
        queries
            .iter()
            .any(|(name, qtype)| name == "gitlab.test" && *qtype == 1),
        "the A query reached the nameserver of /etc/resolv.conf: {queries:?}"
    );
}

#[test]
fn busybox_root_installs_with_busybox_wget_and_fetches() {
    let Some(bin) = static_binary() else { return };
    let Some(busybox) = static_busybox() else {
        return;
    };
    let server = server();
    release(&server, VERSION, &std::fs::read(&bin).unwrap(), true);
    let root = Root::new();
    root.add_file("bin/busybox", &std::fs::read(&busybox).unwrap(), 0o755);
    root.run(&["/bin/busybox", "--install", "-s", "/bin"], &[])
        .success();
    // A container runtime gives every image a /dev; sh needs /dev/null.
    root.add_dev_null();
    for dir in ["usr/local/bin", "tmp", "root", "builds"] {
        std::fs::create_dir_all(root.path().join(dir)).unwrap();
    }
    root.add_file("etc/hosts", b"127.0.0.1 gitlab.test\n", 0o644);
    let url = format!("http://gitlab.test:{}/api/v4", port_of(&server.api_url()));
    let mut env = job_env(&url, None);
    env.push(("PATH", "/usr/local/bin:/bin".to_string()));
    env.push(("HOME", "/root".to_string()));

    // `wget -qO- …/install.sh | sh`: the script arrives on stdin.
    let run = root.run_with_stdin(&["/bin/sh"], &env, INSTALL_SH);
    run.success()
        .stderr_has(&[&format!("installed gljob {VERSION} ")]);
    assert!(!run.stderr.contains("not on PATH"), "{run}");
    assert!(root.path().join("usr/local/bin/gljob").is_file());
    assert_eq!(listing(&root.path().join("usr/local/bin")), ["gljob"]);
    for r in api_requests(&server) {
        assert_eq!(r.header("user-agent"), Some("Wget"), "busybox wget");
        assert_eq!(r.header("job-token"), None);
    }

    root.run(
        &[
            "gljob",
            "fetch",
            "--project",
            "group/sub/my.project",
            "--ref",
            "main",
            "--job",
            "build",
            "--dest",
            "/builds/out",
        ],
        &env,
    )
    .success();
    assert!(root.path().join("builds/out/reports/junit.xml").is_file());

    // Without /usr/local/bin it goes to $HOME/.local/bin, and says how to reach it.
    std::fs::remove_dir_all(root.path().join("usr/local/bin")).unwrap();
    root.run_with_stdin(&["/bin/sh"], &env, INSTALL_SH)
        .success()
        .stderr_has(&[
            "at /root/.local/bin/gljob",
            "/root/.local/bin is not on PATH",
        ]);
    assert!(root.path().join("root/.local/bin/gljob").is_file());
}

// ---- helpers ---------------------------------------------------------------------------------

/// A stand-in "release" for install tests that need no real binary.
const STAND_IN: &[u8] = b"#!/bin/sh\necho 'gljob 0.0.9 (stand-in)'\n";

/// Publishes `binary` as release `version` of gljob in the fake's `tools/gljob` project
/// (public, created if needed): the binary, its SHA256SUMS and, if `latest`, latest/VERSION.
fn release(server: &Server, version: &str, binary: &[u8], latest: bool) {
    let file = format!("gljob-{version}-x86_64-linux");
    let sums = format!("{}  {file}\n", sha256_hex(binary));
    let mut world = server.world();
    if world.project(RELEASE_PROJECT).is_none() {
        world.add_project(RELEASE_PROJECT, "tools/gljob").public = true;
    }
    world.add_package(RELEASE_PROJECT, "gljob", version, &file, binary.to_vec());
    world.add_package(RELEASE_PROJECT, "gljob", version, "SHA256SUMS", sums);
    if latest {
        world.add_package(
            RELEASE_PROJECT,
            "gljob",
            "latest",
            "VERSION",
            format!("{version}\n"),
        );
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap()[..64].to_string()
}

/// The names in a directory, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn port_of(url: &str) -> u16 {
    let authority = url.split("://").nth(1).unwrap().split('/').next().unwrap();
    authority.rsplit(':').next().unwrap().parse().unwrap()
}

/// A job's environment for gljob against the fake, by URL.
fn job_env(api_url: &str, ca: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("CI_API_V4_URL", api_url.to_string()),
        ("CI_JOB_TOKEN", TOKEN.to_string()),
        ("CI_PROJECT_ID", "1".to_string()),
        ("GLJOB_RETRIES", "1".to_string()),
    ];
    if let Some(ca) = ca {
        env.push(("CI_SERVER_TLS_CA_FILE", ca.to_string()));
    }
    env
}

/// `K=V …` for a failure message, tokens shortened as the harness shows them.
fn shown_env<'a>(env: impl Iterator<Item = (&'a str, &'a str)>) -> String {
    env.map(|(k, v)| {
        if SECRETS.contains(&v) {
            format!("{k}={}…", &v[..6])
        } else {
            format!("{k}={v}")
        }
    })
    .collect::<Vec<_>>()
    .join(" ")
}

/// Runs `cmd` (environment already set), feeding `stdin`, and checks no secret leaked.
fn run_command(mut cmd: Command, description: String, dir: &Path, stdin: Option<&str>) -> Run {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("{description}: {e}"));
    if let Some(text) = stdin {
        // A shell that stops early closes the pipe; what it did is in the Run.
        let _ = child.stdin.take().unwrap().write_all(text.as_bytes());
    }
    let out = child.wait_with_output().unwrap();
    let run = Run {
        code: out.status.code(),
        stdout: out.stdout,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        command: description,
        dir: dir.to_path_buf(),
    };
    for secret in SECRETS {
        assert!(
            !run.stderr.contains(secret) && !run.stdout().contains(secret),
            "a secret leaked into the output\n{run}"
        );
    }
    run
}

/// install.sh piped into a shell (`curl … | sh`), with a cleared environment, HOME in a temp
/// dir and `GLJOB_INSTALL_DIR` = `HOME/bin`, so nothing outside the temp dir is touched.
struct Install {
    dir: tempfile::TempDir,
    shell: Vec<String>,
    env: Vec<(String, String)>,
}

impl Install {
    fn new(shell: &str, args: &[&str]) -> Install {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin").display().to_string();
        // By absolute path: the case may give the shell a PATH without it.
        let mut shell_cmd = vec![system_tool(shell).display().to_string()];
        shell_cmd.extend(args.iter().map(|a| a.to_string()));
        Install {
            env: vec![
                ("PATH".into(), "/usr/bin:/bin".into()),
                ("HOME".into(), dir.path().display().to_string()),
                ("GLJOB_INSTALL_DIR".into(), bin),
            ],
            dir,
            shell: shell_cmd,
        }
    }

    fn env(&mut self, name: &str, value: &str) -> &mut Install {
        self.env.retain(|(k, _)| k != name);
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    fn bin_dir(&self) -> PathBuf {
        self.dir.path().join("bin")
    }

    /// A directory of links to the tools install.sh always needs, plus `extra` (a
    /// downloader, a SHA-256 tool), for a PATH without the rest of /usr/bin. Returns it as a
    /// PATH value.
    fn toolbox(&self, extra: &[&str]) -> String {
        let tools = self.dir.path().join("tools");
        std::fs::create_dir(&tools).unwrap();
        for name in ["uname", "mkdir", "chmod", "mv", "rm"].iter().chain(extra) {
            symlink(system_tool(name), tools.join(name)).unwrap();
        }
        tools.display().to_string()
    }

    fn run(&mut self) -> Run {
        let mut cmd = Command::new(&self.shell[0]);
        cmd.args(&self.shell[1..])
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path());
        let description = format!(
            "{} {} < install.sh",
            shown_env(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str()))),
            self.shell.join(" ")
        );
        run_command(cmd, description, self.dir.path(), Some(INSTALL_SH))
    }
}

/// `/usr/bin/NAME` or `/bin/NAME`.
fn system_tool(name: &str) -> PathBuf {
    ["/usr/bin", "/bin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("{name} is not installed"))
}

/// Skipping is a failure in CI (`CI=true`) and when `GLJOB_STATIC_BIN` is set.
fn skip(why: &str) {
    let strict = std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var_os("GLJOB_STATIC_BIN").is_some();
    assert!(!strict, "image test cannot run here: {why}");
    // Straight to stderr, past the test harness's capture: a skip must be seen.
    let _ = writeln!(io::stderr(), "SKIPPED (images): {why}");
}

/// The static release binary (`GLJOB_STATIC_BIN`), or `None` after saying why not.
fn release_binary() -> Option<PathBuf> {
    match std::env::var_os("GLJOB_STATIC_BIN").map(PathBuf::from) {
        None => skip(
            "GLJOB_STATIC_BIN is not set: run scripts/release.sh, then \
             GLJOB_STATIC_BIN=dist/gljob-<version>-x86_64-linux cargo test",
        ),
        Some(b) if !b.is_file() => {
            skip(&format!("GLJOB_STATIC_BIN={} does not exist", b.display()))
        }
        Some(b) => return Some(std::path::absolute(b).unwrap()),
    }
    None
}

/// The static release binary, if chroot cases can run (root, chroot(8)); else `None` after
/// saying why not.
fn static_binary() -> Option<PathBuf> {
    let bin = release_binary()?;
    if !std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0) {
        skip("these cases chroot(2), which needs root");
        return None;
    }
    if chroot_command().is_none() {
        skip("chroot(8) is not installed");
        return None;
    }
    Some(bin)
}

/// Debian's busybox-static, checked to be static (a dynamic busybox cannot run in the root).
fn static_busybox() -> Option<PathBuf> {
    let found = ["/bin/busybox", "/usr/bin/busybox"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file());
    match found {
        Some(p) if std::fs::read(&p).is_ok_and(|b| elf_is_static(&b)) => Some(p),
        Some(p) => {
            skip(&format!(
                "{} is not static: apt-get install busybox-static",
                p.display()
            ));
            None
        }
        None => {
            skip("busybox is not installed: apt-get install busybox-static");
            None
        }
    }
}

fn chroot_command() -> Option<PathBuf> {
    ["/usr/sbin/chroot", "/sbin/chroot", "/usr/bin/chroot"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

/// Whether a 64-bit little-endian ELF file has no `PT_INTERP` program header, i.e. needs no
/// dynamic loader.
fn elf_is_static(elf: &[u8]) -> bool {
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let u64_at = |o: usize| u64::from_le_bytes(elf[o..o + 8].try_into().unwrap()) as usize;
    assert!(
        elf.len() > 64 && elf.starts_with(b"\x7fELF\x02\x01"),
        "not a 64-bit little-endian ELF file"
    );
    let (phoff, phentsize, phnum) = (u64_at(0x20), u16_at(0x36), u16_at(0x38));
    const PT_INTERP: u32 = 3;
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        u32::from_le_bytes(elf[o..o + 4].try_into().unwrap()) != PT_INTERP
    })
}

/// A root directory for chroot(8), removed on drop.
struct Root {
    dir: tempfile::TempDir,
}

impl Root {
    fn new() -> Root {
        Root {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn add_file(&self, rel: &str, content: &[u8], mode: u32) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    /// `/dev/null`, as a container runtime provides it.
    fn add_dev_null(&self) {
        std::fs::create_dir_all(self.path().join("dev")).unwrap();
        let null = self.path().join("dev/null");
        let status = Command::new(system_tool("mknod"))
            .args(["-m", "666"])
            .arg(&null)
            .args(["c", "1", "3"])
            .status()
            .unwrap();
        assert!(status.success(), "mknod {} c 1 3", null.display());
    }

    fn run(&self, argv: &[&str], env: &[(&str, String)]) -> Run {
        self.run_inner(argv, env, None)
    }

    fn run_with_stdin(&self, argv: &[&str], env: &[(&str, String)], stdin: &str) -> Run {
        self.run_inner(argv, env, Some(stdin))
    }

    /// `chroot ROOT argv…` with only `env` (PATH defaults to /bin inside the root).
    fn run_inner(&self, argv: &[&str], env: &[(&str, String)], stdin: Option<&str>) -> Run {
        let mut cmd = Command::new(chroot_command().unwrap());
        cmd.arg(self.path())
            .args(argv)
            .env_clear()
            .env("PATH", "/bin")
            .envs(env.iter().map(|(k, v)| (k, v)));
        let description = format!(
            "{} chroot {} {}",
            shown_env(env.iter().map(|(k, v)| (*k, v.as_str()))),
            self.path().display(),
            argv.join(" ")
        );
        run_command(cmd, description, self.path(), stdin)
    }
}

/// A DNS server on 127.0.0.x:53 (UDP) that knows one name: A → `addr`, AAAA → no data,
/// anything else → NXDOMAIN. Records the questions it was asked.
struct FakeDns {
    addr: Ipv4Addr,
    queries: Arc<Mutex<Vec<(String, u16)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FakeDns {
    /// Binds the first free address of 127.0.0.2–127.0.0.20 (port 53 needs root; 127.0.0.1
    /// and 127.0.0.53 are left to any local resolver).
    fn start(name: &str, answer: Ipv4Addr) -> FakeDns {
        let (socket, addr) = (2..=20u8)
            .map(|last| Ipv4Addr::new(127, 0, 0, last))
            .find_map(|ip| UdpSocket::bind((ip, 53)).ok().map(|s| (s, ip)))
            .expect("a fake DNS server binds port 53 on some 127.0.0.x");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (name, q, s) = (name.to_ascii_lowercase(), queries.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !s.load(Ordering::Relaxed) {
                let Ok((n, peer)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                if let Some((reply, asked)) = dns_reply(&buf[..n], &name, answer) {
                    q.lock().unwrap().push(asked);
                    let _ = socket.send_to(&reply, peer);
                }
            }
        });
        FakeDns {
            addr,
            queries,
            stop,
            thread: Some(thread),
        }
    }

    fn queries(&self) -> Vec<(String, u16)> {
        self.queries.lock().unwrap().clone()
    }
}

impl Drop for FakeDns {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The answer to one DNS query (RFC 1035 §4.1), and the question (name, type) it asked.
fn dns_reply(query: &[u8], name: &str, answer: Ipv4Addr) -> Option<(Vec<u8>, (String, u16))> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut labels = Vec::new();
    let mut i = 12;
    loop {
        let len = *query.get(i)? as usize;
        i += 1;
        if len == 0 {
            break;
        }
        labels.push(String::from_utf8_lossy(query.get(i..i + len)?).to_ascii_lowercase());
        i += len;
    }
    let qtype = u16::from_be_bytes([*query.get(i)?, *query.get(i + 1)?]);
    let question = query.get(12..i + 4)?;
    let asked = labels.join(".");
    let known = asked == name;
    let answers: u16 = (known && qtype == 1).into();
    let rcode: u16 = if known { 0 } else { 3 };
    let flags = 0x8000 | 0x0400 | (u16::from_be_bytes([query[2], query[3]]) & 0x0100) | 0x0080;
    let mut reply = Vec::with_capacity(64);
    reply.extend_from_slice(&query[..2]);
    for field in [flags | rcode, 1, answers, 0, 0] {
        reply.extend_from_slice(&field.to_be_bytes());
    }
    reply.extend_from_slice(question);
    if answers == 1 {
        reply.extend_from_slice(&[0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
        reply.extend_from_slice(&answer.octets());
    }
    Some((reply, (asked, qtype)))
}

#[test]
fn fake_dns_answers_like_a_nameserver() {
    // Query for gitlab.test, type A, id 0x1234, RD set.
    let mut q = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0];
    q.extend_from_slice(b"\x06gitlab\x04test\x00\x00\x01\x00\x01");
    let (reply, asked) = dns_reply(&q, "gitlab.test", Ipv4Addr::LOCALHOST).unwrap();
    assert_eq!(asked, ("gitlab.test".to_string(), 1));
    assert_eq!(&reply[..4], &[0x12, 0x34, 0x85, 0x80]);
    assert_eq!(&reply[6..8], &[0, 1], "one answer");
    assert_eq!(&reply[reply.len() - 4..], &[127, 0, 0, 1]);
    let mut other = q.clone();
    other[13..19].copy_from_slice(b"gitlaX");
    let (reply, _) = dns_reply(&other, "gitlab.test", Ipv4Addr::LOCALHOST).unwrap();
    assert_eq!(reply[3] & 0x0f, 3, "NXDOMAIN");
}

#[test]
fn static_check_reads_elf_headers() {
    // The test build links glibc dynamically.
    let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(!elf_is_static(&exe));
}
