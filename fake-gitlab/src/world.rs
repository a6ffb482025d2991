//! The data the fake serves: projects, pipelines, jobs and trigger jobs (bridges), job tokens,
//! archives and generic packages.
//!
//! Plain structs with public fields, so that a test can reach into a running server
//! (`server.world()`) and change anything between two requests: rename a project, empty an
//! allowlist, expire an archive, swap in a 1 GiB archive on disk. The routes read it afresh on
//! every request. [`World::demo`] is the world every [`Server`](crate::Server) starts with;
//! its ids are listed in [`demo`].

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::zips::{self, Entry};
use crate::{FINISHED_TOKEN, PAT, TOKEN};

/// The demo world's ids, for tests (see the crate docs for the whole picture).
pub mod demo {
    /// `namespace1/project1`: the TOKEN's own project.
    pub const OWN_PROJECT: u64 = 1;
    /// `group/sub/my.project` (formerly `group/sub/old.project`); allowlist `[1]`.
    pub const PROJECT: u64 = 2;
    /// `other/locked`: allowlist `[]`, so job tokens of project 1 get 403.
    pub const LOCKED_PROJECT: u64 = 3;
    /// `other/public`: public, allowlist `[]`: readable through its public pipelines.
    pub const PUBLIC_PROJECT: u64 = 4;

    /// Pipeline of project 1 (ref `main`, running) holding the TOKEN's job.
    pub const OWN_PIPELINE: u64 = 6;
    /// The TOKEN's job (`rubocop`, running, tags `docker` and `linux`): what `GET /job`
    /// shows, as GitLab's `Entities::Ci::Job`.
    pub const TOKEN_JOB: u64 = 8;
    /// The FINISHED_TOKEN's job (`setup`, success: its token is dead).
    pub const FINISHED_JOB: u64 = 7;

    /// Project 2, `main`, success, older: its `build` has a decoy archive.
    pub const OLD_MAIN_PIPELINE: u64 = 20;
    /// Project 2, `main`, success: the newest successful one, what by-ref lookups pick.
    pub const MAIN_PIPELINE: u64 = 21;
    /// Project 2, `feature/x`, success.
    pub const FEATURE_PIPELINE: u64 = 22;
    /// Project 2, `refs/merge-requests/7/head`, success.
    pub const MR_PIPELINE: u64 = 23;
    /// Project 2, tag `v1.2.3`, success.
    pub const TAG_PIPELINE: u64 = 24;
    /// Project 2, `main`, running: newer than 21, must be skipped by by-ref lookups.
    pub const RUNNING_MAIN_PIPELINE: u64 = 25;
    /// Project 3, `main`, success.
    pub const LOCKED_PIPELINE: u64 = 30;
    /// Project 4, `main`, success.
    pub const PUBLIC_PIPELINE: u64 = 40;

    /// `build` in pipeline 20 (older success on main): decoy archive.
    pub const OLD_BUILD_JOB: u64 = 100;
    /// `build` in pipeline 21, retried (superseded by 102): decoy archive.
    pub const RETRIED_BUILD_JOB: u64 = 101;
    /// `build` in pipeline 21: `zips::sample()`.
    pub const BUILD_JOB: u64 = 102;
    /// `test 1/3` in pipeline 21: `zips::sample()`.
    pub const TEST_JOB: u64 = 103;
    /// `we#ird?%+ ü` in pipeline 21: `zips::sample()`.
    pub const WEIRD_JOB: u64 = 104;
    /// Its name.
    pub const WEIRD_NAME: &str = "we#ird?%+ ü";
    /// `no-artifacts` in pipeline 21: no archive.
    pub const NO_ARTIFACTS_JOB: u64 = 105;
    /// `expired` in pipeline 21: `zips::sample()`, marked expired (archive routes still serve
    /// it, the single-file route by job id answers 404).
    pub const EXPIRED_JOB: u64 = 106;
    /// `build` in pipeline 22 (`feature/x`): `zips::sample()`.
    pub const FEATURE_BUILD_JOB: u64 = 110;
    /// `build` in pipeline 23 (`refs/merge-requests/7/head`): `zips::sample()`.
    pub const MR_BUILD_JOB: u64 = 111;
    /// `build` in pipeline 24 (`v1.2.3`): `zips::sample()`.
    pub const TAG_BUILD_JOB: u64 = 112;
    /// `build` in pipeline 25 (running pipeline on main): decoy archive.
    pub const RUNNING_BUILD_JOB: u64 = 120;
    /// `build` in pipeline 30 (project 3): `zips::sample()`.
    pub const LOCKED_BUILD_JOB: u64 = 130;
    /// `build` in pipeline 40 (project 4): `zips::sample()`.
    pub const PUBLIC_BUILD_JOB: u64 = 140;

    /// Name of the single file every decoy archive holds; the right archive never has it.
    pub const DECOY_FILE: &str = "WRONG-ARCHIVE.txt";

    // ---- the fan-in story (project 2, `main`): an upstream pipeline still running, whose
    // finished jobs a downstream pipeline fetches by pipeline id; see `World::demo`.

    /// Project 2, `main`, running, newer than 25: the upstream pipeline of the fan-in story.
    pub const FAN_IN_PIPELINE: u64 = 26;
    /// Project 2, `main`, success, source `parent_pipeline`: the child that bridge `child`
    /// (161) of pipeline 26 started.
    pub const CHILD_PIPELINE: u64 = 27;
    /// Project 1, `main`, running, source `pipeline`: the multi-project downstream that bridge
    /// `downstream` (162) of pipeline 26 started.
    pub const DOWNSTREAM_PIPELINE: u64 = 28;

