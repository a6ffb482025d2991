//! A fake GitLab on real sockets on 127.0.0.1, for gljob's integration tests and for trying
//! gljob (or curl, or python-gitlab) by hand.
//!
//! It reproduces what a real GitLab (Rails behind Workhorse) answers on the routes gljob uses —
//! statuses, JSON bodies with their exact wording, headers — as `shared/gitlab-api.md`
//! describes: `GET /job`, `GET /job/allowed_agents`, the four job-artifact endpoints (by ref
//! also with `search_recent_successful_pipelines`), and the routes that choose jobs — a
//! project's jobs list, a pipeline, its jobs and its bridges, paginated as GitLab paginates
//! them — with job-token authentication, project lookup by id or path (and 301 for renamed
//! projects), the job-token allowlist and fine-grained job-token permissions, local archive
//! downloads with ranges and ETags, and object storage on a second origin reached by a 302.
//! Tests steer it in three ways: by changing the [`World`] it serves, by injecting [`Fault`]s —
//! error statuses, rate limits, resets, truncations, stalls — into the next matching requests,
//! and by starting it as an older GitLab ([`Config`]'s version switches). Every request is
//! logged ([`Server::requests`]) so a test can assert what the client sent (and to which
//! origin).
//!
//! Nothing it answers depends on the clock (bodies' times are made up from ids), and every
//! request reads the world afresh, so a test drives time itself: to have a job finish while
//! a client polls, wait for the Nth poll ([`Server::wait_for_request`]) and set
//! `server.world().job_mut(id)` `.status`. (The poll that `wait_for_request` returns may or
//! may not see the change, as it races with its own response; the next one does.)
//!
//! std threads only, no async runtime: a thread per connection. Both listeners are bound
//! before [`Server::start`] returns, so a test needs no readiness wait. Dropping the
//! [`Server`] stops it.
//!
//! ```no_run
//! use fake_gitlab::{Config, Fault, Server, TOKEN};
//! let server = Server::start(Config::default())?;
//! server.inject(Fault::rate_limited("/artifacts", "1"));
//! // run gljob with CI_API_V4_URL=server.api_url(), CI_JOB_TOKEN=TOKEN, CI_PROJECT_ID=1 …
//! assert!(server.requests().iter().all(|r| r.header("job-token") == Some(TOKEN)));
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # The demo world ([`World::demo`], ids also in [`demo`])
//!
//! A running job on GitLab EE with Premium, the newest version ([`Config::default`]; other
//! editions and versions are one switch away: see the tables below).
//!
//! Projects (all private unless said; the token's user has role Developer everywhere):
//!
//! | id | path | allowlist | notes |
//! |---|---|---|---|
//! | 1 | `namespace1/project1` | `[]` | the [`TOKEN`]'s own project |
//! | 2 | `group/sub/my.project` | `[1]` | old path `group/sub/old.project` (GET → 301 to id 2) |
//! | 3 | `other/locked` | `[]` | job token of project 1 → 403 "…not allowed from project1 to locked." |
//! | 4 | `other/public` | `[]` | public: artifacts readable anyway |
//! | 5 | `group/backend` | `[1]` | the README's cross-project example |
//!
//! Pipelines and jobs (job names exact; "sample" = [`zips::sample()`], "decoy" = an archive
//! holding only [`demo::DECOY_FILE`], so fetching the wrong job is visible):
//!
//! | pipeline | project | ref | status | jobs (id name: archive) |
//! |---|---|---|---|---|
//! | 5 | 1 | `main` | success (older than 6; the README's example) | 5 `build` (stage build): `dist/app.tar.gz`, `dist/bin/app` (0755) |
//! | 6 | 1 | `main` | running | 7 `setup` (success, the [`FINISHED_TOKEN`]'s job): `setup/env.txt`; 8 `rubocop` (running, the [`TOKEN`]'s job): none |
//! | 20 | 2 | `main` | success (older) | 100 `build`: decoy |
//! | 21 | 2 | `main` | success (newest success on main) | 101 `build` retried: decoy; 102 `build`: sample; 103 `test 1/3`: sample; 104 `we#ird?%+ ü`: sample; 105 `no-artifacts`: none; 106 `expired`: sample, expired |
//! | 22 | 2 | `feature/x` | success | 110 `build`: sample |
//! | 23 | 2 | `refs/merge-requests/7/head` | success | 111 `build`: sample |
//! | 24 | 2 | `v1.2.3` | success | 112 `build`: sample |
//! | 25 | 2 | `main` | running (skipped by by-ref lookups) | 120 `build`: decoy |
//! | 26 | 2 | `main` | running (newest; the fan-in upstream) | 150 `compile`: `bin/app`; 151–153 `test 1/3`…`test 3/3`: `reports/test-N.xml` + `reports/summary.txt` (same bytes in all three); 154 `build: [linux, amd64]`: `dist/amd64/app`; 155 `build: [linux, arm64]`: `dist/arm64/app`; 156 `lint` failed, retried: `lint/report.txt` "attempt 1"; 157 `lint` (its retry): `lint/report.txt` "attempt 2"; 158 `slow` running: `slow/out.txt`; 159 `manual` manual: none; 160 `broken` failed: none; bridges 161 `child` → 27, 162 `downstream` → 28 |
//! | 27 | 2 | `main` | success, source `parent_pipeline` (child of 26) | 163 `package`: `pkg/app.tar` |
//! | 28 | 1 | `main` | running, source `pipeline` (multi-project downstream of 26) | 164 `deploy` running: none |
//! | 30 | 3 | `main` | success | 130 `build`: sample |
//! | 40 | 4 | `main` | success | 140 `build`: sample |
//! | 41 | 5 | `v1.2.3` (tag) | success | 170–172 `test 1/3`…`test 3/3`: `reports/junit-N.xml`, `coverage/part-N.txt` |
//!
//! Jobs are `success` and in stage `test` unless said; pipelines have source `push` and a
//! deterministic sha ([`pipeline_sha`]). Bridges (trigger jobs) share the jobs' id sequence
//! but are not builds: the jobs lists and artifact routes never show them.
//!
//! Tokens: [`TOKEN`] → job 8 (running, pipeline 6: `--pipeline current --job setup` finds job 7);
//! [`FINISHED_TOKEN`] → job 7 (not running: 401 everywhere); [`PAT`] → an access token
//! (`PRIVATE-TOKEN`) whose user is a Reporter of projects 1–4 and of nothing a test adds
//! (`/job` → 404 Job Not Found; sent as `JOB-TOKEN` it is no job's token: 401).
//! `GET /job` with a job token serves the token's job as GitLab's `Entities::Ci::Job` (for
//! [`TOKEN`]: job 8 `rubocop`, running on the instance runner, tags `docker` and `linux`;
//! [`Server::job_json`]), `GET /job/allowed_agents` the agents of [`World::agents`] with the
//! same job, pipeline and project, the project's groups and the user's roles (a Developer).
//! [`World::job_body`] and [`World::agents_body`] replace them for tests of odd bodies.
//!
//! Every project has "Public pipelines" on (a Guest may read builds) unless a test turns
//! [`Project::public_builds`] off; the token's user is no member where
//! [`Project::user_role`] is `None` (the allowlist's 403 even when allowlisted).
//!
//! Downloads from the API origin carry the one weak ETag GitLab sends on every download
//! today (`W/"12ae32cb1ec02d01eda3581b127c1fee"`) and a `Last-Modified`; object storage
//! sends a strong ETag of its own. Object storage, like S3, ignores a `JOB-TOKEN` next to
//! a presigned URL and refuses an `Authorization` header (400 `InvalidArgument`); the log
//! keeps every header, so tests can assert no credential was sent there.
//!
//! # Deliberate departures from GitLab
//! - Roles and `artifacts:access: none` are per project, not per user or per job; there
//!   are no internal projects.
//! - Multi-range requests get the whole body (200) rather than `multipart/byteranges`.
//! - Fine-grained job-token permissions ([`Project::job_token_policies`]) are one set per
//!   target project, not per allowlist entry, and are not checked on the package registry.
//! - The jobs list has no keyset pagination (`pagination=keyset`); `per_page` below 1 is the
//!   default 20. `read_pipeline` is `read_build` (Reporter and up, or a public project).
//!
//! # Server versions ([`Config`])
//!
//! | switch | GitLab | what changes |
//! |---|---|---|
//! | default | the newest (19.x) | job tokens on every list route; by-ref search of recent pipelines |
//! | [`no_search_recent`](Config::no_search_recent) | before 18.7 | `search_recent_successful_pipelines` ignored: by ref, only the newest successful pipeline (404 `404 Not found`) |
//! | [`legacy_bridges`](Config::legacy_bridges) | in between | bridges and the single pipeline ignore job tokens: private → 404 `Project Not Found`, public → anonymous read |
//! | [`legacy_job_token_lists`](Config::legacy_job_token_lists) `Some(404)` | older | every list ignores job tokens: the jobs list → 401 (it always calls `authenticate!`); the pipeline routes: private → 404 `Project Not Found`, public → anonymous read |
//! | [`legacy_job_token_lists`](Config::legacy_job_token_lists) `Some(401)` | oldest | as `Some(404)`, but the pipeline's jobs and bridges → 401 for every project (they called `authenticate!` too); the single pipeline as with `Some(404)` |
//!
//! # Editions ([`Config::edition`])
//!
//! | [`Edition`] | GitLab | what changes |
//! |---|---|---|
//! | [`EePremium`](Edition::EePremium) (default) | EE with Premium or Ultimate (GitLab.com's paid tiers, most self-managed installs) | nothing: job tokens download artifacts |
//! | [`Ce`](Edition::Ce) | CE (FOSS) | nothing on these routes (no licence check at all) |
//! | [`EeFree`](Edition::EeFree) | EE without Premium (GitLab.com Free) | artifact routes → 404 `Project Not Found` for job tokens, even the job's own project; the lists, `/job` and packages still work, access tokens work everywhere |
//!
//! The jobs list's rate limit: [`Fault::jobs_list_rate_limited`] (the application limiter's
//! JSON, or Rack::Attack's throttle with `Retry-After`), on that endpoint only
//! ([`Fault::at`], [`Endpoint`]).
//!
//! It also serves GitLab's generic package registry (`GET`/`HEAD`/`PUT
//! /projects/:id/packages/generic/:name/:version/:file`, see [`World::add_package`]), so
//! install.sh and the release publishing are tested end to end, and it can pace archive
//! bodies to a bandwidth ([`Config::throttle_bytes_per_sec`]) and count the bytes it sent
//! ([`Server::bytes_sent`]) for the benchmark.

