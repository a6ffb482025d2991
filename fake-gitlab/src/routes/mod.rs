//! GitLab's behaviour on the API origin (`/api/v4`): routing, job-token authentication and
//! project resolution with the job-token allowlist — what every endpoint shares — and one
//! submodule per resource with its endpoints' exact statuses and bodies
//! (`shared/gitlab-api.md` §0–§5):
//!
//! - [`jobs`]: `GET /job` and `GET /job/allowed_agents`, and the jobs lists (a project's,
//!   a pipeline's);
//! - [`pipelines`]: a pipeline and its bridges (trigger jobs);
//! - [`artifacts`]: the four job-artifact endpoints;
//! - [`packages`]: the generic package registry (`/projects/:id/packages/generic/:name/:version/:file`,
//!   GET and PUT; lib/api/generic_packages.rb), where gljob's releases live and install.sh
//!   downloads them from.
//!
//! Beside them, [`entities`] builds the JSON bodies as GitLab's Grape entities present them,
//! and [`pagination`] pages a list as GitLab's offset pagination does.
//!
//! To add an endpoint: add a [`Route`] variant, its pattern in [`Route::parse`] (and its
//! methods in [`Route::methods`]), and a handler (in its resource's module) called from
//! [`dispatch`].

mod artifacts;
mod entities;
mod jobs;
mod packages;
mod pagination;
mod pipelines;

use crate::Endpoint;
use crate::http::{Request, Response, percent_decode};
use crate::serve::{Shared, lock};
use crate::world::{Project, Role, World};

/// An API endpoint, with its raw (still percent-encoded) path parameters.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// `GET /job`
    Job,
    /// `GET /job/allowed_agents`
    AllowedAgents,
    /// `GET /projects/:id/jobs`
    ProjectJobs { project: &'a str },
    /// `GET /projects/:id/pipelines/:pipeline_id`
    Pipeline {
        project: &'a str,
        pipeline_id: &'a str,
    },
    /// `GET /projects/:id/pipelines/:pipeline_id/jobs`
    PipelineJobs {
        project: &'a str,
        pipeline_id: &'a str,
    },
    /// `GET /projects/:id/pipelines/:pipeline_id/bridges`
    PipelineBridges {
        project: &'a str,
        pipeline_id: &'a str,
    },
    /// `GET /projects/:id/jobs/artifacts/:ref_name/download?job=NAME`
    ArchiveByRef { project: &'a str, git_ref: &'a str },
    /// `GET /projects/:id/jobs/artifacts/:ref_name/raw/*artifact_path?job=NAME`
    EntryByRef {
        project: &'a str,
        git_ref: &'a str,
        path: &'a str,
    },
    /// `GET /projects/:id/jobs/:job_id/artifacts`
    ArchiveById { project: &'a str, job_id: &'a str },
    /// `GET /projects/:id/jobs/:job_id/artifacts/*artifact_path`
    EntryById {
        project: &'a str,
        job_id: &'a str,
        path: &'a str,
    },
    /// `GET`/`PUT /projects/:id/packages/generic/:package_name/:package_version/:file_name`
    /// (without GitLab's newer optional directory path before the file name).
    PackageFile {
        project: &'a str,
        name: &'a str,
        version: &'a str,
        file: &'a str,
    },
}