    /// `compile` in pipeline 26 (success): [`COMPILE_FILE`].
    pub const COMPILE_JOB: u64 = 150;
    /// The one file of `compile`'s archive.
    pub const COMPILE_FILE: &str = "bin/app";
    /// `test 1/3` … `test 3/3` in pipeline 26 (success), in order: each archive holds its own
    /// `reports/test-N.xml` and [`SUMMARY_FILE`].
    pub const FAN_IN_TEST_JOBS: [u64; 3] = [151, 152, 153];
    /// The file all three `test N/3` archives hold, with identical bytes ([`SUMMARY_TEXT`]).
    pub const SUMMARY_FILE: &str = "reports/summary.txt";
    /// The content of [`SUMMARY_FILE`] in every `test N/3` archive.
    pub const SUMMARY_TEXT: &str = "3 test jobs, 42 tests, 0 failures\n";
    /// `build: [linux, amd64]` in pipeline 26 (success): `dist/amd64/app`.
    pub const BUILD_AMD64_JOB: u64 = 154;
    /// `build: [linux, arm64]` in pipeline 26 (success): `dist/arm64/app`.
    pub const BUILD_ARM64_JOB: u64 = 155;
    /// `lint` in pipeline 26, failed and retried (by 157): [`LINT_FILE`] saying `attempt 1`.
    pub const LINT_RETRIED_JOB: u64 = 156;
    /// `lint` in pipeline 26, the retry (success): [`LINT_FILE`] saying `attempt 2`.
    pub const LINT_JOB: u64 = 157;
    /// The one file of both `lint` archives; its text names the attempt.
    pub const LINT_FILE: &str = "lint/report.txt";
    /// `slow` in pipeline 26, still running (an archive is already there: `slow/out.txt`).
    /// A test finishes it with `server.world().job_mut(SLOW_JOB)`.
    pub const SLOW_JOB: u64 = 158;
    /// `manual` in pipeline 26: status `manual`, no archive.
    pub const MANUAL_JOB: u64 = 159;
    /// `broken` in pipeline 26: failed, no archive.
    pub const BROKEN_JOB: u64 = 160;
    /// Bridge `child` in pipeline 26 → [`CHILD_PIPELINE`].
    pub const CHILD_BRIDGE: u64 = 161;
    /// Bridge `downstream` in pipeline 26 → [`DOWNSTREAM_PIPELINE`] (project 1).
    pub const DOWNSTREAM_BRIDGE: u64 = 162;
    /// `package` in pipeline 27 (the child, success): `pkg/app.tar`.
    pub const PACKAGE_JOB: u64 = 163;
    /// `deploy` in pipeline 28 (project 1, the multi-project downstream): running, no archive.
    pub const DEPLOY_JOB: u64 = 164;
    // ---- the README's `.gitlab-ci.yml` example (its section "In `.gitlab-ci.yml`"), which
    // runs in gljob's tests as a job of project 1 (`tests/readme.rs`); see `World::demo`.

    /// `group/backend`: allowlist `[1]`, so project 1's jobs may fetch from it.
    pub const BACKEND_PROJECT: u64 = 5;
    /// Project 1, `main`, success: the last good build of the TOKEN's own project (older
    /// than the running pipeline 6 that holds the TOKEN's job).
    pub const OWN_MAIN_PIPELINE: u64 = 5;
    /// `build` in pipeline 5: [`APP_TARBALL`] and [`APP_BINARY`] (mode 0755).
    pub const OWN_BUILD_JOB: u64 = 5;
    /// The release tarball of [`OWN_BUILD_JOB`]'s archive.
    pub const APP_TARBALL: &str = "dist/app.tar.gz";
    /// The executable of [`OWN_BUILD_JOB`]'s archive (mode 0755).
    pub const APP_BINARY: &str = "dist/bin/app";
    /// Project 5, tag `v1.2.3`, success.
    pub const BACKEND_TAG_PIPELINE: u64 = 41;
    /// `test 1/3` … `test 3/3` in pipeline 41: each `reports/junit-N.xml` and
    /// `coverage/part-N.txt` (what `--path "reports/**"` leaves out).
    pub const BACKEND_TEST_JOBS: [u64; 3] = [170, 171, 172];
}

/// Everything the fake serves.
#[derive(Debug, Clone)]
pub struct World {
    pub projects: Vec<Project>,
    pub pipelines: Vec<Pipeline>,
    /// Builds: the jobs that run scripts and may have artifacts.
    pub jobs: Vec<Job>,
    /// Trigger jobs. Their ids come from the same sequence as builds', but they are not
    /// builds: the jobs lists and the artifact routes never see them.
    pub bridges: Vec<Bridge>,
    pub tokens: Vec<TokenGrant>,
    /// Access tokens (`PRIVATE-TOKEN`): the demo world has [`PAT`], a group access token
    /// whose bot user is a Reporter of every demo project.
    pub access_tokens: Vec<AccessToken>,
    /// Kubernetes agents, for `GET /job/allowed_agents`.
    pub agents: Vec<Agent>,
    /// A body to answer `GET /job` with for [`TOKEN`] instead of the token's job as GitLab's
    /// `Entities::Ci::Job` presents it (`None`, the default, like every other job token).
    /// For tests of how a client copes with what a server may send.
    pub job_body: Option<String>,
    /// Likewise for `GET /job/allowed_agents` (`None`: generated from the token's job, its
    /// project's groups, its user's role and [`World::agents`]).
    pub agents_body: Option<String>,
    /// Files in projects' generic package registries, oldest first (none in the demo world).
    pub packages: Vec<PackageFile>,
}

/// One file of a generic package: `GET`/`PUT
/// /projects/:id/packages/generic/:name/:version/:file`. A later upload of the same file name
/// to the same package version does not replace the earlier one; downloads get the newest, as
/// GitLab's (duplicates are allowed by default).
#[derive(Clone)]
pub struct PackageFile {
    pub project_id: u64,
    pub name: String,
    pub version: String,
    pub file_name: String,
    pub bytes: Arc<Vec<u8>>,
}

impl std::fmt::Debug for PackageFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackageFile(project {}, {}/{}/{}, {} bytes)",
            self.project_id,
            self.name,
            self.version,
            self.file_name,
            self.bytes.len()
        )
    }
}