#![forbid(unsafe_code)]

pub mod background;
mod content;
mod http;
mod routes;
mod serve;
mod storage;
mod tls;
mod world;
pub mod zips;

use std::io;
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub use world::{
    AccessToken, Agent, Archive, Bridge, Job, PackageFile, Pipeline, Project, Role, TokenGrant,
    World, demo, pipeline_sha,
};

use serve::{Shared, lock};

/// A valid job token: job 8 of project 1, status running.
pub const TOKEN: &str = "glcbt-64_GLJOB-TEST-SECRET-7f3a9c";
/// The token of a finished job (job 7): 401 everywhere.
pub const FINISHED_TOKEN: &str = "glcbt-64_GLJOB-FINISHED-SECRET-1d2e";
/// A personal access token: `/job` gives 404 `{"message":"404 Job Not Found"}`; artifact
/// routes treat it as a user with full rights.
pub const PAT: &str = "glpat-GLJOB-PAT-SECRET-55aa";

/// Which of the two origins a request reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// The GitLab API (`api_url()`).
    Api,
    /// Object storage (`storage_url()`), where archive downloads are redirected.
    Storage,
}

/// Which GitLab the fake is, where it matters to a job token: the licence check that GitLab
/// EE adds to the job-artifact routes (`check_cross_project_pipelines_feature!` in
/// ee/lib/ee/api/ci/job_artifacts.rb). Most self-managed installs run EE, and GitLab.com is
/// EE, so the default is EE with Premium.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Edition {
    /// GitLab CE (FOSS): no licence check; job tokens download artifacts wherever their
    /// scope and role allow. On the routes the fake serves it answers as EE with Premium.
    Ce,
    /// GitLab EE with the licensed feature `cross_project_pipelines` (Premium, Ultimate; a
    /// self-managed EE without a licence also has it while Service Ping is on).
    #[default]
    EePremium,
    /// GitLab EE without it (GitLab.com Free, self-managed EE Free without Service Ping):
    /// every artifact route answers a job token `404 {"message":"404 Project Not Found"}`,
    /// even for the job's own project, after the project, scope and `read_build` checks (so
    /// a project outside the allowlist still gets the 403). The lists, `/job` and the
    /// package registry still work; an access token (`PRIVATE-TOKEN`) works everywhere.
    EeFree,
}