impl<'a> Route<'a> {
    /// Matches a raw request path the way Grape's routes do. `:id` is one segment (`[^/]+`),
    /// so an unencoded `/` in a project path matches nothing; `:ref_name` is greedy (`.+`), so
    /// it runs to the *last* `/download` or `/raw/`.
    fn parse(path: &'a str) -> Option<Route<'a>> {
        let rest = path.strip_prefix("/api/v4/")?;
        match rest {
            "job" => return Some(Route::Job),
            "job/allowed_agents" => return Some(Route::AllowedAgents),
            _ => {}
        }
        let (project, tail) = rest.strip_prefix("projects/")?.split_once('/')?;
        if project.is_empty() {
            return None;
        }
        if tail == "jobs" {
            return Some(Route::ProjectJobs { project });
        }
        if let Some(r) = tail.strip_prefix("pipelines/") {
            let (pipeline_id, what) = r.split_once('/').unwrap_or((r, ""));
            // `pipelines/latest` is another endpoint, which the fake does not serve.
            if pipeline_id.is_empty() || pipeline_id == "latest" {
                return None;
            }
            return match what {
                "" => Some(Route::Pipeline {
                    project,
                    pipeline_id,
                }),
                "jobs" => Some(Route::PipelineJobs {
                    project,
                    pipeline_id,
                }),
                "bridges" => Some(Route::PipelineBridges {
                    project,
                    pipeline_id,
                }),
                _ => None,
            };
        }
        if let Some(r) = tail.strip_prefix("jobs/artifacts/") {
            if let Some(git_ref) = r.strip_suffix("/download")
                && !git_ref.is_empty()
            {
                return Some(Route::ArchiveByRef { project, git_ref });
            }
            if let Some(i) = r.rfind("/raw/")
                && i > 0
                && i + "/raw/".len() < r.len()
            {
                return Some(Route::EntryByRef {
                    project,
                    git_ref: &r[..i],
                    path: &r[i + "/raw/".len()..],
                });
            }
        }
        if let Some(r) = tail.strip_prefix("packages/generic/") {
            let mut parts = r.split('/');
            return match (parts.next(), parts.next(), parts.next(), parts.next()) {
                (Some(name), Some(version), Some(file), None)
                    if !name.is_empty() && !version.is_empty() && !file.is_empty() =>
                {
                    Some(Route::PackageFile {
                        project,
                        name,
                        version,
                        file,
                    })
                }
                _ => None,
            };
        }
        let (job_id, rest) = tail.strip_prefix("jobs/")?.split_once('/')?;
        if job_id.is_empty() {
            return None;
        }
        if rest == "artifacts" {
            return Some(Route::ArchiveById { project, job_id });
        }
        let path = rest.strip_prefix("artifacts/")?;
        (!path.is_empty()).then_some(Route::EntryById {
            project,
            job_id,
            path,
        })
    }

    /// The methods the route answers (HEAD is answered wherever GET is).
    fn methods(&self) -> &'static [&'static str] {
        match self {
            Route::PackageFile { .. } => &["GET", "HEAD", "PUT"],
            _ => &["GET", "HEAD"],
        }
    }

    /// The endpoint, without its parameters (what a [`crate::Fault`] can target).
    fn endpoint(&self) -> Endpoint {
        match self {
            Route::Job => Endpoint::Job,
            Route::AllowedAgents => Endpoint::AllowedAgents,
            Route::ProjectJobs { .. } => Endpoint::ProjectJobs,
            Route::Pipeline { .. } => Endpoint::Pipeline,
            Route::PipelineJobs { .. } => Endpoint::PipelineJobs,
            Route::PipelineBridges { .. } => Endpoint::PipelineBridges,
            Route::ArchiveByRef { .. } => Endpoint::ArchiveByRef,
            Route::EntryByRef { .. } => Endpoint::EntryByRef,
            Route::ArchiveById { .. } => Endpoint::ArchiveById,
            Route::EntryById { .. } => Endpoint::EntryById,
            Route::PackageFile { .. } => Endpoint::PackageFile,
        }
    }
}

