//! GitLab's behaviour on the API origin (`/api/v4`): routing, job-token authentication,
//! project resolution and the job-token allowlist, and the artifact endpoints with their
//! exact statuses and bodies (`shared/gitlab-api.md` §0–§5).
//!
//! Also the generic package registry (`/projects/:id/packages/generic/:name/:version/:file`,
//! GET and PUT; lib/api/generic_packages.rb), where gljob's releases live and install.sh
//! downloads them from.
//!
//! To add an endpoint: add a [`Route`] variant, its pattern in [`Route::parse`] (and its
//! methods in [`Route::methods`]), and a handler called from [`dispatch`].

use std::io::Read as _;

use crate::content::{self, Content};
use crate::http::{Body, Request, Response, percent_decode};
use crate::serve::{Shared, lock};
use crate::world::{Archive, Job, PackageFile, Project, Role, World};
use crate::{PAT, TOKEN};

/// An API endpoint, with its raw (still percent-encoded) path parameters.
#[derive(Debug, PartialEq, Eq)]
enum Route<'a> {
    /// `GET /job`
    Job,
    /// `GET /job/allowed_agents`
    AllowedAgents,
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
    /// A personal access token: a user with full rights (kept simple).
    User,
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

/// Workhorse's answer when the zip has no such entry.
fn entry_not_found() -> Response {
    Response::typed(404, "text/plain; charset=utf-8", "404 page not found\n")
}

// ---- authentication (§1) --------------------------------------------------------------------

/// The credential, looked up in GitLab's order; empty values count as absent.
fn credential(req: &Request) -> Option<&str> {
    fn non_empty(v: Option<&str>) -> Option<&str> {
        v.map(str::trim).filter(|v| !v.is_empty())
    }
    let bearer = req.header("authorization").and_then(|v| {
        let (scheme, tok) = v.split_once(' ')?;
        scheme.eq_ignore_ascii_case("bearer").then_some(tok)
    });
    non_empty(bearer)
        .or_else(|| non_empty(req.query_param("job_token")))
        .or_else(|| non_empty(req.query_param("token")))
        .or_else(|| non_empty(req.header("job-token")))
        .or_else(|| non_empty(req.header("private-token")))
        .or_else(|| non_empty(req.query_param("private_token")))
}

/// Who the request is from; an unknown or dead token is a 401, never anonymous.
///
/// Unlike real GitLab, a PAT is accepted wherever a token can be (real GitLab answers 401 to a
/// PAT in `JOB-TOKEN`), so that "the credential is not a job token" (404 Job Not Found) can be
/// tested through the header gljob sends.
fn authenticate(world: &World, req: &Request) -> Result<Identity, Response> {
    let Some(token) = credential(req) else {
        return Ok(Identity::Anonymous);
    };
    if token == PAT {
        return Ok(Identity::User);
    }
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

/// One request with the world locked.
struct Ctx<'a> {
    shared: &'a Shared,
    world: &'a World,
    req: &'a Request,
}

impl<'a> Ctx<'a> {
    // ---- /job (§2) --------------------------------------------------------------------------

    fn job_identity(&self) -> Result<(String, u64), Response> {
        match authenticate(self.world, self.req)? {
            Identity::Anonymous => Err(unauthorized()),
            Identity::User => Err(not_found(Some("Job"))),
            Identity::Job { token, job_id, .. } => Ok((token, job_id)),
        }
    }

    fn job(&self) -> Response {
        let (token, job_id) = match self.job_identity() {
            Ok(t) => t,
            Err(r) => return r,
        };
        if token == TOKEN {
            return Response::json(200, self.world.job_body.clone());
        }
        let Some(job) = self.world.job(job_id) else {
            return unauthorized();
        };
        let pipeline = self.world.pipeline(job.pipeline_id);
        let body = serde_json::json!({
            "id": job.id,
            "name": job.name,
            "status": job.status,
            "ref": pipeline.map(|p| p.git_ref.as_str()),
            "tag": false,
            "pipeline": pipeline.map(|p| serde_json::json!({
                "id": p.id, "project_id": p.project_id, "ref": p.git_ref, "status": p.status,
            })),
            "artifacts": [],
            "project": { "ci_job_token_scope_enabled": true },
        });
        Response::json(200, body.to_string())
    }

