//! GitLab's job-token routes, and what their failures mean.
//!
//! Each function here names one route of gitlab-api.md and turns its error statuses into
//! explanations (see [`explain_job_route`]). The transport below it knows nothing of GitLab's
//! meanings; the commands above it know nothing of URLs.

use anyhow::Result;
use ureq::Body;
use ureq::http::Response;

use crate::config::Config;
use crate::error::{Failure, Kind, fail};
use std::sync::OnceLock;

use crate::transport::{Credential, HttpError, TOKEN_HINT, Transport};

/// JSON answers larger than this are refused: GitLab's are a few KiB, and memory stays bounded
/// against a broken proxy.
const JSON_LIMIT: u64 = 16 * 1024 * 1024;

pub struct Api {
    pub transport: Transport,
    base: String,
    /// This job, learnt from `GET /job` the first time a failure needs it (and only then).
    own: OnceLock<Option<OwnJob>>,
}

/// What `GET /job` says about the job gljob runs in: what an error message needs to tell
/// "this job's own project" from another one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnJob {
    pub job_id: u64,
    pub project_id: u64,
    /// The project's full path, read off the job's `web_url` (`/job` has no other).
    pub project_path: Option<String>,
}

impl OwnJob {
    /// Whether `project` (an id or a full path, as `--project` takes it) is this job's.
    pub fn is(&self, project: &str) -> bool {
        project == self.project_id.to_string()
            || self
                .project_path
                .as_deref()
                .is_some_and(|p| p.eq_ignore_ascii_case(project))
    }

    /// `namespace1/project1 (id 1)`, or `project 1` when the path is unknown.
    pub fn describe(&self) -> String {
        match &self.project_path {
            Some(path) => format!("{path} (id {})", self.project_id),
            None => format!("project {}", self.project_id),
        }
    }
}

impl Api {
    /// The API with the job token (`job`, `agents`).
    pub fn new(config: &Config) -> Result<Api> {
        Api::with(config, Transport::new(config)?)
    }

    /// The API of `fetch`: with `GLJOB_TOKEN` when set, else the job token.
    pub fn for_fetch(config: &Config) -> Result<Api> {
        Api::with(config, Transport::for_fetch(config)?)
    }

    fn with(config: &Config, transport: Transport) -> Result<Api> {
        Ok(Api {
            transport,
            base: config.require_api_url()?.to_string(),
            own: OnceLock::new(),
        })
    }

    /// The credential requests carry.
    pub fn credential(&self) -> Credential {
        self.transport.credential()
    }

    /// This job (`GET /job`, at most once per run), for explaining a failure; `None` when the
    /// credential is not the job token (an access token has no job: 404) or the lookup fails.
    pub fn own_job(&self) -> Option<&OwnJob> {
        self.own
            .get_or_init(|| {
                if self.credential() != Credential::JobToken {
                    return None;
                }
                let body = self.job().ok()?;
                let job: serde_json::Value = serde_json::from_slice(&body).ok()?;
                Some(OwnJob {
                    job_id: job.get("id")?.as_u64()?,
                    project_id: job.pointer("/pipeline/project_id")?.as_u64()?,
                    project_path: job
                        .get("web_url")
                        .and_then(serde_json::Value::as_str)
                        .and_then(|url| project_path_of(url, &self.base)),
                })
            })
            .as_ref()
    }

    /// Whether GitLab refuses this job's token even on its own job's artifacts with `404
    /// Project Not Found`: GitLab EE without Premium (`check_cross_project_pipelines_feature!`
    /// in ee/lib/ee/api/ci/job_artifacts.rb), the one GitLab that answers so where the project
    /// surely exists. A licensed GitLab answers otherwise (a running job has no archive yet:
    /// `404 Not Found`). One request; `None` when it cannot tell.
    pub fn refuses_own_artifacts(&self) -> Option<bool> {
        let own = self.own_job()?;
        let url = self.url(&format!(
            "/projects/{}/jobs/{}/artifacts",
            own.project_id, own.job_id
        ));
        match self.transport.get(&url, &[]) {
            // Nothing to read: the answer is the status.
            Ok(_) => Some(false),
            Err(e) => {
                let http = e.downcast_ref::<HttpError>()?;
                Some(http.status == 404 && http.says("404 Project Not Found"))
            }
        }
    }

    /// The full URL of an API path such as `/job`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// `GET /job`: the body exactly as received.
    pub fn job(&self) -> Result<Vec<u8>> {
        self.get_json("/job").map_err(explain_job_route)
    }

    /// `GET /job/allowed_agents`: the body exactly as received.
    pub fn allowed_agents(&self) -> Result<Vec<u8>> {
        self.get_json("/job/allowed_agents")
            .map_err(explain_job_route)
    }

    /// Every item of a paginated list (`path` may carry a query), page by page as GitLab's
    /// `X-Next-Page` (or `Link: rel="next"`) says — lists of jobs have no totals —, at most
    /// `max_pages` pages of 100. Returns the items and whether more pages were left unread.
    pub fn list(&self, path: &str, max_pages: u32) -> Result<(Vec<serde_json::Value>, bool)> {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut items = Vec::new();
        let mut page: u64 = 1;
        for _ in 0..max_pages {
            let url = self.url(&format!("{path}{sep}per_page={PER_PAGE}&page={page}"));
            let response = self
                .transport
                .get(&url, &[("Accept", "application/json")])?;
            let next = next_page(&response);
            let body = read_json_body(&url, response)?;
            match serde_json::from_slice::<serde_json::Value>(&body) {
                Ok(serde_json::Value::Array(list)) => items.extend(list),
                _ => {
                    return Err(fail(Kind::Network, "GitLab's answer is not a JSON list")
                        .detail(format!("tried: GET {}", crate::url::redact(&url)))
                        .hint("CI_API_V4_URL must be the API base (https://gitlab.example.com/api/v4)")
                        .into());
                }
            }
            match next {
                // Only forward: a server that points back cannot make gljob loop.
                Some(n) if n > page => page = n,
                _ => return Ok((items, false)),
            }
        }
        Ok((items, true))
    }