/// How to start a [`Server`]. `Config::default()`: plain HTTP, local storage, GitLab EE with
/// Premium, the newest version, any ports.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// HTTPS on the API origin, with a CA generated at start ([`Server::ca_file`]).
    pub tls: bool,
    /// Scheme of the storage origin: `Some(true)` HTTPS, `Some(false)` HTTP, `None` as `tls`.
    pub storage_tls: Option<bool>,
    /// Archive downloads answer 302 to a presigned URL on the storage origin.
    pub object_storage: bool,
    /// CE, EE with Premium (the default) or EE without it ([`Edition`]).
    pub edition: Edition,
    /// Port of the API origin; 0 = any free port.
    pub port: u16,
    /// Port of the storage origin; 0 = any free port.
    pub storage_port: u16,
    /// A bandwidth limit standing in for a real network: archive bodies (whole archives and
    /// ranges of them on either origin, and single files read out of an archive) are paced
    /// to at most this many bytes per second, shared by all connections of both origins as
    /// one link would be. `None`: as fast as loopback goes.
    pub throttle_bytes_per_sec: Option<u64>,
    /// A GitLab before 18.7 (or 18.7–18.9 with the flag off), which does not know
    /// `search_recent_successful_pipelines`: the by-ref routes ignore the parameter and look
    /// only at the newest successful pipeline, answering `404 Not found` as without it.
    pub no_search_recent: bool,
    /// A GitLab whose list routes do not accept job tokens yet. The token in `JOB-TOKEN` (or
    /// `job_token`) is not looked at, so the request is anonymous (one in
    /// `Authorization: Bearer` is tried as an access token: 401). What an anonymous request
    /// then gets depends on how each route authenticates in that version:
    /// - `GET /projects/:id/jobs` has `before { authenticate! }` in every version: 401
    ///   `{"message":"401 Unauthorized"}`, whatever the project.
    /// - `Some(401)`, the oldest versions, whose pipeline-jobs and bridges routes also call
    ///   `authenticate!`: 401 there too, public projects included. `GET
    ///   /projects/:id/pipelines/:pipeline_id` (only `authenticate_non_get!`) answers 404
    ///   `{"message":"404 Project Not Found"}` for a private project.
    /// - `Some(404)` (or any other value), the versions in between: the pipeline routes (its
    ///   jobs, its bridges, the pipeline) answer 404 `{"message":"404 Project Not Found"}` for
    ///   a private project.
    ///
    /// Either way public projects still answer the pipeline routes (anonymous read).
    pub legacy_job_token_lists: Option<u16>,
    /// A GitLab in between: the jobs lists accept job tokens, but `GET
    /// /projects/:id/pipelines/:pipeline_id/bridges` and `GET
    /// /projects/:id/pipelines/:pipeline_id` do not (they gained `job_token_allowed` last):
    /// there a private project answers 404 `{"message":"404 Project Not Found"}`, a public
    /// one answers anonymously.
    pub legacy_bridges: bool,
}