    fn allowed_agents(&self) -> Response {
        match self.job_identity() {
            Ok(_) => Response::json(200, self.world.agents_body.clone()),
            Err(r) => r,
        }
    }

    // ---- project resolution and permissions (§3, §4) ----------------------------------------

    /// `find_project!` and the job-token scope: who asks, the project, and whether it was
    /// found by a former path (the caller answers 301, or 405 to other methods than GET).
    fn scoped_project(&self, raw_id: &str) -> Result<(Identity, &'a Project, bool), Response> {
        let identity = authenticate(self.world, self.req)?;
        let Ok(id) = String::from_utf8(percent_decode(raw_id)) else {
            return Err(not_found(Some("Project")));
        };
        let mut moved = false;
        let project = if !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()) {
            id.parse().ok().and_then(|n| self.world.project(n))
        } else if id.contains('/') {
            // Most recently added first: a test's project shadows a demo one with its path.
            let by_path = self
                .world
                .projects
                .iter()
                .rev()
                .find(|p| p.path_with_namespace.eq_ignore_ascii_case(&id));
            by_path.or_else(|| {
                moved = true;
                self.world
                    .projects
                    .iter()
                    .rev()
                    .find(|p| p.old_paths.iter().any(|o| o.eq_ignore_ascii_case(&id)))
            })
        } else {
            None
        };
        let Some(project) = project else {
            return Err(not_found(Some("Project")));
        };