/// The endpoint a raw request path on the API origin is for, if any.
pub(crate) fn endpoint(path: &str) -> Option<Endpoint> {
    Route::parse(path).map(|r| r.endpoint())
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Identity {
    Anonymous,
    /// A valid job token, of a running job in `project_id`.
    Job {
        token: String,
        job_id: u64,
        project_id: u64,
    },
    /// An access token ([`crate::AccessToken`]): its user, a member of some projects.
    User {
        token: String,
    },
}

/// The JSON body a GET of `path` (`/api/v4/job`, `/api/v4/job/allowed_agents`) answers
/// [`crate::TOKEN`] with right now, without logging a request: for tests that start from the
/// default body and change it.
pub(crate) fn body_for_token(shared: &Shared, path: &str) -> String {
    let req = Request {
        method: "GET".to_string(),
        target: path.to_string(),
        path: path.to_string(),
        query: Vec::new(),
        headers: vec![("job-token".to_string(), crate::TOKEN.to_string())],
        body: Vec::new(),
        keep_alive: false,
        at: std::time::Instant::now(),
    };
    match dispatch(shared, &req).body {
        crate::http::Body::Bytes(b) => String::from_utf8_lossy(&b).into_owned(),
        _ => String::new(),
    }
}

/// Answers one API request; every response gets GitLab's API security headers.
pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    let mut resp = dispatch(shared, req);
    resp = resp.header("X-Frame-Options", "SAMEORIGIN");
    if resp.get_header("x-content-type-options").is_none() {
        resp = resp.header("X-Content-Type-Options", "nosniff");
    }
    resp
}