/// A project. `path_with_namespace` is its full path; its `path` is the last segment.
#[derive(Debug, Clone)]
pub struct Project {
    pub id: u64,
    pub path_with_namespace: String,
    /// Former full paths: a GET by one of them answers 301 to the numeric-id URL.
    pub old_paths: Vec<String>,
    /// Public: readable anonymously and by job tokens not on the allowlist.
    pub public: bool,
    /// "Public pipelines" (Settings → CI/CD → General pipelines; GitLab's `public_builds`, on
    /// by default): `read_build` for everyone who can see the project (`rule { public_builds
    /// }.enable :read_build` in app/policies/project_policy.rb), so a Guest of a private
    /// project may download artifacts, and anyone may on a public one. Off: only Reporter and
    /// up.
    pub public_builds: bool,
    /// Source project ids whose job tokens may come in; the own project is always allowed.
    pub allowlist: Vec<u64>,
    /// `false`: any project's job token may come in (self-managed, before 18.0).
    pub allowlist_enabled: bool,
    /// Role in this project of the user who triggered the token's job (and so of the token).
    /// `None` (not a member) on a private project: the job token cannot `read_project`, which
    /// GitLab answers with the allowlist's 403 "…not allowed from X to Y." even when the
    /// allowlist lets this project in (`handle_job_token_failure!` in lib/api/helpers.rb does
    /// not tell the two apart). `Guest`: artifacts only with [`Project::public_builds`].
    pub user_role: Option<Role>,
    /// `artifacts:access: none`: artifact routes answer 403.
    pub artifacts_access_none: bool,
    /// Fine-grained job-token permissions (GitLab's `job_token_policies` on the allowlist
    /// entry; here one set for every source project): `None` = off, every route the
    /// allowlist lets a job token of another project reach works as before. `Some(list)`: a
    /// job token of *another* project needs the route's policy in `list` (`read_jobs` for
    /// the jobs lists and the artifact routes, `read_pipelines` for a pipeline and its
    /// bridges), else 403 "Insufficient permissions … The following token permission is
    /// required: read_jobs." Reaching a public project without being on its allowlist then
    /// counts as lacking every policy (`Ci::JobToken::Scope#policies_allowed?`).
    pub job_token_policies: Option<Vec<String>>,
}

impl Project {
    /// The last segment of the full path (what GitLab's job-token 403 names).
    pub fn path(&self) -> &str {
        self.path_with_namespace
            .rsplit('/')
            .next()
            .unwrap_or(&self.path_with_namespace)
    }
}

/// A member's role. Reporter and up may read builds and artifacts; a Guest only where the
/// project's pipelines are public ([`Project::public_builds`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Guest,
    /// GitLab 17.7+: between Guest and Reporter (`Gitlab::Access::PLANNER`).
    Planner,
    Reporter,
    Developer,
    Maintainer,
    Owner,
}

impl Role {
    /// `roles_in_project` of `/job/allowed_agents`: this role and every role below it, as
    /// `Gitlab::Access.sym_options_with_owner` names them.
    pub fn and_below(self) -> Vec<&'static str> {
        [
            (Role::Guest, "guest"),
            (Role::Planner, "planner"),
            (Role::Reporter, "reporter"),
            (Role::Developer, "developer"),
            (Role::Maintainer, "maintainer"),
            (Role::Owner, "owner"),
        ]
        .into_iter()
        .filter(|(r, _)| *r <= self)
        .map(|(_, name)| name)
        .collect()
    }
}

/// A personal, project or group access token, sent as `PRIVATE-TOKEN` (or `Authorization:
/// Bearer`, or `private_token=`): it authenticates as its user, who has a role only in the
/// projects it is a member of (a project access token's bot user: that project; a group
/// access token's: the group's projects). Elsewhere a private project is `404 Project Not
/// Found` to it, as to any non-member. Sent as `JOB-TOKEN` it is no job's token: 401.
#[derive(Debug, Clone)]
pub struct AccessToken {
    pub token: String,
    /// The token's user's `username` (a bot's: `project_1_bot_…`, `group_9_bot_…`).
    pub username: String,
    /// The projects its user is a member of, with the role.
    pub roles: Vec<(u64, Role)>,
}

impl AccessToken {
    /// Its user's role in a project, if a member.
    pub fn role_in(&self, project_id: u64) -> Option<Role> {
        self.roles
            .iter()
            .find(|(id, _)| *id == project_id)
            .map(|(_, r)| *r)
    }
}

/// A pipeline of a project, on a ref.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: u64,
    pub project_id: u64,
    /// Branch, tag or `refs/merge-requests/IID/head`, exactly as GitLab stores `ref`.
    pub git_ref: String,
    /// `success`, `running`, `failed`, … — by-ref lookups use only `success`.
    pub status: String,
    /// The commit, 40 hex digits: [`pipeline_sha`] of the id (a child pipeline gets its
    /// parent's). Only shown in bodies; nothing is looked up by it.
    pub sha: String,
    /// What created it: `push` (the default), `parent_pipeline` (a child pipeline, started by
    /// a bridge of the same project), `pipeline` (a multi-project downstream). By-ref lookups
    /// without `search_recent_successful_pipelines` never pick a `parent_pipeline` one as
    /// "the newest successful pipeline" (GitLab's dangling sources), only through its parent.
    pub source: String,
    /// The ref is a tag (the jobs' `tag` field).
    pub tag: bool,
}

/// The deterministic commit sha of pipeline `id` (40 hex digits), so that bodies are the
/// same on every run.
pub fn pipeline_sha(id: u64) -> String {
    let digest = ring::digest::digest(
        &ring::digest::SHA1_FOR_LEGACY_USE_ONLY,
        format!("fake-gitlab pipeline {id}").as_bytes(),
    );
    crate::http::hex(digest.as_ref())
}

/// A job (build) in a pipeline.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    pub pipeline_id: u64,
    pub name: String,
    /// `success`, `running`, `failed`, `manual`, … A test may change it between two requests
    /// (a job finishing while a client polls): every request reads it afresh.
    pub status: String,
    /// The stage (default `test`).
    pub stage: String,
    /// Superseded by a retry (a newer job with the same name in the same pipeline): by-ref
    /// lookups and the pipeline's jobs list (without `include_retried`) skip it; the project's
    /// jobs list shows it.
    pub retried: bool,
    /// Runner tags (`tags:` in .gitlab-ci.yml): `tag_list`, sorted as GitLab sorts them.
    pub tags: Vec<String>,
    /// The artifacts archive, if the job has one.
    pub archive: Option<Archive>,
    /// The archive has expired but is not deleted yet: archive routes still serve it, the
    /// single-file route by job id answers `404 Not Found`.
    pub expired: bool,
}