/// The fake's API endpoints, for a [`Fault`] that must hit one of them only (`/jobs` is in
/// the path of most of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Endpoint {
    /// `GET /job`
    Job,
    /// `GET /job/allowed_agents`
    AllowedAgents,
    /// `GET /projects/:id/jobs` (the project's jobs list)
    ProjectJobs,
    /// `GET /projects/:id/pipelines/:pipeline_id`
    Pipeline,
    /// `GET /projects/:id/pipelines/:pipeline_id/jobs`
    PipelineJobs,
    /// `GET /projects/:id/pipelines/:pipeline_id/bridges`
    PipelineBridges,
    /// `GET /projects/:id/jobs/artifacts/:ref_name/download?job=NAME`
    ArchiveByRef,
    /// `GET /projects/:id/jobs/artifacts/:ref_name/raw/*artifact_path?job=NAME`
    EntryByRef,
    /// `GET /projects/:id/jobs/:job_id/artifacts`
    ArchiveById,
    /// `GET /projects/:id/jobs/:job_id/artifacts/*artifact_path`
    EntryById,
    /// `GET`/`PUT /projects/:id/packages/generic/:name/:version/:file`
    PackageFile,
}

/// One request as received (either origin).
#[derive(Debug, Clone)]
pub struct LoggedRequest {
    pub origin: Origin,
    pub method: String,
    /// The request target exactly as received (raw path + `?` + raw query, not decoded).
    pub target: String,
    /// The raw path, not decoded.
    pub path: String,
    /// Decoded query pairs.
    pub query: Vec<(String, String)>,
    /// Header names lower-cased, in the order received.
    pub headers: Vec<(String, String)>,
    /// When the request line was read.
    pub at: Instant,
}