fn dispatch(shared: &Shared, req: &Request) -> Response {
    let Some(route) = Route::parse(&req.path) else {
        return no_route();
    };
    if !route.methods().contains(&req.method.as_str()) {
        return Response::json(405, r#"{"error":"405 Not Allowed"}"#)
            .header("Allow", format!("OPTIONS, {}", route.methods().join(", ")));
    }
    let mut world = lock(&shared.world);
    let ctx = Ctx {
        shared,
        world: &world,
        req,
    };
    if let Route::PackageFile {
        project,
        name,
        version,
        file,
    } = route
        && req.method == "PUT"
    {
        return match ctx.package_upload(project, name, version, file) {
            Ok(upload) => {
                world.packages.push(upload);
                message(201, "201 Created")
            }
            Err(r) => r,
        };
    }
    match route {
        Route::Job => ctx.job(),
        Route::AllowedAgents => ctx.allowed_agents(),
        Route::ProjectJobs { project } => ctx.project_jobs(project),
        Route::Pipeline {
            project,
            pipeline_id,
        } => ctx.pipeline(project, pipeline_id),
        Route::PipelineJobs {
            project,
            pipeline_id,
        } => ctx.pipeline_jobs(project, pipeline_id),
        Route::PipelineBridges {
            project,
            pipeline_id,
        } => ctx.pipeline_bridges(project, pipeline_id),
        Route::ArchiveByRef { project, git_ref } => ctx.archive_by_ref(project, git_ref),
        Route::EntryByRef {
            project,
            git_ref,
            path,
        } => ctx.entry_by_ref(project, git_ref, path),
        Route::ArchiveById { project, job_id } => ctx.archive_by_id(project, job_id),
        Route::EntryById {
            project,
            job_id,
            path,
        } => ctx.entry_by_id(project, job_id, path),
        Route::PackageFile {
            project,
            name,
            version,
            file,
        } => ctx.package_download(project, name, version, file),
    }
}

// ---- GitLab's error bodies (§0) -------------------------------------------------------------

fn message(status: u16, msg: &str) -> Response {
    Response::json(status, serde_json::json!({ "message": msg }).to_string())
}

fn unauthorized() -> Response {
    message(401, "401 Unauthorized")
}

fn forbidden(reason: Option<&str>) -> Response {
    match reason {
        None => message(403, "403 Forbidden"),
        Some(r) => message(403, &format!("403 Forbidden - {r}")),
    }
}

/// `not_found!(resource)`: `404 Project Not Found`, `404 Job Not Found`, or `404 Not Found`.
fn not_found(resource: Option<&str>) -> Response {
    match resource {
        None => message(404, "404 Not Found"),
        Some(r) => message(404, &format!("404 {r} Not Found")),
    }
}

/// ActiveRecord::RecordNotFound: note the lower-case "f".
fn record_not_found() -> Response {
    message(404, "404 Not found")
}

fn bad_request() -> Response {
    message(400, "400 Bad request")
}

/// Grape parameter validation: key `error`, not `message`.
fn invalid_param(msg: &str) -> Response {
    Response::json(400, serde_json::json!({ "error": msg }).to_string())
}

fn no_route() -> Response {
    Response::json(404, r#"{"error":"404 Not Found"}"#)
}

// ---- authentication (§1) --------------------------------------------------------------------

/// A header or parameter value, trimmed; empty values count as absent.
fn non_empty(v: Option<&str>) -> Option<&str> {
    v.map(str::trim).filter(|v| !v.is_empty())
}

/// The token of an `Authorization: Bearer …` header.
fn bearer(req: &Request) -> Option<&str> {
    req.header("authorization").and_then(|v| {
        let (scheme, tok) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(tok)
    })
}

/// The access-token slots (`find_user_from_access_token`): `Authorization: Bearer`,
/// `PRIVATE-TOKEN`, `private_token=`.
fn access_token_slot(req: &Request) -> Option<&str> {
    non_empty(bearer(req))
        .or_else(|| non_empty(req.header("private-token")))
        .or_else(|| non_empty(req.query_param("private_token")))
}

/// The job-token slots (`find_user_from_job_token`): `job_token=`, `token=`, `JOB-TOKEN`.
fn job_token_slot(req: &Request) -> Option<&str> {
    non_empty(req.query_param("job_token"))
        .or_else(|| non_empty(req.query_param("token")))
        .or_else(|| non_empty(req.header("job-token")))
}

/// The running job a job token belongs to; a dead or unknown token is a 401.
fn job_identity(world: &World, token: &str) -> Result<Identity, Response> {
    let grant = world
        .tokens
        .iter()
        .find(|g| g.token == token)
        .ok_or_else(unauthorized)?;
    if !grant.running {
        return Err(unauthorized());
    }
    let project_id = world
        .job_project_id(grant.job_id)
        .ok_or_else(unauthorized)?;
    Ok(Identity::Job {
        token: token.to_string(),
        job_id: grant.job_id,
        project_id,
    })
}

/// An access token's user; any other value is a 401.
fn user_identity(world: &World, token: &str) -> Result<Identity, Response> {
    match world.access_token(token) {
        Some(t) => Ok(Identity::User {
            token: t.token.clone(),
        }),
        None => Err(unauthorized()),
    }
}

/// Who the request is from, in GitLab's order (`find_user_from_sources`): a job token as
/// `Bearer`, an access token (`Bearer`, `PRIVATE-TOKEN`, `private_token=`), a job token
/// (`job_token=`, `token=`, `JOB-TOKEN`). A value in a slot that is not a valid credential of
/// that kind is a 401, never anonymous: a personal access token sent as `JOB-TOKEN` is no
/// job's token (401), and so is a job token sent as `PRIVATE-TOKEN`.
fn authenticate(world: &World, req: &Request) -> Result<Identity, Response> {
    if let Some(token) = non_empty(bearer(req))
        && world.tokens.iter().any(|g| g.token == token)
    {
        return job_identity(world, token);
    }
    if let Some(token) = access_token_slot(req) {
        return user_identity(world, token);
    }
    match job_token_slot(req) {
        Some(token) => job_identity(world, token),
        None => Ok(Identity::Anonymous),
    }
}

/// Who the request is from on a route that does not accept job tokens (`job_token_allowed`
/// unset: on older versions, the list routes). The job-token slots are not looked at, so
/// such a request is anonymous, even with a dead token; an access-token slot (a job token
/// sent as `Bearer` included) is tried as an access token, and anything but a valid one is a
/// 401.
fn authenticate_without_job_tokens(world: &World, req: &Request) -> Result<Identity, Response> {
    match access_token_slot(req) {
        Some(token) => user_identity(world, token),
        None => Ok(Identity::Anonymous),
    }
}

/// The list routes, which have accepted job tokens (and authenticated) differently across
/// GitLab versions (see [`crate::Config::legacy_job_token_lists`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListRoute {
    /// `GET /projects/:id/jobs`
    ProjectJobs,
    /// `GET /projects/:id/pipelines/:pipeline_id/jobs`
    PipelineJobs,
    /// `GET /projects/:id/pipelines/:pipeline_id/bridges`
    Bridges,
    /// `GET /projects/:id/pipelines/:pipeline_id`
    Pipeline,
}

impl ListRoute {
    /// The policy a job token of another project needs here when fine-grained permissions
    /// are on (`route_setting :authorization, job_token_policies:` in jobs.rb, pipelines.rb).
    fn policy(self) -> &'static str {
        match self {
            ListRoute::ProjectJobs | ListRoute::PipelineJobs => "read_jobs",
            ListRoute::Bridges | ListRoute::Pipeline => "read_pipelines",
        }
    }
}

