//! The shared harness: a `gljob` command with a cleared environment, a temporary working
//! directory, and a check on every run that no secret leaked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use fake_gitlab::{Config, LoggedRequest, Origin, Server};

pub use fake_gitlab::{FINISHED_TOKEN, PAT, TOKEN};

/// Every secret a test may hand to gljob. None may ever appear in what gljob prints.
pub const SECRETS: [&str; 3] = [TOKEN, FINISHED_TOKEN, PAT];

/// Starts a plain-HTTP fake GitLab with the demo world.
pub fn server() -> Server {
    server_with(Config::default())
}

pub fn server_with(config: Config) -> Server {
    Server::start(config).expect("fake GitLab starts on 127.0.0.1")
}

/// A gljob invocation. The environment is cleared (no HOME, proxies or CI variables of the
/// machine running the tests leak in) and only the case's CI variables are set.
pub struct Gljob {
    cmd: Command,
    dir: tempfile::TempDir,
    description: Vec<String>,
}

/// A `gljob` command set up as a job in project 1 of `server`, with fast retries.
pub fn gljob(server: &Server) -> Gljob {
    as_job(Gljob::bare(), server)
}

/// Sets up `g` as a job in project 1 of `server`, with fast retries.
pub fn as_job(mut g: Gljob, server: &Server) -> Gljob {
    g.env("CI_JOB_TOKEN", TOKEN)
        .env("CI_API_V4_URL", &server.api_url())
        .env("CI_PROJECT_ID", "1")
        .env("GLJOB_RETRIES", "2");
    if let Some(ca) = server.ca_file() {
        g.env("CI_SERVER_TLS_CA_FILE", ca.to_str().unwrap());
    }
    g
}

impl Gljob {
    /// gljob with an empty environment (but PATH), in a fresh temporary directory.
    pub fn bare() -> Gljob {
        Gljob::wrapped(&[])
    }

    /// Like [`Gljob::bare`], run through a wrapper command such as `/usr/bin/time`.
    pub fn wrapped(wrapper: &[&str]) -> Gljob {
        let dir = tempfile::tempdir().expect("temp dir");
        let tmp = dir.path().join("tmp");
        std::fs::create_dir(&tmp).expect("TMPDIR");
        let gljob = env!("CARGO_BIN_EXE_gljob");
        let mut cmd = match wrapper.split_first() {
            None => Command::new(gljob),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(gljob);
                c
            }
        };
        cmd.env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", dir.path())
            .env("TMPDIR", &tmp)
            .current_dir(dir.path())
            .stdin(Stdio::null());
        Gljob {
            cmd,
            dir,
            description: vec!["gljob".into()],
        }
    }

    pub fn arg(&mut self, arg: &str) -> &mut Gljob {
        self.cmd.arg(arg);
        self.description.push(arg.to_string());
        self
    }

    pub fn args(&mut self, args: &[&str]) -> &mut Gljob {
        for a in args {
            self.arg(a);
        }
        self
    }

    pub fn env(&mut self, name: &str, value: &str) -> &mut Gljob {
        self.cmd.env(name, value);
        self.description
            .insert(0, format!("{name}={}", shown(value)));
        self
    }

    pub fn env_remove(&mut self, name: &str) -> &mut Gljob {
        self.cmd.env_remove(name);
        self.description
            .retain(|d| !d.starts_with(&format!("{name}=")));
        self
    }

    /// The working directory of the run.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Runs gljob and checks that no secret appears in stdout or stderr.
    pub fn run(&mut self) -> Run {
        let out = self.cmd.output().expect("gljob runs");
        self.finish(out)
    }

    /// Runs gljob expecting it to fail with `code` and a message naming each of `needles`,
    /// leaving the working directory exactly as it was (paths, modes, sizes, content hashes)
    /// and no temporary file behind: the all-or-nothing promise, checked in one place.
    pub fn fails_unchanged(&mut self, code: i32, needles: &[&str]) -> Run {
        let before = snapshot(self.dir());
        let run = self.run();
        run.code(code).stderr_has(needles);
        assert_eq!(
            snapshot(self.dir()),
            before,
            "a failed run changed the working directory\n{run}"
        );
        assert_no_temp(self.dir());
        run
    }

    /// Starts gljob without waiting, for tests that act on it while it runs (signals).
    pub fn spawn(&mut self) -> std::process::Child {
        self.cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("gljob starts")
    }

    /// Waits for a spawned gljob and checks its output like [`Gljob::run`].
    pub fn wait(&mut self, child: std::process::Child) -> Run {
        let out = child.wait_with_output().expect("gljob ends");
        self.finish(out)
    }

    fn finish(&self, out: std::process::Output) -> Run {
        let run = Run {
            code: out.status.code(),
            stdout: out.stdout,
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            command: self.description.join(" "),
            dir: self.dir.path().to_path_buf(),
        };
        for secret in SECRETS {
            assert!(
                !run.stderr.contains(secret)
                    && !String::from_utf8_lossy(&run.stdout).contains(secret),
                "a secret leaked into gljob's output\n{run}"
            );
        }
        run
    }
}

/// Tokens are shown as their first characters in test descriptions.
fn shown(value: &str) -> String {
    if SECRETS.contains(&value) {
        format!("{}…", &value[..6])
    } else {
        value.to_string()
    }
}