impl LoggedRequest {
    /// The first header with this name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A misbehaviour to apply to the next matching request(s).
///
/// It matches a request when `origin` is equal, the raw path contains `path_contains`
/// (`""` matches everything) and, if `endpoint` is set, the path is that API endpoint's; it
/// applies `times` times, then is gone. Faults are consumed in the order they were injected,
/// one per request. A matched request is still logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub origin: Origin,
    pub path_contains: String,
    /// Only requests to this endpoint (API origin), e.g. the jobs list but not the artifact
    /// routes below the same `/jobs`. `None`: any path.
    pub endpoint: Option<Endpoint>,
    pub times: usize,
    pub kind: FaultKind,
}

/// What a [`Fault`] does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer with this status, these headers (include `Content-Type`) and this body instead.
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Read the request, then close with a TCP RST and send nothing.
    Reset,
    /// Send the headers and the first N body bytes, then RST.
    ResetAfter(u64),
    /// Send the full `Content-Length` header but only N body bytes, then close cleanly (FIN).
    Truncate(u64),
    /// Wait this long before sending the response (a slow server; a stall before headers).
    Delay(Duration),
    /// Send N body bytes, pause for the duration, then send the rest.
    StallAfter(u64, Duration),
    /// Answer a `Range` request with 200 and the whole body.
    IgnoreRange,
    /// Storage origin: every presigned URL minted so far (this request's included) now gets
    /// 403 `AccessDenied`. A state change: `times = 1` is enough.
    ExpireSignatures,
    /// Answer with this status and a reverse proxy's `text/html` error page.
    Html(u16),
    /// Answer with exactly this status, these headers and these bytes (a cache or a proxy
    /// that lies: a `206` whose `Content-Range` is not the range asked for, another archive).
    Respond {
        code: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
    /// Serve the request as usual but without `ETag` and `Last-Modified` (a proxy that
    /// strips validators).
    StripValidators,
}

impl Fault {
    /// A fault on the API origin, applied once.
    pub fn new(path_contains: &str, kind: FaultKind) -> Fault {
        Fault {
            origin: Origin::Api,
            path_contains: path_contains.to_string(),
            endpoint: None,
            times: 1,
            kind,
        }
    }

    /// Only at this endpoint (and still only where the path contains `path_contains`).
    pub fn at(mut self, endpoint: Endpoint) -> Fault {
        self.endpoint = Some(endpoint);
        self
    }

    /// Applies `n` times.
    pub fn times(mut self, n: usize) -> Fault {
        self.times = n;
        self
    }

    /// On the storage origin instead.
    pub fn on_storage(mut self) -> Fault {
        self.origin = Origin::Storage;
        self
    }

    /// GitLab's Rack::Attack throttle: 429 `text/plain` `Retry later\n` with the `RateLimit-*`
    /// headers and `Retry-After: <retry_after>` (sent verbatim; if it is a number of seconds,
    /// `RateLimit-Reset` is now plus that).
    pub fn rate_limited(path_contains: &str, retry_after: &str) -> Fault {
        let wait = retry_after.trim().parse::<u64>().unwrap_or(60);
        let reset = SystemTime::now() + Duration::from_secs(wait);
        let reset_unix = reset.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let h = |k: &str, v: String| (k.to_string(), v);
        Fault::new(
            path_contains,
            FaultKind::Status {
                code: 429,
                headers: vec![
                    h("Content-Type", "text/plain".into()),
                    h("RateLimit-Name", "throttle_authenticated_api".into()),
                    h("RateLimit-Limit", "120".into()),
                    h("RateLimit-Observed", "121".into()),
                    h("RateLimit-Remaining", "0".into()),
                    h("RateLimit-Reset", reset_unix.to_string()),
                    h("RateLimit-ResetTime", http::http_date(reset)),
                    h("Retry-After", retry_after.to_string()),
                ],
                body: "Retry later\n".to_string(),
            },
        )
    }