/// One request with the world locked.
struct Ctx<'a> {
    shared: &'a Shared,
    world: &'a World,
    req: &'a Request,
}

impl<'a> Ctx<'a> {
    // ---- project resolution and permissions (§3, §4) ----------------------------------------

    /// `find_project!` and the job-token scope: who asks, the project, and whether it was
    /// found by a former path (the caller answers 301, or 405 to other methods than GET).
    fn scoped_project(&self, raw_id: &str) -> Result<(Identity, &'a Project, bool), Response> {
        let identity = authenticate(self.world, self.req)?;
        let (project, moved) = self.find_project(raw_id, &identity)?;
        Ok((identity, project, moved))
    }

    /// `find_project!` for someone already identified: the project by id or (former) path,
    /// then `read_project` — for a job token the allowlist's 403 naming both projects (also
    /// when the allowlist lets it in but its user is no member), for anyone else 404.
    /// Returns the project and whether it was found by a former path.
    fn find_project(
        &self,
        raw_id: &str,
        identity: &Identity,
    ) -> Result<(&'a Project, bool), Response> {
        let Some((project, moved)) = self.lookup_project(raw_id) else {
            return Err(not_found(Some("Project")));
        };
        if !self.can_read_project(identity, project) {
            return Err(match identity {
                Identity::Job { project_id, .. } => {
                    // `handle_job_token_failure!`: the same 403 whether the allowlist keeps
                    // this job's project out or its user is no member of the target.
                    let source = self
                        .world
                        .project(*project_id)
                        .map_or("unknown", Project::path);
                    forbidden(Some(&format!(
                        "Authentication by CI/CD job token not allowed from {source} to {}.",
                        project.path()
                    )))
                }
                _ => not_found(Some("Project")),
            });
        }
        Ok((project, moved))
    }