/// A Kubernetes agent (`.gitlab/agents/<name>/config.yaml` in its configuration project)
/// whose `ci_access` lets jobs of some projects use it: its own project's, implicitly, and
/// those of `authorized_projects`.
#[derive(Debug, Clone)]
pub struct Agent {
    pub id: u64,
    pub name: String,
    /// The project holding its configuration.
    pub config_project: u64,
    pub authorized_projects: Vec<u64>,
    /// The `ci_access` entry's configuration, as `allowed_agents` shows it.
    pub configuration: serde_json::Value,
}

/// A trigger job (`trigger:`), which starts a downstream pipeline: a child in the same
/// project, or a multi-project pipeline in any project.
#[derive(Debug, Clone)]
pub struct Bridge {
    pub id: u64,
    pub pipeline_id: u64,
    pub name: String,
    pub status: String,
    pub stage: String,
    /// The pipeline it started (any project); `None` until it is created.
    pub downstream: Option<u64>,
}

/// An artifacts archive: in memory, or a file streamed from disk.
#[derive(Clone)]
pub enum Archive {
    Bytes(Arc<Vec<u8>>),
    /// Streamed from disk, never read whole into memory (tests use 1 GiB archives).
    File(PathBuf),
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Archive::Bytes(b) => write!(f, "Archive::Bytes({} bytes)", b.len()),
            Archive::File(p) => write!(f, "Archive::File({})", p.display()),
        }
    }
}

impl From<Vec<u8>> for Archive {
    fn from(bytes: Vec<u8>) -> Archive {
        Archive::Bytes(Arc::new(bytes))
    }
}

/// Found by [`Archive::find_entry`].
pub(crate) struct EntryInfo {
    pub index: usize,
    pub size: u64,
    pub is_dir: bool,
}

/// An `Arc<Vec<u8>>` as a `Cursor` source.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Archive {
    /// Opens the archive with the zip crate and calls `f` with it.
    fn with_zip<T>(&self, f: impl FnOnce(&mut dyn ZipAccess) -> io::Result<T>) -> io::Result<T> {
        match self {
            Archive::Bytes(b) => {
                let mut z = zip::ZipArchive::new(Cursor::new(SharedBytes(b.clone())))
                    .map_err(io::Error::other)?;
                f(&mut z)
            }
            Archive::File(p) => {
                let mut z = zip::ZipArchive::new(BufReader::new(File::open(p)?))
                    .map_err(io::Error::other)?;
                f(&mut z)
            }
        }
    }

    /// The entry with exactly this name, as gitlab-zip-cat looks it up.
    pub(crate) fn find_entry(&self, name: &str) -> io::Result<Option<EntryInfo>> {
        self.with_zip(|z| z.find(name))
    }

    /// Calls `f` with a reader of entry `index`'s uncompressed content (a symlink's content is
    /// its target).
    pub(crate) fn with_entry(
        &self,
        index: usize,
        f: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()> {
        self.with_zip(|z| z.read(index, f))
    }
}

/// The two operations the routes need, over either kind of zip reader.
trait ZipAccess {
    fn find(&mut self, name: &str) -> io::Result<Option<EntryInfo>>;
    fn read(
        &mut self,
        index: usize,
        f: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()>;
}

impl<R: Read + io::Seek> ZipAccess for zip::ZipArchive<R> {
    fn find(&mut self, name: &str) -> io::Result<Option<EntryInfo>> {
        let Some(index) = self.index_for_name(name) else {
            return Ok(None);
        };
        let entry = self.by_index(index).map_err(io::Error::other)?;
        Ok(Some(EntryInfo {
            index,
            size: entry.size(),
            is_dir: entry.is_dir(),
        }))
    }

    fn read(
        &mut self,
        index: usize,
        f: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut entry = self.by_index(index).map_err(io::Error::other)?;
        f(&mut entry)
    }
}

/// Grants a token: while `running`, it authenticates as its job; otherwise it gets 401.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub token: String,
    pub job_id: u64,
    pub running: bool,
}

impl World {
    /// The world every server starts with; see [`demo`] and the crate docs.
    pub fn demo() -> World {
        let mut w = World {
            projects: Vec::new(),
            pipelines: Vec::new(),
            jobs: Vec::new(),
            bridges: Vec::new(),
            tokens: vec![
                TokenGrant {
                    token: TOKEN.to_string(),
                    job_id: demo::TOKEN_JOB,
                    running: true,
                },
                TokenGrant {
                    token: FINISHED_TOKEN.to_string(),
                    job_id: demo::FINISHED_JOB,
                    running: false,
                },
            ],
            access_tokens: vec![AccessToken {
                token: PAT.to_string(),
                username: "group_100_bot_5e1f".to_string(),
                roles: [
                    demo::OWN_PROJECT,
                    demo::PROJECT,
                    demo::LOCKED_PROJECT,
                    demo::PUBLIC_PROJECT,
                ]
                .into_iter()
                .map(|id| (id, Role::Reporter))
                .collect(),
            }],
            agents: vec![Agent {
                id: 1,
                name: "k8s-deploy".to_string(),
                config_project: demo::OWN_PROJECT,
                authorized_projects: vec![demo::PROJECT],
                configuration: serde_json::json!({"default_namespace": "project1-deploy"}),
            }],
            job_body: None,
            agents_body: None,
            packages: Vec::new(),
        };

        let p1 = w.add_project(demo::OWN_PROJECT, "namespace1/project1");
        p1.allowlist = Vec::new();
        let p2 = w.add_project(demo::PROJECT, "group/sub/my.project");
        p2.old_paths.push("group/sub/old.project".to_string());
        w.add_project(demo::LOCKED_PROJECT, "other/locked")
            .allowlist = Vec::new();
        let p4 = w.add_project(demo::PUBLIC_PROJECT, "other/public");
        p4.public = true;
        p4.allowlist = Vec::new();

        w.add_project(demo::BACKEND_PROJECT, "group/backend");

        w.demo_by_ref_story();
        w.demo_fan_in_story();
        w.demo_readme_story();
        w
    }