        if let Identity::Job { project_id, .. } = identity {
            let in_scope = project_id == project.id
                || !project.allowlist_enabled
                || project.allowlist.contains(&project_id);
            if !in_scope && !project.public {
                let source = self
                    .world
                    .project(project_id)
                    .map_or("unknown", Project::path);
                return Err(forbidden(Some(&format!(
                    "Authentication by CI/CD job token not allowed from {source} to {}.",
                    project.path()
                ))));
            }
        }
        if identity == Identity::Anonymous && !project.public {
            return Err(not_found(Some("Project")));
        }
        Ok((identity, project, moved))
    }

    /// `find_project!`, the job-token scope, and the artifact endpoints' permission checks.
    fn artifact_project(&self, raw_id: &str) -> Result<&'a Project, Response> {
        let (identity, project, moved) = self.scoped_project(raw_id)?;
        if moved {
            if !matches!(self.req.method.as_str(), "GET" | "HEAD") {
                return Err(message(405, "405 Method Not Allowed"));
            }
            return Err(self.redirect_to_id(raw_id, project.id));
        }

        // read_build: Reporter and up, or public pipelines.
        let can_read_build = match &identity {
            Identity::User => true,
            _ if project.public => true,
            Identity::Anonymous => false,
            Identity::Job { .. } => project.user_role.is_some_and(|r| r >= Role::Reporter),
        };
        if !can_read_build {
            return Err(forbidden(None));
        }
        if self.shared.config.ee_unlicensed && matches!(identity, Identity::Job { .. }) {
            // EE without cross_project_pipelines: even the job's own project.
            return Err(not_found(Some("Project")));
        }
        Ok(project)
    }

    /// `authorized_user_project` and the package permissions: reading (`read_package`) needs
    /// a public project (anonymous too) or Reporter; writing (`create_package`) needs
    /// Developer, and a job token that the project's allowlist lets in even when it is public.
    fn package_project(&self, raw_id: &str, write: bool) -> Result<&'a Project, Response> {
        let (identity, project, moved) = self.scoped_project(raw_id)?;
        if moved {
            if !matches!(self.req.method.as_str(), "GET" | "HEAD") {
                return Err(message(405, "405 Method Not Allowed"));
            }
            return Err(self.redirect_to_id(raw_id, project.id));
        }
        let allowed = match &identity {
            Identity::User => true,
            Identity::Anonymous => !write && project.public,
            Identity::Job { project_id, .. } if write => {
                let in_scope = *project_id == project.id
                    || !project.allowlist_enabled
                    || project.allowlist.contains(project_id);
                if !in_scope {
                    let source = self
                        .world
                        .project(*project_id)
                        .map_or("unknown", Project::path);
                    return Err(forbidden(Some(&format!(
                        "Authentication by CI/CD job token not allowed from {source} to {}.",
                        project.path()
                    ))));
                }
                project.user_role.is_some_and(|r| r >= Role::Developer)
            }
            Identity::Job { .. } => {
                project.public || project.user_role.is_some_and(|r| r >= Role::Reporter)
            }
        };
        if allowed {
            Ok(project)
        } else {
            Err(forbidden(None))
        }
    }

    // ---- generic packages (lib/api/generic_packages.rb) -------------------------------------

    /// `GET`/`HEAD`: the newest upload of the file, served as Workhorse serves local files
    /// (ranges, ETag), with GitLab's `X-Checksum-SHA256`.
    fn package_download(
        &self,
        raw_project: &str,
        raw_name: &str,
        raw_version: &str,
        raw_file: &str,
    ) -> Response {
        let (name, version, file) = match package_params(raw_name, raw_version, raw_file) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let project = match self.package_project(raw_project, false) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(package) = self.world.package(project.id, &name, &version, &file) else {
            return record_not_found();
        };
        let archive = Archive::Bytes(package.bytes.clone());
        let Ok(content) = Content::of(&archive, self.shared.started) else {
            return record_not_found();
        };
        let sha256 = content.etag.trim_matches('"').to_string();
        content::serve(
            self.req,
            &content,
            &[
                ("Content-Type", "application/octet-stream".to_string()),
                (
                    "Content-Disposition",
                    format!("attachment; filename=\"{file}\"; filename*=UTF-8''{file}"),
                ),
                ("X-Checksum-SHA256", sha256),
            ],
        )
    }

    /// `PUT`: the upload to store, or GitLab's refusal. Anonymous uploads get 401 before
    /// anything else is looked at (`authenticate_non_get!`). `status` and `select` are ignored.
    fn package_upload(
        &self,
        raw_project: &str,
        raw_name: &str,
        raw_version: &str,
        raw_file: &str,
    ) -> Result<PackageFile, Response> {
        if authenticate(self.world, self.req)? == Identity::Anonymous {
            return Err(unauthorized());
        }
        let (name, version, file_name) = package_params(raw_name, raw_version, raw_file)?;
        let project = self.package_project(raw_project, true)?;
        Ok(PackageFile {
            project_id: project.id,
            name,
            version,
            file_name,
            bytes: std::sync::Arc::new(self.req.body.clone()),
        })
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

    /// The newest successful pipeline on `git_ref`, its non-retried job `name` with an archive.
    fn job_by_ref(&self, project: &Project, git_ref: &str, name: &str) -> Option<&'a Job> {
        let pipeline = self
            .world
            .pipelines
            .iter()
            .filter(|p| p.project_id == project.id && p.git_ref == git_ref && p.status == "success")
            .max_by_key(|p| p.id)?;
        self.world
            .jobs
            .iter()
            .filter(|j| {
                j.pipeline_id == pipeline.id && j.name == name && !j.retried && j.archive.is_some()
            })
            .max_by_key(|j| j.id)
    }

    fn job_by_id(&self, project: &Project, job_id: u64) -> Option<&'a Job> {
        self.world
            .jobs
            .iter()
            .find(|j| j.id == job_id && self.world.job_project_id(j.id) == Some(project.id))
    }

    // ---- artifact endpoints (§4, §5) --------------------------------------------------------

    fn archive_by_ref(&self, raw_project: &str, raw_ref: &str) -> Response {
        let Some(name) = self.req.query_param("job") else {
            return invalid_param("job is missing");
        };
        let project = match self.artifact_project(raw_project) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let git_ref = String::from_utf8_lossy(&percent_decode(raw_ref)).into_owned();
        let Some(job) = self.job_by_ref(project, &git_ref, name) else {
            return record_not_found();
        };
        if project.artifacts_access_none {
            return forbidden(None);
        }
        match &job.archive {
            Some(a) => self.serve_archive(job.id, a),
            None => not_found(None),
        }
    }

    fn archive_by_id(&self, raw_project: &str, raw_job_id: &str) -> Response {
        let Some(job_id) = parse_id(raw_job_id) else {
            return invalid_param("job_id is invalid");
        };
        let project = match self.artifact_project(raw_project) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(job) = self.job_by_id(project, job_id) else {
            return record_not_found();
        };
        if project.artifacts_access_none {
            return forbidden(None);
        }
        match &job.archive {
            // Expired but not yet deleted archives are still served.
            Some(a) => self.serve_archive(job.id, a),
            None => not_found(None),
        }
    }

    fn entry_by_ref(&self, raw_project: &str, raw_ref: &str, raw_path: &str) -> Response {
        let Some(name) = self.req.query_param("job") else {
            return invalid_param("job is missing");
        };
        let project = match self.artifact_project(raw_project) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let git_ref = String::from_utf8_lossy(&percent_decode(raw_ref)).into_owned();
        let Some(job) = self.job_by_ref(project, &git_ref, name) else {
            return record_not_found();
        };
        if project.artifacts_access_none {
            return forbidden(None);
        }
        let Some(archive) = &job.archive else {
            return not_found(None);
        };
        match entry_path(raw_path) {
            Some(path) => serve_entry(archive, &path, Sniff::Content),
            None => bad_request(),
        }
    }

    fn entry_by_id(&self, raw_project: &str, raw_job_id: &str, raw_path: &str) -> Response {
        let Some(job_id) = parse_id(raw_job_id) else {
            return invalid_param("job_id is invalid");
        };
        let project = match self.artifact_project(raw_project) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(job) = self.job_by_id(project, job_id) else {
            return record_not_found();
        };
        if project.artifacts_access_none {
            return forbidden(None);
        }
        let Some(archive) = job.archive.as_ref().filter(|_| !job.expired) else {
            return not_found(None);
        };
        match entry_path(raw_path) {
            Some(path) => serve_entry(archive, &path, Sniff::Extension),
            None => bad_request(),
        }
    }

    /// An archive download: 302 to a presigned storage URL, or the bytes (local storage).
    fn serve_archive(&self, job_id: u64, archive: &Archive) -> Response {
        if self.shared.config.object_storage {
            let url = self.shared.mint_presigned_url(job_id);
            return Response::typed(
                302,
                "text/plain",
                format!("This resource has been moved temporarily to {url}."),
            )
            .header("Location", url);
        }
        let Ok(content) = Content::of(archive, self.shared.started) else {
            return not_found(None); // the archive file is missing
        };
        content::serve(
            self.req,
            &content,
            &[
                ("Content-Type", "application/octet-stream".to_string()),
                (
                    "Content-Disposition",
                    "attachment; filename=\"artifacts.zip\"; filename*=UTF-8''artifacts.zip"
                        .to_string(),
                ),
                ("Content-Transfer-Encoding", "binary".to_string()),
            ],
        )
    }
}