/// What a gljob run did, with a Display that says everything needed to debug a failure.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub command: String,
    pub dir: PathBuf,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    /// Asserts the exit code, printing the whole run when it differs.
    pub fn code(&self, expected: i32) -> &Run {
        assert_eq!(self.code, Some(expected), "unexpected exit code\n{self}");
        self
    }

    pub fn success(&self) -> &Run {
        self.code(0)
    }

    /// Asserts that stderr contains each of `needles`.
    pub fn stderr_has(&self, needles: &[&str]) -> &Run {
        for n in needles {
            assert!(self.stderr.contains(n), "stderr lacks {n:?}\n{self}");
        }
        self
    }

    pub fn stdout_has(&self, needles: &[&str]) -> &Run {
        let out = self.stdout();
        for n in needles {
            assert!(out.contains(n), "stdout lacks {n:?}\n{self}");
        }
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "command: {}", self.command)?;
        writeln!(f, "cwd: {}", self.dir.display())?;
        writeln!(f, "exit: {:?}", self.code)?;
        writeln!(f, "--- stdout ---\n{}", self.stdout())?;
        writeln!(f, "--- stderr ---\n{}", self.stderr)
    }
}

/// The requests the API origin received, in order.
pub fn api_requests(server: &Server) -> Vec<LoggedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.origin == Origin::Api)
        .collect()
}

/// A recursive listing of `dir`: path → kind, mode, size, content hash or link target.
/// Two equal snapshots mean the tree is byte-for-byte what it was.
pub fn snapshot(dir: &Path) -> std::collections::BTreeMap<String, String> {
    use std::hash::{DefaultHasher, Hasher};
    use std::os::unix::fs::PermissionsExt;
    let mut out = std::collections::BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(items) = std::fs::read_dir(&d) else {
            continue;
        };
        for item in items.flatten() {
            let path = item.path();
            let rel = path.strip_prefix(dir).unwrap().display().to_string();
            let meta = std::fs::symlink_metadata(&path).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            let desc = if meta.file_type().is_symlink() {
                format!("link -> {}", std::fs::read_link(&path).unwrap().display())
            } else if meta.is_dir() {
                stack.push(path.clone());
                format!("dir {mode:o}")
            } else {
                let mut h = DefaultHasher::new();
                h.write(&std::fs::read(&path).unwrap());
                format!("file {mode:o} {} {:x}", meta.len(), h.finish())
            };
            out.insert(rel, desc);
        }
    }
    out
}

/// Asserts that no gljob staging or temporary file is left in `dir` (recursively) or in the
/// run's TMPDIR.
pub fn assert_no_temp(dir: &Path) {
    for path in snapshot(dir).keys() {
        assert!(
            !path.contains(".gljob-") && !path.contains("gljob-"),
            "temporary left behind: {path}"
        );
    }
}

/// Publishes `archive` as the artifacts of a new successful job `job` on `git_ref` in
/// `project`, and returns the job id.
pub fn publish(server: &Server, project: u64, git_ref: &str, job: &str, archive: Vec<u8>) -> u64 {
    let mut world = server.world();
    let pipeline = world.add_pipeline(project, git_ref, "success");
    world.add_job(
        pipeline,
        job,
        Some(fake_gitlab::Archive::Bytes(std::sync::Arc::new(archive))),
    )
}

/// Publishes `archive` as job `build` of a successful pipeline on `main` in project 1, the
/// setup most fetch tests share; returns the job's id.
pub fn publish_build(server: &Server, archive: Vec<u8>) -> u64 {
    publish(server, 1, "main", "build", archive)
}

/// A small archive: a file `name` with `content`.
pub fn one_file(name: &str, content: &[u8]) -> Vec<u8> {
    use fake_gitlab::zips::{Entry, EntryKind, build};
    build(&[Entry {
        name: name.into(),
        kind: EntryKind::File(content.to_vec()),
        mode: 0o644,
        stored: false,
    }])
}

/// The archive requests the API origin received (not `/job`).
pub fn archive_requests(server: &Server) -> Vec<LoggedRequest> {
    server
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/artifacts"))
        .collect()
}

/// Proves that no secret reached a file under `dir` or any request to an origin other than
/// the API (headers and URL), on top of the stdout/stderr check every run makes.
pub fn assert_no_secret_escaped(server: &Server, dir: &Path) {
    for req in server.requests().iter().filter(|r| r.origin != Origin::Api) {
        let everything = format!("{} {:?}", req.target, req.headers);
        for secret in SECRETS {
            assert!(
                !everything.contains(secret),
                "a secret reached {:?}: {req:?}",
                req.origin
            );
        }
    }
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for item in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let meta = std::fs::symlink_metadata(item.path()).unwrap();
            if meta.is_dir() {
                stack.push(item.path());
            } else if meta.is_file() {
                let bytes = std::fs::read(item.path()).unwrap_or_default();
                for secret in SECRETS {
                    assert!(
                        !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                        "a secret was written to {}",
                        item.path().display()
                    );
                }
            }
        }
    }
}

/// Runs gljob with `args` as a job of `server` under GNU time; returns the command (its
/// directory lives as long as it), the run and gljob's peak resident memory in KiB.
pub fn peak_rss_kib(server: &Server, args: &[&str]) -> (Gljob, Run, u64) {
    let mut g = as_job(
        Gljob::wrapped(&["/usr/bin/time", "-f", "peak-rss-kib=%M"]),
        server,
    );
    let run = g.args(args).run();
    let peak = run
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("peak-rss-kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS reported\n{run}"));
    (g, run, peak)
}

/// Sends `signal` (`-TERM`, `-INT`, `-KILL`) to a spawned gljob.
pub fn kill(child: &std::process::Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}