    /// What the README's `.gitlab-ci.yml` example fetches, as a job of project 1 (ids 5, 41,
    /// 170–172): the newest successful `build` on `main` of the job's own project, and
    /// `test 1/3` … `test 3/3` of tag `v1.2.3` in `group/backend`.
    fn demo_readme_story(&mut self) {
        let own = demo::OWN_MAIN_PIPELINE;
        self.push_pipeline(own, demo::OWN_PROJECT, "main", "success");
        let build = zips::build(&[
            Entry::file(
                demo::APP_TARBALL,
                b"the release tarball of build (job 5), pipeline 5 on main\n",
                0o644,
            ),
            Entry::file(
                demo::APP_BINARY,
                b"#!/bin/sh\necho app built by job 5\n",
                0o755,
            ),
        ]);
        self.push_job(
            demo::OWN_BUILD_JOB,
            own,
            "build",
            "success",
            Some(Archive::from(build)),
        );
        self.job_mut(demo::OWN_BUILD_JOB).expect("build").stage = "build".to_string();

        let tag = demo::BACKEND_TAG_PIPELINE;
        self.push_pipeline(tag, demo::BACKEND_PROJECT, "v1.2.3", "success");
        self.pipeline_mut(tag)
            .expect("the backend's tag pipeline")
            .tag = true;
        for (n, id) in (1..).zip(demo::BACKEND_TEST_JOBS) {
            let report = format!("reports/junit-{n}.xml");
            let xml = format!("<testsuite name=\"test {n}/3\" tests=\"9\" failures=\"0\"/>\n");
            let coverage = format!("coverage/part-{n}.txt");
            let archive = zips::build(&[
                Entry::file(&coverage, b"lines: 87%\n", 0o644),
                Entry::file(&report, xml.as_bytes(), 0o644),
            ]);
            self.push_job(
                id,
                tag,
                &format!("test {n}/3"),
                "success",
                Some(Archive::from(archive)),
            );
        }
    }

    /// The pipelines and jobs that by-ref and by-id downloads pick from (ids below 150).
    fn demo_by_ref_story(&mut self) {
        let sample = Archive::from(zips::sample());
        let decoy = |why: &str| Some(Archive::from(decoy(why)));
        for (id, project_id, git_ref, status) in [
            (demo::OWN_PIPELINE, 1, "main", "running"),
            (demo::OLD_MAIN_PIPELINE, 2, "main", "success"),
            (demo::MAIN_PIPELINE, 2, "main", "success"),
            (demo::FEATURE_PIPELINE, 2, "feature/x", "success"),
            (
                demo::MR_PIPELINE,
                2,
                "refs/merge-requests/7/head",
                "success",
            ),
            (demo::TAG_PIPELINE, 2, "v1.2.3", "success"),
            (demo::RUNNING_MAIN_PIPELINE, 2, "main", "running"),
            (demo::LOCKED_PIPELINE, 3, "main", "success"),
            (demo::PUBLIC_PIPELINE, 4, "main", "success"),
        ] {
            self.push_pipeline(id, project_id, git_ref, status);
        }
        self.pipeline_mut(demo::TAG_PIPELINE)
            .expect("the tag pipeline")
            .tag = true;

        let s = || Some(sample.clone());
        let setup = Archive::from(zips::build(&[Entry::file(
            "setup/env.txt",
            b"written by setup (job 7) in pipeline 6\n",
            0o644,
        )]));
        for (id, pipeline_id, name, status, archive) in [
            (demo::FINISHED_JOB, 6, "setup", "success", Some(setup)),
            (demo::TOKEN_JOB, 6, "rubocop", "running", None),
            (
                demo::OLD_BUILD_JOB,
                20,
                "build",
                "success",
                decoy("build of an older pipeline on main (20), not the newest successful one"),
            ),
            (
                demo::RETRIED_BUILD_JOB,
                21,
                "build",
                "failed",
                decoy("retried build (101) in pipeline 21; its retry is job 102"),
            ),
            (demo::BUILD_JOB, 21, "build", "success", s()),
            (demo::TEST_JOB, 21, "test 1/3", "success", s()),
            (demo::WEIRD_JOB, 21, demo::WEIRD_NAME, "success", s()),
            (demo::NO_ARTIFACTS_JOB, 21, "no-artifacts", "success", None),
            (demo::EXPIRED_JOB, 21, "expired", "success", s()),
            (demo::FEATURE_BUILD_JOB, 22, "build", "success", s()),
            (demo::MR_BUILD_JOB, 23, "build", "success", s()),
            (demo::TAG_BUILD_JOB, 24, "build", "success", s()),
            (
                demo::RUNNING_BUILD_JOB,
                25,
                "build",
                "success",
                decoy("build of the running pipeline on main (25)"),
            ),
            (demo::LOCKED_BUILD_JOB, 30, "build", "success", s()),
            (demo::PUBLIC_BUILD_JOB, 40, "build", "success", s()),
        ] {
            self.push_job(id, pipeline_id, name, status, archive);
        }
        for j in &mut self.jobs {
            j.retried = j.id == demo::RETRIED_BUILD_JOB;
            j.expired = j.id == demo::EXPIRED_JOB;
        }
        if let Some(own) = self.job_mut(demo::TOKEN_JOB) {
            own.tags = vec!["docker".to_string(), "linux".to_string()];
        }
    }