/// The decoded name, version and file name, checked as Grape checks them: names and file
/// names `\A[A-Za-z0-9._+-]+\z`, versions `\A(?!.*\.\.)[\w+.-]+\z`, and no `..` path
/// (`file_path: true`). 400 `{"error":"package_version is invalid"}` and the like.
fn package_params(
    raw_name: &str,
    raw_version: &str,
    raw_file: &str,
) -> Result<(String, String, String), Response> {
    let decode = |raw: &str| String::from_utf8(percent_decode(raw)).unwrap_or_default();
    let (name, version, file) = (decode(raw_name), decode(raw_version), decode(raw_file));
    let name_like = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    };
    let checks = [
        ("package_name", name_like(&name), name != ".."),
        (
            "package_version",
            name_like(&version) && !version.contains(".."),
            true,
        ),
        ("file_name", name_like(&file), file != ".."),
    ];
    for (param, valid, path_ok) in checks {
        if !valid {
            return Err(invalid_param(&format!("{param} is invalid")));
        }
        if !path_ok {
            return Err(invalid_param(&format!(
                "{param} should be a valid file path"
            )));
        }
    }
    Ok((name, version, file))
}

/// A Grape `Integer` parameter.
fn parse_id(raw: &str) -> Option<u64> {
    let s = String::from_utf8(percent_decode(raw)).ok()?;
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .then(|| s.parse().ok())
        .flatten()
}