    /// The jobs list (`GET /projects/:id/jobs`, and no other route) refuses one request for
    /// its rate limit. GitLab limits it in two layers, and `retry_after` picks the one:
    ///
    /// - `None`: the application limiter `jobs_index` (lib/api/ci/jobs.rb,
    ///   `check_rate_limit!(:jobs_index, scope: current_user)`): 429
    ///   `{"message":{"error":"This endpoint has been requested too many times. Try again later."}}`
    ///   and **no `Retry-After`** — `render_api_error!` in lib/api/helpers/rate_limiter.rb sets
    ///   no headers, and Rack::Attack adds none to an answer it did not make itself. What a
    ///   client polling the list meets first on a real GitLab.
    /// - `Some(seconds)`: Rack::Attack's `throttle_authenticated_api`, which counts these
    ///   requests too: [`Fault::rate_limited`]'s `text/plain` `Retry later` with the
    ///   `RateLimit-*` headers and `Retry-After: <seconds>` — the only layer that sends one.
    ///
    /// Chain `.times(n)` for several refusals in a row.
    pub fn jobs_list_rate_limited(retry_after: Option<&str>) -> Fault {
        match retry_after {
            None => Fault::status("", 429),
            Some(after) => Fault::rate_limited("", after),
        }
        .at(Endpoint::ProjectJobs)
    }