    /// `find_project`: by numeric id, or by full path (case-insensitive, then former paths,
    /// which the second value reports); a string without `/` finds nothing.
    fn lookup_project(&self, raw_id: &str) -> Option<(&'a Project, bool)> {
        let id = String::from_utf8(percent_decode(raw_id)).ok()?;
        if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            return id
                .parse()
                .ok()
                .and_then(|n| self.world.project(n))
                .map(|p| (p, false));
        }
        if !id.contains('/') {
            return None;
        }
        // Most recently added first: a test's project shadows a demo one with its path.
        let projects = || self.world.projects.iter().rev();
        if let Some(p) = projects().find(|p| p.path_with_namespace.eq_ignore_ascii_case(&id)) {
            return Some((p, false));
        }
        projects()
            .find(|p| p.old_paths.iter().any(|o| o.eq_ignore_ascii_case(&id)))
            .map(|p| (p, true))
    }

    /// Whether a job token of `source` may reach `project` at all (the inbound allowlist,
    /// `Ci::JobToken::Scope#accessible?`): its own project, a project whose allowlist lists
    /// it, or one whose allowlist is off.
    fn in_job_token_scope(&self, source: u64, project: &Project) -> bool {
        source == project.id || !project.allowlist_enabled || project.allowlist.contains(&source)
    }

    /// The role `identity` acts with in `project`: a job token's user's, where the token's
    /// scope reaches (outside it, only anonymous-level abilities); an access token's user's,
    /// where a member; none for anonymous requests.
    fn role(&self, identity: &Identity, project: &Project) -> Option<Role> {
        match identity {
            Identity::Anonymous => None,
            Identity::Job { project_id, .. } => {
                if self.in_job_token_scope(*project_id, project) {
                    project.user_role
                } else {
                    None
                }
            }
            Identity::User { token } => self
                .world
                .access_token(token)
                .and_then(|t| t.role_in(project.id)),
        }
    }

    /// `read_project`: a public project, or a member (any role, Guest included).
    fn can_read_project(&self, identity: &Identity, project: &Project) -> bool {
        project.public || self.role(identity, project).is_some()
    }

    /// `read_build` (and `read_pipeline`, which the fake does not tell apart): Reporter and
    /// up, or anyone who can read the project when its pipelines are public (a Guest of a
    /// private project; anyone at all on a public one).
    fn can_read_build(&self, identity: &Identity, project: &Project) -> bool {
        self.role(identity, project)
            .is_some_and(|r| r >= Role::Reporter)
            || (project.public_builds && self.can_read_project(identity, project))
    }

    /// Fine-grained job-token permissions (`authorize_job_token_policies!` in lib/api/helpers.rb,
    /// `Ci::JobToken::Scope#policies_allowed?`): when the project has them on, a job token of
    /// another project needs `policy`, which it has only through the project's allowlist (or
    /// with the allowlist disabled). The message names the accessed project's `path`.
    fn check_job_token_policy(
        &self,
        identity: &Identity,
        project: &Project,
        policy: &str,
    ) -> Result<(), Response> {
        let Identity::Job { project_id, .. } = *identity else {
            return Ok(());
        };
        let Some(policies) = &project.job_token_policies else {
            return Ok(());
        };
        if project_id == project.id || !project.allowlist_enabled {
            return Ok(());
        }
        if project.allowlist.contains(&project_id) && policies.iter().any(|p| p == policy) {
            return Ok(());
        }
        Err(forbidden(Some(&format!(
            "Insufficient permissions to access this resource in project {}. \
             The following token permission is required: {policy}.",
            project.path()
        ))))
    }

    /// Who asks on a list route, as the server's version authenticates there: with job tokens
    /// (the newest GitLab), or ignoring them, and then refusing anonymous requests outright
    /// where the route calls `authenticate!` (401 before the project is looked up).
    fn list_identity(&self, route: ListRoute) -> Result<Identity, Response> {
        let config = &self.shared.config;
        let legacy = config.legacy_job_token_lists;
        let accepts_job_tokens = match route {
            ListRoute::ProjectJobs | ListRoute::PipelineJobs => legacy.is_none(),
            ListRoute::Bridges | ListRoute::Pipeline => legacy.is_none() && !config.legacy_bridges,
        };
        let must_authenticate = match route {
            // `resource :projects do before { authenticate! }` in lib/api/ci/jobs.rb.
            ListRoute::ProjectJobs => true,
            // The oldest pipelines.rb called `authenticate!` in these two routes.
            ListRoute::PipelineJobs | ListRoute::Bridges => legacy == Some(401),
            ListRoute::Pipeline => false,
        };
        let identity = if accepts_job_tokens {
            authenticate(self.world, self.req)?
        } else {
            authenticate_without_job_tokens(self.world, self.req)?
        };
        if must_authenticate && identity == Identity::Anonymous {
            return Err(unauthorized());
        }
        Ok(identity)
    }

    /// The project of a list route, for someone [`Ctx::list_identity`] identified:
    /// `find_project!` (404, the allowlist's 403), the route's fine-grained policy, and the 301
    /// of a renamed project. The caller checks `read_build` where its route does.
    fn list_project(
        &self,
        raw_id: &str,
        identity: &Identity,
        route: ListRoute,
    ) -> Result<&'a Project, Response> {
        let (project, moved) = self.find_project(raw_id, identity)?;
        self.check_job_token_policy(identity, project, route.policy())?;
        if moved {
            return Err(self.redirect_to_id(raw_id, project.id));
        }
        Ok(project)
    }

    /// `authorize!(:read_build / :read_pipeline, …)`: 403 `{"message":"403 Forbidden"}`.
    fn authorize_read_build(&self, identity: &Identity, project: &Project) -> Result<(), Response> {
        if self.can_read_build(identity, project) {
            Ok(())
        } else {
            Err(forbidden(None))
        }
    }

    /// `user_project.all_pipelines.find(id)`: a pipeline of this project (any source), or
    /// 404 `{"message":"404 Not found"}`.
    fn project_pipeline(
        &self,
        project: &Project,
        pipeline_id: u64,
    ) -> Result<&'a crate::world::Pipeline, Response> {
        self.world
            .pipeline(pipeline_id)
            .filter(|p| p.project_id == project.id)
            .ok_or_else(record_not_found)
    }

    /// A JSON list: one page of `items` as `entity` presents them, with the page's headers;
    /// `params` are the request's, for the `Link` URLs.
    fn list_response<T>(
        &self,
        items: Vec<T>,
        page: pagination::Page,
        with_totals: bool,
        params: &pagination::Params,
        entity: impl Fn(T) -> serde_json::Value,
    ) -> Response {
        let url = format!("{}{}", self.shared.api_base, self.req.path);
        let (items, headers) = pagination::paginate(items, page, with_totals, &url, params);
        let body: Vec<serde_json::Value> = items.into_iter().map(entity).collect();
        let mut resp = Response::json(200, serde_json::Value::Array(body).to_string());
        resp.headers.extend(headers);
        resp
    }

    /// 301 to the same URL with the numeric id in place of the old path.
    fn redirect_to_id(&self, raw_id: &str, id: u64) -> Response {
        let prefix = format!("/api/v4/projects/{raw_id}");
        let rest = self.req.path.strip_prefix(&prefix).unwrap_or("");
        let query = match self.req.target.split_once('?') {
            Some((_, q)) => format!("?{q}"),
            None => String::new(),
        };
        let url = format!("{}/api/v4/projects/{id}{rest}{query}", self.shared.api_base);
        Response::typed(
            301,
            "text/plain",
            format!("This resource has been moved permanently to {url}."),
        )
        .header("Location", url)
    }
}