    /// The fan-in story (ids 26–28 and 150–164): in project 2, an upstream pipeline on
    /// `main` that is still running, with finished jobs whose archives a downstream pipeline
    /// would fetch together (parallel and matrix jobs, one shared file), a retried job, jobs
    /// that are running, manual and failed, and two bridges: a child pipeline in the same
    /// project and a multi-project downstream in project 1.
    fn demo_fan_in_story(&mut self) {
        let zip = |files: &[(&str, &str)]| {
            let entries: Vec<Entry> = files
                .iter()
                .map(|(name, text)| Entry::file(name, text.as_bytes(), 0o644))
                .collect();
            Some(Archive::from(zips::build(&entries)))
        };
        let p = demo::FAN_IN_PIPELINE;
        self.push_pipeline(p, demo::PROJECT, "main", "running");
        let [t1, t2, t3] = demo::FAN_IN_TEST_JOBS;
        let test = |n: usize| {
            let report = format!("reports/test-{n}.xml");
            let xml = format!("<testsuite name=\"test {n}/3\" tests=\"14\" failures=\"0\"/>\n");
            zip(&[(&report, &xml), (demo::SUMMARY_FILE, demo::SUMMARY_TEXT)])
        };
        let build = |arch: &str| {
            let path = format!("dist/{arch}/app");
            let text = format!("#!/bin/sh\necho app for linux/{arch}\n");
            zip(&[(&path, &text)])
        };
        for (id, name, stage, status, archive) in [
            (
                demo::COMPILE_JOB,
                "compile",
                "build",
                "success",
                zip(&[(demo::COMPILE_FILE, "#!/bin/sh\necho compiled by job 150\n")]),
            ),
            (t1, "test 1/3", "test", "success", test(1)),
            (t2, "test 2/3", "test", "success", test(2)),
            (t3, "test 3/3", "test", "success", test(3)),
            (
                demo::BUILD_AMD64_JOB,
                "build: [linux, amd64]",
                "build",
                "success",
                build("amd64"),
            ),
            (
                demo::BUILD_ARM64_JOB,
                "build: [linux, arm64]",
                "build",
                "success",
                build("arm64"),
            ),
            (
                demo::LINT_RETRIED_JOB,
                "lint",
                "test",
                "failed",
                zip(&[(demo::LINT_FILE, "lint: attempt 1 (job 156), failed\n")]),
            ),
            (
                demo::LINT_JOB,
                "lint",
                "test",
                "success",
                zip(&[(demo::LINT_FILE, "lint: attempt 2 (job 157), passed\n")]),
            ),
            (
                demo::SLOW_JOB,
                "slow",
                "test",
                "running",
                zip(&[("slow/out.txt", "slow job 158, finally done\n")]),
            ),
            (demo::MANUAL_JOB, "manual", "deploy", "manual", None),
            (demo::BROKEN_JOB, "broken", "test", "failed", None),
        ] {
            self.push_job(id, p, name, status, archive);
            self.job_mut(id).expect("just added").stage = stage.to_string();
        }
        self.job_mut(demo::LINT_RETRIED_JOB)
            .expect("lint's first attempt")
            .retried = true;

        let child = demo::CHILD_PIPELINE;
        self.push_pipeline(child, demo::PROJECT, "main", "success");
        self.push_pipeline(
            demo::DOWNSTREAM_PIPELINE,
            demo::OWN_PROJECT,
            "main",
            "running",
        );
        let parent_sha = pipeline_sha(p);
        if let Some(c) = self.pipeline_mut(child) {
            c.source = "parent_pipeline".to_string();
            c.sha = parent_sha;
        }
        if let Some(d) = self.pipeline_mut(demo::DOWNSTREAM_PIPELINE) {
            d.source = "pipeline".to_string();
        }
        for (id, name, downstream) in [
            (demo::CHILD_BRIDGE, "child", child),
            (
                demo::DOWNSTREAM_BRIDGE,
                "downstream",
                demo::DOWNSTREAM_PIPELINE,
            ),
        ] {
            self.bridges.push(Bridge {
                id,
                pipeline_id: p,
                name: name.to_string(),
                status: "success".to_string(),
                stage: "trigger".to_string(),
                downstream: Some(downstream),
            });
        }
        let package = zip(&[("pkg/app.tar", "app.tar of the child pipeline (job 163)\n")]);
        self.push_job(demo::PACKAGE_JOB, child, "package", "success", package);
        self.job_mut(demo::PACKAGE_JOB).expect("package").stage = "package".to_string();
        let deploy = demo::DEPLOY_JOB;
        self.push_job(deploy, demo::DOWNSTREAM_PIPELINE, "deploy", "running", None);
        self.job_mut(deploy).expect("deploy").stage = "deploy".to_string();
    }

    /// A pipeline with this id, source `push`, its deterministic sha, not a tag.
    fn push_pipeline(&mut self, id: u64, project_id: u64, git_ref: &str, status: &str) {
        self.pipelines.push(Pipeline {
            id,
            project_id,
            git_ref: git_ref.to_string(),
            status: status.to_string(),
            sha: pipeline_sha(id),
            source: "push".to_string(),
            tag: false,
        });
    }

    /// A job with this id, stage `test`, not retried, not expired.
    fn push_job(
        &mut self,
        id: u64,
        pipeline_id: u64,
        name: &str,
        status: &str,
        archive: Option<Archive>,
    ) {
        self.jobs.push(Job {
            id,
            pipeline_id,
            name: name.to_string(),
            status: status.to_string(),
            stage: "test".to_string(),
            retried: false,
            tags: Vec::new(),
            archive,
            expired: false,
        });
    }

    /// Adds a private project (public pipelines on, allowlist `[1]`, allowlist enabled, role
    /// Developer, no fine-grained job-token permissions; the [`PAT`] is no member of it) and returns it for further changes. A project added
    /// later shadows an earlier one with the same id or path (e.g. re-adding `other/locked` as
    /// project 30 makes that path mean 30).
    pub fn add_project(&mut self, id: u64, path: &str) -> &mut Project {
        self.projects.push(Project {
            id,
            path_with_namespace: path.to_string(),
            old_paths: Vec::new(),
            public: false,
            public_builds: true,
            allowlist: vec![1],
            allowlist_enabled: true,
            user_role: Some(Role::Developer),
            artifacts_access_none: false,
            job_token_policies: None,
        });
        let last = self.projects.len() - 1;
        &mut self.projects[last]
    }