/// The decoded artifact path; `None` (400) for NUL bytes or invalid UTF-8.
fn entry_path(raw: &str) -> Option<String> {
    let path = String::from_utf8(percent_decode(raw)).ok()?;
    (!path.contains('\0')).then_some(path)
}

/// How a single entry's Content-Type is chosen (§5).
#[derive(Debug, Clone, Copy)]
enum Sniff {
    /// By job id: from the file extension.
    Extension,
    /// By ref (raw): from the first 512 bytes.
    Content,
}

/// One entry of the archive, as gitlab-zip-cat sends it: exact name match, no directories, no
/// Range support, `Content-Length` = uncompressed size.
fn serve_entry(archive: &Archive, path: &str, sniff: Sniff) -> Response {
    let info = match archive.find_entry(path) {
        Ok(Some(info)) if !info.is_dir => info,
        Ok(_) => return entry_not_found(),
        Err(_) => {
            return Response::typed(500, "text/plain; charset=utf-8", "Internal Server Error\n");
        }
    };
    let content_type = match sniff {
        Sniff::Extension => type_by_extension(path).to_string(),
        Sniff::Content => {
            let mut head = Vec::with_capacity(512);
            let read = archive.with_entry(info.index, &mut |r| {
                r.take(512).read_to_end(&mut head).map(drop)
            });
            if read.is_err() {
                return Response::typed(
                    500,
                    "text/plain; charset=utf-8",
                    "Internal Server Error\n",
                );
            }
            sniff_content(&head).to_string()
        }
    };
    let basename = path.rsplit('/').next().unwrap_or(path);
    let quoted = basename.replace('\\', "\\\\").replace('"', "\\\"");
    let mut resp = Response::new(200)
        .header("Content-Type", content_type)
        .header(
            "Content-Disposition",
            format!("attachment; filename=\"{quoted}\""),
        );
    resp.body = Body::ZipEntry {
        archive: archive.clone(),
        index: info.index,
        len: info.size,
    };
    resp
}

/// Go's `mime.TypeByExtension` built-in table (plus a few types every Linux mime.types has).
fn type_by_extension(path: &str) -> &'static str {
    let base = path.rsplit('/').next().unwrap_or(path);
    let ext = match base.rfind('.') {
        Some(i) => base[i..].to_ascii_lowercase(),
        None => return "application/octet-stream",
    };
    match ext.as_str() {
        ".avif" => "image/avif",
        ".css" => "text/css; charset=utf-8",
        ".gif" => "image/gif",
        ".htm" | ".html" => "text/html; charset=utf-8",
        ".jpeg" | ".jpg" => "image/jpeg",
        ".js" | ".mjs" => "text/javascript; charset=utf-8",
        ".json" => "application/json",
        ".pdf" => "application/pdf",
        ".png" => "image/png",
        ".svg" => "image/svg+xml",
        ".wasm" => "application/wasm",
        ".webp" => "image/webp",
        ".xml" => "text/xml; charset=utf-8",
        ".txt" => "text/plain; charset=utf-8",
        ".zip" => "application/zip",
        ".gz" => "application/gzip",
        ".tar" => "application/x-tar",
        _ => "application/octet-stream",
    }
}

