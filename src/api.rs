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
use crate::transport::{HttpError, TOKEN_HINT, Transport};

/// JSON answers larger than this are refused: GitLab's are a few KiB, and memory stays bounded
/// against a broken proxy.
const JSON_LIMIT: u64 = 16 * 1024 * 1024;

pub struct Api {
    pub transport: Transport,
    base: String,
}

impl Api {
    pub fn new(config: &Config) -> Result<Api> {
        Ok(Api {
            transport: Transport::new(config)?,
            base: config.require_api_url()?.to_string(),
        })
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
                        .detail(format!("tried: GET {}", crate::transport::redact(&url)))
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
    let shown = crate::transport::redact(url);
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