    /// Adds a pipeline (source `push`, its deterministic sha) and returns its id (one more
    /// than the highest so far).
    pub fn add_pipeline(&mut self, project_id: u64, git_ref: &str, status: &str) -> u64 {
        let id = self.pipelines.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        self.push_pipeline(id, project_id, git_ref, status);
        id
    }

    /// The next id of a job or bridge: GitLab numbers both from one sequence, so a bridge's
    /// id is never a build's.
    fn next_job_id(&self) -> u64 {
        let jobs = self.jobs.iter().map(|j| j.id);
        let bridges = self.bridges.iter().map(|b| b.id);
        jobs.chain(bridges).max().unwrap_or(0) + 1
    }

    /// Adds a job with status `success` and returns its id (one more than the highest job or
    /// bridge id so far).
    pub fn add_job(&mut self, pipeline_id: u64, name: &str, archive: Option<Archive>) -> u64 {
        self.add_job_with(pipeline_id, name, "success", archive)
    }

    /// Adds a job with this status (stage `test`) and returns its id (one more than the
    /// highest job or bridge id so far).
    pub fn add_job_with(
        &mut self,
        pipeline_id: u64,
        name: &str,
        status: &str,
        archive: Option<Archive>,
    ) -> u64 {
        let id = self.next_job_id();
        self.push_job(id, pipeline_id, name, status, archive);
        id
    }

    /// Retries a job as GitLab does: the job is marked retried and a new attempt (a new,
    /// higher id; same pipeline, name and stage) gets this status and archive. Returns the
    /// new attempt's id. Panics if there is no such job (a test bug).
    pub fn retry(&mut self, job_id: u64, status: &str, archive: Option<Archive>) -> u64 {
        let Some(old) = self.job_mut(job_id) else {
            panic!("fake-gitlab: no job {job_id} to retry");
        };
        old.retried = true;
        let (pipeline_id, name, stage) = (old.pipeline_id, old.name.clone(), old.stage.clone());
        let id = self.add_job_with(pipeline_id, &name, status, archive);
        self.job_mut(id).expect("just added").stage = stage;
        id
    }

    /// Adds a bridge (stage `trigger`) and returns its id, from the jobs' sequence. Its status
    /// is `success` when it has started `downstream` (a pipeline id, any project), `created`
    /// when `downstream` is `None`.
    pub fn add_bridge(&mut self, pipeline_id: u64, name: &str, downstream: Option<u64>) -> u64 {
        let id = self.next_job_id();
        let status = if downstream.is_some() {
            "success"
        } else {
            "created"
        };
        self.bridges.push(Bridge {
            id,
            pipeline_id,
            name: name.to_string(),
            status: status.to_string(),
            stage: "trigger".to_string(),
            downstream,
        });
        id
    }

    /// Adds a downstream pipeline started by a new bridge `bridge_name` of pipeline
    /// `parent_pipeline_id`, and returns `(bridge id, pipeline id)`. In the parent's project it
    /// is a child pipeline (source `parent_pipeline`, the parent's sha); in another project a
    /// multi-project pipeline (source `pipeline`, its own sha). Either way it runs on the
    /// parent's ref; change `pipeline_mut(id).git_ref` for another. Panics if there is no
    /// such parent (a test bug).
    pub fn add_child_pipeline(
        &mut self,
        parent_pipeline_id: u64,
        bridge_name: &str,
        project_id: u64,
        status: &str,
    ) -> (u64, u64) {
        let Some(parent) = self.pipeline(parent_pipeline_id) else {
            panic!("fake-gitlab: no pipeline {parent_pipeline_id} to start a child from");
        };
        let (git_ref, parent_project, parent_sha) = (
            parent.git_ref.clone(),
            parent.project_id,
            parent.sha.clone(),
        );
        let id = self.add_pipeline(project_id, &git_ref, status);
        let child = self.pipeline_mut(id).expect("just added");
        if project_id == parent_project {
            child.source = "parent_pipeline".to_string();
            child.sha = parent_sha;
        } else {
            child.source = "pipeline".to_string();
        }
        let bridge = self.add_bridge(parent_pipeline_id, bridge_name, Some(id));
        (bridge, id)
    }

    /// Adds a token for a job (`running: false` makes it a dead token: 401).
    pub fn add_token(&mut self, token: &str, job_id: u64, running: bool) {
        self.tokens.push(TokenGrant {
            token: token.to_string(),
            job_id,
            running,
        });
    }

    /// `project.group.self_and_ancestor_ids` (what `/job/allowed_agents` lists as the
    /// project's groups): its namespace and every namespace above it, innermost first. A
    /// namespace's id is 100 plus its place among all projects' namespaces in path order, so
    /// the same on every run.
    pub fn group_ids(&self, project_id: u64) -> Vec<u64> {
        let ancestors = |path: &str| -> Vec<String> {
            let parts: Vec<&str> = path.split('/').collect();
            (1..parts.len())
                .rev()
                .map(|n| parts[..n].join("/"))
                .collect()
        };
        let mut all: Vec<String> = self
            .projects
            .iter()
            .flat_map(|p| ancestors(&p.path_with_namespace))
            .collect();
        all.sort();
        all.dedup();
        let Some(project) = self.project(project_id) else {
            return Vec::new();
        };
        ancestors(&project.path_with_namespace)
            .iter()
            .filter_map(|g| all.iter().position(|a| a == g))
            .map(|i| 100 + i as u64)
            .collect()
    }

    /// The access token with this value.
    pub fn access_token(&self, token: &str) -> Option<&AccessToken> {
        self.access_tokens.iter().find(|t| t.token == token)
    }

    /// As [`World::access_token`], to change it (give it a role in a project a test added).
    pub fn access_token_mut(&mut self, token: &str) -> Option<&mut AccessToken> {
        self.access_tokens.iter_mut().find(|t| t.token == token)
    }

    /// The project with this id (the most recently added one, if a test re-added it).
    pub fn project(&self, id: u64) -> Option<&Project> {
        self.projects.iter().rev().find(|p| p.id == id)
    }