/// Workhorse's sniffing for the raw route: Go's `http.DetectContentType` (the common
/// signatures), with every `text/*` answered as `text/plain; charset=utf-8` and SVG as
/// `image/svg+xml`.
fn sniff_content(data: &[u8]) -> &'static str {
    let data = &data[..data.len().min(512)];
    let lower: Vec<u8> = data.to_ascii_lowercase();
    if lower.windows(4).any(|w| w == b"<svg") {
        return "image/svg+xml";
    }
    const TEXT: &str = "text/plain; charset=utf-8";
    let trimmed = {
        let start = lower
            .iter()
            .position(|b| !b" \t\n\x0c\r".contains(b))
            .unwrap_or(lower.len());
        &lower[start..]
    };
    const HTML: [&[u8]; 17] = [
        b"<!doctype html",
        b"<html",
        b"<head",
        b"<script",
        b"<iframe",
        b"<h1",
        b"<div",
        b"<font",
        b"<table",
        b"<a",
        b"<style",
        b"<title",
        b"<b",
        b"<body",
        b"<br",
        b"<p",
        b"<!--",
    ];
    let html = HTML
        .iter()
        .any(|sig| trimmed.starts_with(sig) && matches!(trimmed.get(sig.len()), Some(b' ' | b'>')));
    if html || trimmed.starts_with(b"<?xml") {
        return TEXT;
    }
    const MAGIC: [(&[u8], &str); 12] = [
        (b"%PDF-", "application/pdf"),
        (b"%!PS-Adobe-", "application/postscript"),
        (b"\xFE\xFF", TEXT),
        (b"\xFF\xFE", TEXT),
        (b"\xEF\xBB\xBF", TEXT),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1F\x8B\x08", "application/x-gzip"),
        (b"\x00asm", "application/wasm"),
    ];
    if let Some((_, t)) = MAGIC.iter().find(|(m, _)| data.starts_with(m)) {
        return t;
    }
    let binary = data.iter().any(|&b| {
        b <= 0x08 || b == 0x0B || (0x0E..=0x1A).contains(&b) || (0x1C..=0x1F).contains(&b)
    });
    if binary {
        "application/octet-stream"
    } else {
        TEXT
    }
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
        assert_eq!(p("/api/v4/projects/2/jobs"), None);
        assert_eq!(p("/api/v4/nope"), None);
        assert_eq!(p("/job"), None);
    }

    #[test]
    fn checks_package_params_like_grape() {
        let ok = |n, v, f| package_params(n, v, f).is_ok();
        assert!(ok("gljob", "0.1.0", "gljob-0.1.0-x86_64-linux"));
        assert!(ok("gljob", "latest", "VERSION"));
        assert!(ok("gljob", "1.0.0-rc_1%2Bbuild", "a+b_c.txt"));
        assert!(!ok("gljob", "1..0", "f"));
        assert!(!ok("gljob", "v%201", "f"));
        assert!(!ok("glj%2Fob", "1.0.0", "f"));
        assert!(!ok("gljob", "1.0.0", "a%2Fb"));
        assert!(!ok("..", "1.0.0", "f"));
        assert!(!ok("gljob", "1.0.0", ".."));
    }

    #[test]
    fn sniffs_like_workhorse() {
        assert_eq!(
            sniff_content(b"#!/bin/sh\necho hi\n"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(
            sniff_content(b"<?xml version=\"1.0\"?><a/>"),
            "text/plain; charset=utf-8"
        );
        assert_eq!(sniff_content(b"<svg xmlns=\"x\"></svg>"), "image/svg+xml");
        assert_eq!(sniff_content(b"\x89PNG\r\n\x1a\n\0\0"), "image/png");
        assert_eq!(
            sniff_content(b"\x7fELF\x02\x01\x01\0"),
            "application/octet-stream"
        );
        assert_eq!(sniff_content(b""), "text/plain; charset=utf-8");
        assert_eq!(
            type_by_extension("dist/lib/util.js"),
            "text/javascript; charset=utf-8"
        );
        assert_eq!(type_by_extension("dist/app"), "application/octet-stream");
        assert_eq!(
            type_by_extension("reports/junit.XML"),
            "text/xml; charset=utf-8"
        );
    }
}
