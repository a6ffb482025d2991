//! GitLab's behaviour on the API origin (`/api/v4`): routing, job-token authentication and
//! project resolution with the job-token allowlist — what every endpoint shares — and one
//! submodule per resource with its endpoints' exact statuses and bodies
//! (`shared/gitlab-api.md` §0–§5):
//!
//! - [`jobs`]: `GET /job` and `GET /job/allowed_agents`;
//! - [`artifacts`]: the four job-artifact endpoints;
//! - [`packages`]: the generic package registry (`/projects/:id/packages/generic/:name/:version/:file`,
//!   GET and PUT; lib/api/generic_packages.rb), where gljob's releases live and install.sh
//!   downloads them from.
//!
//! To add an endpoint: add a [`Route`] variant, its pattern in [`Route::parse`] (and its
//! methods in [`Route::methods`]), and a handler (in its resource's module) called from
//! [`dispatch`].

mod artifacts;
mod jobs;
mod packages;

use crate::PAT;
use crate::http::{Request, Response, percent_decode};
use crate::serve::{Shared, lock};
use crate::world::{Project, World};

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
        assert_eq!(p("/api/v4/projects/2/jobs"), None);
        assert_eq!(p("/api/v4/nope"), None);
        assert_eq!(p("/job"), None);
    }
}