    /// As [`World::project`], to change it.
    pub fn project_mut(&mut self, id: u64) -> Option<&mut Project> {
        self.projects.iter_mut().rev().find(|p| p.id == id)
    }

    pub fn pipeline(&self, id: u64) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    pub fn pipeline_mut(&mut self, id: u64) -> Option<&mut Pipeline> {
        self.pipelines.iter_mut().find(|p| p.id == id)
    }

    pub fn bridge(&self, id: u64) -> Option<&Bridge> {
        self.bridges.iter().find(|b| b.id == id)
    }

    pub fn bridge_mut(&mut self, id: u64) -> Option<&mut Bridge> {
        self.bridges.iter_mut().find(|b| b.id == id)
    }

    pub fn job(&self, id: u64) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub fn job_mut(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// The project a job belongs to (through its pipeline).
    pub fn job_project_id(&self, job_id: u64) -> Option<u64> {
        let job = self.job(job_id)?;
        Some(self.pipeline(job.pipeline_id)?.project_id)
    }

    /// Publishes a file in a project's generic package registry, as `PUT
    /// /projects/:id/packages/generic/:name/:version/:file` does. The project is not checked:
    /// downloads answer only for projects that exist.
    pub fn add_package(
        &mut self,
        project_id: u64,
        name: &str,
        version: &str,
        file_name: &str,
        bytes: impl Into<Vec<u8>>,
    ) {
        self.packages.push(PackageFile {
            project_id,
            name: name.to_string(),
            version: version.to_string(),
            file_name: file_name.to_string(),
            bytes: Arc::new(bytes.into()),
        });
    }

    /// The newest upload of this package file.
    pub fn package(
        &self,
        project_id: u64,
        name: &str,
        version: &str,
        file_name: &str,
    ) -> Option<&PackageFile> {
        self.packages.iter().rev().find(|p| {
            p.project_id == project_id
                && p.name == name
                && p.version == version
                && p.file_name == file_name
        })
    }

    /// Sets the archive of a job (panics if there is no such job: a test bug).
    pub fn set_archive(&mut self, job_id: u64, archive: Option<Archive>) {
        match self.job_mut(job_id) {
            Some(j) => j.archive = archive,
            None => panic!("fake-gitlab: no job {job_id} in the world"),
        }
    }
}

/// A small archive that says why it is the wrong one.
fn decoy(why: &str) -> Vec<u8> {
    zips::build(&[Entry::file(
        demo::DECOY_FILE,
        format!("fake-gitlab served the wrong archive: {why}\n").as_bytes(),
        0o644,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_ids_are_unique_and_consistent() {
        let w = World::demo();
        let mut ids: Vec<u64> = w.jobs.iter().map(|j| j.id).collect();
        ids.extend(w.bridges.iter().map(|b| b.id));
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "job and bridge ids come from one sequence");
        for j in &w.jobs {
            let p = w.pipeline(j.pipeline_id).expect("job's pipeline exists");
            assert!(w.project(p.project_id).is_some());
        }
        for b in &w.bridges {
            assert!(w.pipeline(b.pipeline_id).is_some());
            assert!(
                w.pipeline(b.downstream.expect("demo bridges started"))
                    .is_some()
            );
        }
        let mut pipelines: Vec<u64> = w.pipelines.iter().map(|p| p.id).collect();
        pipelines.sort_unstable();
        pipelines.dedup();
        assert_eq!(pipelines.len(), w.pipelines.len());
        assert_eq!(w.job_project_id(demo::TOKEN_JOB), Some(1));
        assert_eq!(w.project(2).map(Project::path), Some("my.project"));
        let child = w.pipeline(demo::CHILD_PIPELINE).expect("child");
        assert_eq!(child.source, "parent_pipeline");
        assert_eq!(child.sha, pipeline_sha(demo::FAN_IN_PIPELINE));
        assert_eq!(w.job(demo::LINT_RETRIED_JOB).map(|j| j.retried), Some(true));
        assert!(
            w.job(demo::FINISHED_JOB)
                .and_then(|j| j.archive.as_ref())
                .is_some()
        );
    }

    #[test]
    fn builders_pick_increasing_ids() {
        let mut w = World::demo();
        let p = w.add_pipeline(2, "main", "success");
        assert!(p > demo::PUBLIC_PIPELINE);
        let j = w.add_job(p, "build", None);
        assert!(j > demo::DEPLOY_JOB);
        assert_eq!(w.add_job(p, "other", None), j + 1);
        let b = w.add_bridge(p, "trigger", None);
        assert_eq!(b, j + 2);
        assert_eq!(w.bridge(b).map(|b| b.status.as_str()), Some("created"));
        assert_eq!(w.add_job_with(p, "late", "pending", None), j + 3);
    }

    #[test]
    fn retry_and_child_pipelines() {
        let mut w = World::demo();
        let p = w.add_pipeline(2, "topic", "running");
        let first = w.add_job_with(p, "flaky", "failed", None);
        w.job_mut(first).expect("first").stage = "verify".into();
        let second = w.retry(first, "running", None);
        assert!(second > first);
        let (a, b) = (w.job(first).expect("a"), w.job(second).expect("b"));
        assert!(a.retried && !b.retried);
        assert_eq!(
            (b.name.as_str(), b.stage.as_str(), b.status.as_str()),
            ("flaky", "verify", "running")
        );

        let (bridge, child) = w.add_child_pipeline(p, "child", 2, "created");
        let c = w.pipeline(child).expect("child");
        assert_eq!(
            (c.git_ref.as_str(), c.source.as_str()),
            ("topic", "parent_pipeline")
        );
        assert_eq!(c.sha, pipeline_sha(p));
        assert_eq!(w.bridge(bridge).and_then(|b| b.downstream), Some(child));
        let (_, other) = w.add_child_pipeline(p, "deploy", 1, "pending");
        let o = w.pipeline(other).expect("multi-project");
        assert_eq!((o.project_id, o.source.as_str()), (1, "pipeline"));
        assert_ne!(o.sha, pipeline_sha(p));
    }
}