    /// GETs an API path and reads its JSON body (bounded) as bytes.
    fn get_json(&self, path: &str) -> Result<Vec<u8>> {
        let url = self.url(path);
        let response = self
            .transport
            .get(&url, &[("Accept", "application/json")])?;
        read_json_body(&url, response)
    }
}

/// The most items GitLab gives per page.
const PER_PAGE: u32 = 100;

/// The next page's number: `X-Next-Page` (empty on the last page), else the `page=` of the
/// `Link` header's `rel="next"`.
fn next_page(response: &Response<Body>) -> Option<u64> {
    let header = |name: &str| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(next) = header("x-next-page") {
        return next.parse().ok();
    }
    let link = header("link")?;
    link.split(',')
        .find(|part| part.contains("rel=\"next\""))
        .and_then(|part| {
            let url = part.split(';').next()?.trim().trim_matches(['<', '>']);
            let query = url.split_once('?')?.1;
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix("page="))?
                .parse()
                .ok()
        })
}

/// Reads a JSON body whole (bounded by [`JSON_LIMIT`]) and checks that it is JSON: a proxy's
/// HTML page with status 200 is a network error, not data.
fn read_json_body(url: &str, response: Response<Body>) -> Result<Vec<u8>> {
    let shown = crate::url::redact(url);
    let body = response
        .into_body()
        .into_with_config()
        .limit(JSON_LIMIT)
        .read_to_vec()
        .map_err(|e| {
            fail(
                Kind::Network,
                format!("reading GitLab's answer failed: {e}"),
            )
            .detail(format!("tried: GET {shown}"))
            .hint("retry the job; if it persists, a proxy may be cutting or inflating responses")
        })?;
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        let start: String = String::from_utf8_lossy(&body[..body.len().min(80)]).into();
        return Err(fail(Kind::Network, "GitLab's answer is not JSON")
            .detail(format!("tried: GET {shown} → 200, body starts {start:?}"))
            .hint("CI_API_V4_URL must be the API base (https://gitlab.example.com/api/v4); a proxy in between may be answering instead of GitLab")
            .into());
    }
    Ok(body)
}

/// The project path in a job's `web_url` (`<server>/<full path>/-/jobs/<id>`), the server
/// being the API base without `/api/v4` (GitLab may live under a relative root).
fn project_path_of(web_url: &str, api_base: &str) -> Option<String> {
    let after_host = |url: &str| -> Option<String> {
        let rest = url.split_once("://")?.1;
        Some(rest.find('/').map_or("", |i| &rest[i..]).to_string())
    };
    let path = after_host(web_url)?;
    let root = after_host(api_base)?;
    let root = root.strip_suffix("/api/v4").unwrap_or(&root);
    let path = path.strip_prefix(root).unwrap_or(&path);
    let (project, _) = path.trim_start_matches('/').split_once("/-/jobs/")?;
    (!project.is_empty()).then(|| project.to_string())
}

/// What a failure of `GET /job` or `/job/allowed_agents` means (gitlab-api.md §2).
fn explain_job_route(err: anyhow::Error) -> anyhow::Error {
    let err = match err.downcast::<HttpError>() {
        Ok(http) => http,
        Err(other) => return other,
    };
    let failure: Failure = match err.status {
        // GitLab looks a JOB-TOKEN up among running jobs only: an access token there is no
        // job's token and gets the same 401 as a dead one (find_user_from_job_token).
        401 => fail(Kind::Auth, "GitLab rejected CI_JOB_TOKEN (401 Unauthorized)")
            .detail(err.tried())
            .hint("the token is invalid or expired, or its job is no longer running; or it is not a job token at all: a personal, project or group access token in CI_JOB_TOKEN is refused the same way")
            .hint(TOKEN_HINT)
            .hint("an access token belongs in GLJOB_TOKEN, which only fetch uses: GET /job needs the job's own token"),
        404 if err.says("404 Job Not Found") => {
            fail(Kind::NotFound, "the credential is not a job token (404 Job Not Found)")
                .detail(err.tried())
                .hint("GitLab found a user but no job: an access token reached GitLab as one (a proxy adding PRIVATE-TOKEN or Authorization?); use the token GitLab sets in the job")
        }
        404 => fail(Kind::NotFound, "GitLab has no such route (404)")
            .detail(err.tried())
            .hint("check that CI_API_V4_URL ends in /api/v4 and that GitLab is 13.10 or newer (GET /job)"),
        _ => err.into_failure(),
    };
    failure.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_project_path_comes_from_the_jobs_web_url() {
        let api = "https://gitlab.example.com/api/v4";
        let path = |url: &str, base: &str| project_path_of(url, base);
        assert_eq!(
            path(
                "https://gitlab.example.com/group/sub/my.project/-/jobs/8",
                api
            )
            .as_deref(),
            Some("group/sub/my.project")
        );
        assert_eq!(
            path(
                "https://example.com/gitlab/a/b/-/jobs/8",
                "https://example.com/gitlab/api/v4"
            )
            .as_deref(),
            Some("a/b")
        );
        assert_eq!(path("https://gitlab.example.com/-/jobs/8", api), None);
        assert_eq!(path("not a url", api), None);
        let own = OwnJob {
            job_id: 8,
            project_id: 1,
            project_path: Some("namespace1/project1".into()),
        };
        assert!(own.is("1") && own.is("Namespace1/Project1") && !own.is("2"));
    }
}