/// A Grape `Boolean` parameter (dry-types' `Params::Bool`: `true`/`false`, `1`/`0`, `t`/`f`,
/// `yes`/`no`, `y`/`n`, `on`/`off`, any case); absent or empty is `None`, anything else is
/// 400 `{"error":"<name> is invalid"}`.
fn bool_param(req: &Request, name: &str) -> Result<Option<bool>, Response> {
    let Some(raw) = req.query_param(name).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match raw.to_ascii_lowercase().as_str() {
        "1" | "on" | "t" | "true" | "y" | "yes" => Ok(Some(true)),
        "0" | "off" | "f" | "false" | "n" | "no" => Ok(Some(false)),
        _ => Err(invalid_param(&format!("{name} is invalid"))),
    }
}

/// `::CommitStatus::AVAILABLE_STATUSES`: what a `scope` may name.
const JOB_STATUSES: [&str; 13] = [
    "created",
    "waiting_for_resource",
    "preparing",
    "waiting_for_callback",
    "pending",
    "running",
    "success",
    "failed",
    "canceling",
    "canceled",
    "skipped",
    "manual",
    "scheduled",
];

/// The jobs lists' `scope` (one status, `scope=running`) or `scope[]` (several,
/// `scope[]=pending&scope[]=running`), as Rack parses and the route's `coerce_with` turns them
/// into an array: `None` when absent. An unknown status fails Grape's `values:` validation,
/// which runs before the route's own `Scope contains invalid value(s)` check could:
/// 400 `{"error":"scope does not have a valid value"}`.
fn scope_param(req: &Request) -> Result<Option<Vec<String>>, Response> {
    // Rack: a plain key keeps its last value; `key[]` (and `key[N]`) collect.
    let plain = req.query.iter().rev().find(|(k, _)| k == "scope");
    let many: Vec<&String> = req
        .query
        .iter()
        .filter(|(k, _)| {
            k.strip_prefix("scope[")
                .and_then(|r| r.strip_suffix(']'))
                .is_some_and(|i| i.bytes().all(|b| b.is_ascii_digit()))
        })
        .map(|(_, v)| v)
        .collect();
    let scope: Vec<String> = if many.is_empty() {
        match plain {
            None => return Ok(None),
            Some((_, v)) => vec![v.clone()],
        }
    } else {
        many.into_iter().cloned().collect()
    };
    if scope.iter().any(|s| !JOB_STATUSES.contains(&s.as_str())) {
        return Err(invalid_param("scope does not have a valid value"));
    }
    Ok(Some(scope))
}