    /// This status with GitLab's body for it: 500 and 503 JSON, 502 Workhorse's `text/plain`
    /// `GitLab is not responding`, 429 the application rate limiter's JSON (no `Retry-After`),
    /// 401/403/404/400/409 their usual JSON, anything else `{"message":"<code> <reason>"}`.
    pub fn status(path_contains: &str, code: u16) -> Fault {
        let json = |body: &str| {
            (
                vec![("Content-Type".to_string(), "application/json".to_string())],
                body.to_string(),
            )
        };
        let (headers, body) = match code {
            502 => (
                vec![("Content-Type".to_string(), "text/plain".to_string())],
                "GitLab is not responding".to_string(),
            ),
            429 => json(
                r#"{"message":{"error":"This endpoint has been requested too many times. Try again later."}}"#,
            ),
            400 => json(r#"{"message":"400 Bad request"}"#),
            409 => json(r#"{"message":"409 Conflict: Resource lock"}"#),
            _ => json(
                &serde_json::json!({ "message": format!("{code} {}", http::reason(code)) })
                    .to_string(),
            ),
        };
        Fault::new(
            path_contains,
            FaultKind::Status {
                code,
                headers,
                body,
            },
        )
    }
}

/// A running fake GitLab: two listeners (API and storage) on 127.0.0.1. Drop stops it.
pub struct Server {
    shared: Arc<Shared>,
    api_port: u16,
    storage_port: u16,
    ca_dir: Option<PathBuf>,
    threads: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("api_url", &self.api_url())
            .field("storage_url", &self.storage_url())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds both origins on 127.0.0.1 (before returning: no readiness wait needed), makes the
    /// certificates if any origin uses TLS, and starts serving [`World::demo`].
    pub fn start(config: Config) -> io::Result<Server> {
        let api = TcpListener::bind(("127.0.0.1", config.port))
            .map_err(|e| serve::context(e, &format!("binding 127.0.0.1:{}", config.port)))?;
        let storage = TcpListener::bind(("127.0.0.1", config.storage_port)).map_err(|e| {
            serve::context(e, &format!("binding 127.0.0.1:{}", config.storage_port))
        })?;
        let api_port = api.local_addr()?.port();
        let storage_port = storage.local_addr()?.port();
        let storage_tls = config.storage_tls.unwrap_or(config.tls);

        let (tls, ca_dir) = if config.tls || storage_tls {
            let tls = tls::generate()?;
            let dir = unique_temp_dir()?;
            std::fs::write(dir.join("ca.pem"), &tls.ca_pem)?;
            (Some(tls), Some(dir))
        } else {
            (None, None)
        };
        let scheme = |on: bool| if on { "https" } else { "http" };
        let shared = Arc::new(Shared::new(
            config.clone(),
            format!("{}://127.0.0.1:{api_port}", scheme(config.tls)),
            format!("{}://127.0.0.1:{storage_port}", scheme(storage_tls)),
        ));
        let tls_for = |on: bool| tls.as_ref().filter(|_| on).map(|t| t.config.clone());

        let mut server = Server {
            shared: shared.clone(),
            api_port,
            storage_port,
            ca_dir,
            threads: Vec::new(),
        };
        for (listener, origin, tls) in [
            (api, Origin::Api, tls_for(config.tls)),
            (storage, Origin::Storage, tls_for(storage_tls)),
        ] {
            let shared = shared.clone();
            // On failure `server` is dropped, which stops the threads already started.
            let handle = thread::Builder::new()
                .name(format!("fake-gitlab-accept-{origin:?}").to_lowercase())
                .spawn(move || serve::accept_loop(shared, listener, origin, tls))?;
            server.threads.push(handle);
        }
        Ok(server)
    }

    /// `http://127.0.0.1:PORT/api/v4` (or `https://…`): `CI_API_V4_URL`.
    pub fn api_url(&self) -> String {
        format!("{}/api/v4", self.shared.api_base)
    }

    /// `http://127.0.0.1:PORT` (or `https://…`): `CI_SERVER_URL`.
    pub fn server_url(&self) -> String {
        self.shared.api_base.clone()
    }

    /// Base URL of the storage origin, e.g. `http://127.0.0.1:PORT`.
    pub fn storage_url(&self) -> String {
        self.shared.storage_base.clone()
    }

    /// Path of the generated CA's PEM file, when any origin uses TLS.
    pub fn ca_file(&self) -> Option<PathBuf> {
        self.ca_dir.as_ref().map(|d| d.join("ca.pem"))
    }

    /// Every request received so far, in arrival order, both origins.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Blocks until a logged request satisfies `pred` (or `timeout` passes) and returns it.
    /// Lets a test act at a known point of a client's run (say, send a signal once the
    /// download has started) without sleeping.
    pub fn wait_for_request(
        &self,
        timeout: std::time::Duration,
        pred: impl Fn(&LoggedRequest) -> bool,
    ) -> Option<LoggedRequest> {
        let deadline = std::time::Instant::now() + timeout;
        let mut log = lock(&self.shared.log);
        loop {
            if let Some(found) = log.iter().find(|r| pred(r)) {
                return Some(found.clone());
            }
            let left = deadline.checked_duration_since(std::time::Instant::now())?;
            log = match self.shared.logged.wait_timeout(log, left) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// Forgets the requests logged so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Queues a fault; see [`Fault`] for matching and order.
    pub fn inject(&self, fault: Fault) {
        lock(&self.shared.faults).push_back(fault);
    }

    /// The data the server serves, to read or change. Requests wait while the guard is held.
    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.shared.world)
    }

    /// What `GET /job` answers [`TOKEN`] now: the token's job as GitLab presents it (or
    /// [`World::job_body`]). Not a request: nothing is logged. For tests that start from the
    /// default body (`server.world().job_body = Some(edited)`).
    pub fn job_json(&self) -> String {
        routes::body_for_token(&self.shared, "/api/v4/job")
    }

    /// What `GET /job/allowed_agents` answers [`TOKEN`] now (see [`Server::job_json`]).
    pub fn agents_json(&self) -> String {
        routes::body_for_token(&self.shared, "/api/v4/job/allowed_agents")
    }

    /// Bytes written to client sockets so far, both origins: status lines, headers and
    /// bodies, before TLS. Counted as they are handed to the kernel, so a client that hangs
    /// up in the middle of a body is charged for what was already in its socket buffer. For
    /// benchmarks: the difference across one client run is what that run transferred.
    pub fn bytes_sent(&self) -> u64 {
        self.shared.bytes_sent.load(Ordering::Relaxed)
    }

    /// Prints one line per request to stderr (method, target with secrets redacted, status).
    pub fn log_to_stderr(&self, on: bool) {
        self.shared.log_to_stderr.store(on, Ordering::Relaxed);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shared.stop();
        serve::wake_listener(self.api_port);
        serve::wake_listener(self.storage_port);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
        if let Some(dir) = &self.ca_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// A new, empty directory under the system temp dir, for the CA file.
fn unique_temp_dir() -> io::Result<PathBuf> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("fake-gitlab-{}-{n}", std::process::id()));
        match std::fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
}