/// A Grape `Integer` parameter.
fn parse_id(raw: &str) -> Option<u64> {
    let s = String::from_utf8(percent_decode(raw)).ok()?;
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_routes_like_grape() {
        let p = |s| Route::parse(s);
        assert_eq!(p("/api/v4/job"), Some(Route::Job));
        assert_eq!(p("/api/v4/job/allowed_agents"), Some(Route::AllowedAgents));
        assert_eq!(
            p("/api/v4/projects/group%2Fsub/jobs/artifacts/a/download/download"),
            Some(Route::ArchiveByRef {
                project: "group%2Fsub",
                git_ref: "a/download"
            })
        );
        assert_eq!(
            p("/api/v4/projects/2/jobs/artifacts/feature/x/raw/a/raw/b.txt"),
            Some(Route::EntryByRef {
                project: "2",
                git_ref: "feature/x/raw/a",
                path: "b.txt"
            })
        );
        assert_eq!(
            p("/api/v4/projects/2/jobs/102/artifacts"),
            Some(Route::ArchiveById {
                project: "2",
                job_id: "102"
            })
        );
        assert_eq!(
            p("/api/v4/projects/2/jobs/102/artifacts/dist/app"),
            Some(Route::EntryById {
                project: "2",
                job_id: "102",
                path: "dist/app"
            })
        );
        assert_eq!(
            p("/api/v4/projects/tools%2Fgljob/packages/generic/gljob/0.1.0/SHA256SUMS"),
            Some(Route::PackageFile {
                project: "tools%2Fgljob",
                name: "gljob",
                version: "0.1.0",
                file: "SHA256SUMS"
            })
        );
        assert_eq!(p("/api/v4/projects/1/packages/generic/gljob/0.1.0"), None);
        assert_eq!(
            p("/api/v4/projects/1/packages/generic/gljob/0.1.0/a/b"),
            None
        );
        assert_eq!(p("/api/v4/projects/1/packages/generic/gljob//f"), None);
        assert_eq!(p("/api/v4/projects/group/sub/jobs/1/artifacts"), None);
        assert_eq!(p("/api/v4/projects/2/jobs/artifacts/main"), None);
        assert_eq!(
            p("/api/v4/projects/2/jobs"),
            Some(Route::ProjectJobs { project: "2" })
        );
        assert_eq!(
            p("/api/v4/projects/group%2Fsub/pipelines/26/jobs"),
            Some(Route::PipelineJobs {
                project: "group%2Fsub",
                pipeline_id: "26"
            })
        );
        assert_eq!(
            p("/api/v4/projects/2/pipelines/26/bridges"),
            Some(Route::PipelineBridges {
                project: "2",
                pipeline_id: "26"
            })
        );
        assert_eq!(
            p("/api/v4/projects/2/pipelines/26"),
            Some(Route::Pipeline {
                project: "2",
                pipeline_id: "26"
            })
        );
        assert_eq!(p("/api/v4/projects/2/pipelines/latest"), None);
        assert_eq!(p("/api/v4/projects/2/pipelines/26/variables"), None);
        assert_eq!(p("/api/v4/projects/2/jobs/"), None);
        assert_eq!(
            endpoint("/api/v4/projects/2/jobs"),
            Some(Endpoint::ProjectJobs)
        );
        assert_eq!(
            endpoint("/api/v4/projects/2/jobs/102/artifacts"),
            Some(Endpoint::ArchiveById)
        );
        assert_eq!(p("/api/v4/nope"), None);
        assert_eq!(p("/job"), None);
    }
}
