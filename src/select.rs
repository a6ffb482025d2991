//! Which jobs? A fetch's selection (`--job-id`, `--ref`, `--pipeline`, `--child`, `--job`),
//! resolved to jobs through GitLab's API.
//!
//! GitLab's own by-ref route gives "the job NAME of the newest successful pipeline for
//! REF", which is the wrong answer in the cases this tool exists for: a downstream or child
//! pipeline wants the *exact* upstream pipeline (usually still running), the newest pipeline
//! may not have run NAME at all, and parallel or matrix jobs have names of their own. So:
//! - `--job-id`: that job; no lookup.
//! - `--ref REF --job NAME`: the by-ref route with `search_recent_successful_pipelines`
//!   (GitLab 18.7+ searches the last 100 successful pipelines); where it answers 404 (an
//!   older GitLab ignores the parameter) gljob finds the newest successful job itself in
//!   the project's jobs list ([`by_list`]). Globs, several names and parallel names go to
//!   the list directly. `--latest-pipeline` keeps GitLab's strict meaning.
//! - `--pipeline ID|current [--child TRIGGER]… --job NAME…`: the jobs of exactly that
//!   pipeline (retried attempts excluded), or of the downstream pipeline a trigger job
//!   started, possibly in another project; `--wait` polls until they finish.
//!
//! A plain NAME also matches parallel (`NAME 1/3`) and matrix (`NAME: [a, b]`) jobs when
//! no job is named exactly NAME; a NAME with `*` or `?` is a glob over the whole name.

use std::time::{Duration, Instant};

use anyhow::Result;
use serde_json::{Value, json};

use crate::api::Api;
use crate::cli::{FetchArgs, usage};
use crate::config::Config;
use crate::error::{Failure, Kind, fail};
use crate::signals;
use crate::transport::{Credential, HttpError, TOKEN_HINT};

/// What the user asked for.
pub struct Selection {
    /// Project id or full path, as given.
    pub project: String,
    pub by: By,
}

pub enum By {
    Id(u64),
    Ref {
        git_ref: String,
        jobs: Vec<String>,
        /// Only GitLab's latest successful pipeline (`--latest-pipeline`).
        latest: bool,
    },
    Pipeline {
        /// A pipeline id (`current` already replaced by `CI_PIPELINE_ID`).
        id: u64,
        children: Vec<String>,
        jobs: Vec<String>,
        wait: Option<Duration>,
    },
}

/// A job to fetch, with what is known of it (by-ref downloads know only their name).
#[derive(Debug, Clone)]
pub struct Chosen {
    pub project: String,
    pub id: Option<u64>,
    pub name: Option<String>,
    pub pipeline_id: Option<u64>,
    pub git_ref: Option<String>,
    pub sha: Option<String>,
    pub status: Option<String>,
    /// Downloaded through the by-ref route: a 404 may mean an older GitLab that ignored
    /// `search_recent_successful_pipelines`, and [`by_list`] gets a second say.
    pub by_ref: Option<ByRef>,
}

#[derive(Debug, Clone)]
pub struct ByRef {
    pub git_ref: String,
    pub job: String,
    /// Search the recent successful pipelines (the parameter, and the list as fallback).
    pub recent: bool,
}

/// Statuses of a job that has not finished yet (worth `--wait`ing for).
const UNFINISHED: &[&str] = &[
    "created",
    "pending",
    "preparing",
    "running",
    "scheduled",
    "waiting_for_resource",
    "waiting_for_callback",
];
/// Pages of 100 read to find the newest successful job on a ref.
const SEARCH_PAGES: u32 = 10;
/// Pages of 100 read of one pipeline's jobs or trigger jobs.
const PIPELINE_PAGES: u32 = 50;
/// The longest gap between two polls of `--wait`.
const MAX_POLL_GAP: Duration = Duration::from_secs(30);

impl Selection {
    pub fn from_args(args: &FetchArgs, config: &Config) -> Result<Selection, Failure> {
        let jobs: Vec<String> = args.job.iter().filter(|j| !j.is_empty()).cloned().collect();
        let by = match (&args.git_ref, &args.pipeline, args.job_id) {
            (None, None, Some(id)) if jobs.is_empty() => By::Id(id),
            (_, _, Some(_)) => {
                return Err(usage(
                    "--job-id names the job itself: it cannot be combined with --ref, --pipeline or --job",
                ));
            }
            (Some(_), Some(_), None) => {
                return Err(usage(
                    "choose the pipeline one way: --ref REF (its newest successful job) or --pipeline ID",
                ));
            }
            (Some(git_ref), None, None) => {
                if jobs.is_empty() {
                    return Err(usage(
                        "--ref needs --job NAME (the job whose artifacts to fetch)",
                    ));
                }
                if args.latest_pipeline && (jobs.len() > 1 || jobs.iter().any(|j| is_glob(j))) {
                    return Err(usage(
                        "--latest-pipeline takes one exact --job NAME (GitLab's own by-ref lookup)",
                    ));
                }
                By::Ref {
                    git_ref: git_ref.clone(),
                    jobs,
                    latest: args.latest_pipeline,
                }
            }
            (None, Some(pipeline), None) => {
                if jobs.is_empty() {
                    return Err(usage(
                        "--pipeline needs --job NAME (which of its jobs to fetch)",
                    ));
                }
                By::Pipeline {
                    id: pipeline_id(pipeline, config)?,
                    children: args.child.clone(),
                    jobs,
                    wait: args.wait.as_deref().map(parse_duration).transpose()?,
                }
            }
            (None, None, None) if !jobs.is_empty() => {
                return Err(usage(
                    "--job needs --ref REF (its newest successful job) or --pipeline ID (that pipeline's job)",
                ));
            }
            (None, None, None) => {
                return Err(usage(
                    "choose the job: --ref REF --job NAME, --pipeline ID --job NAME, or --job-id ID",
                ));
            }
        };
        if !matches!(by, By::Pipeline { .. }) {
            if !args.child.is_empty() {
                return Err(usage("--child goes with --pipeline"));
            }
            if args.wait.is_some() {
                return Err(usage(
                    "--wait goes with --pipeline (a job of a pipeline that is still running)",
                ));
            }
        }
        if args.latest_pipeline && !matches!(by, By::Ref { .. }) {
            return Err(usage("--latest-pipeline goes with --ref"));
        }
        let project = match args
            .project
            .clone()
            .filter(|p| !p.is_empty())
            .or_else(|| config.project_id.clone())
        {
            Some(p) => project_arg(&p, config.api_url.as_deref())?,
            None => {
                return Err(fail(Kind::Config, "no project: --project is not given and CI_PROJECT_ID is not set")
                    .hint("pass --project group/project (or its numeric id); inside a CI job GitLab sets CI_PROJECT_ID"));
            }
        };
        Ok(Selection { project, by })
    }

    /// The one job that needs no lookup, when there is one: `--job-id`, or `--ref` with
    /// one name (GitLab's by-ref route finds it; a name it does not know — a glob, a
    /// parallel job's base name, a job not in the newest pipeline — goes to the jobs list
    /// next, see [`fallback`]).
    pub fn direct(&self) -> Option<Chosen> {
        let chosen = Chosen {
            project: self.project.clone(),
            id: None,
            name: None,
            pipeline_id: None,
            git_ref: None,
            sha: None,
            status: None,
            by_ref: None,
        };
        match &self.by {
            By::Id(id) => Some(Chosen {
                id: Some(*id),
                ..chosen
            }),
            By::Ref {
                git_ref,
                jobs,
                latest,
            } if jobs.len() == 1 => Some(Chosen {
                name: Some(jobs[0].clone()),
                git_ref: Some(git_ref.clone()),
                by_ref: Some(ByRef {
                    git_ref: git_ref.clone(),
                    job: jobs[0].clone(),
                    recent: !latest,
                }),
                ..chosen
            }),
            _ => None,
        }
    }
}

impl Chosen {
    /// `/projects/:id/jobs/…`, the common prefix of every artifact route.
    fn jobs_path(&self) -> String {
        format!("/projects/{}/jobs", encode(&self.project))
    }

    /// The archive's route.
    pub fn archive_path(&self) -> String {
        match (&self.by_ref, self.id) {
            (Some(r), _) => self.by_ref_path(r, "download"),
            (None, id) => format!("{}/{}/artifacts", self.jobs_path(), id.unwrap_or(0)),
        }
    }

    /// `…/jobs/artifacts/REF/WHAT?job=NAME`, searching recent pipelines unless told not to.
    fn by_ref_path(&self, r: &ByRef, what: &str) -> String {
        let recent = if r.recent {
            "&search_recent_successful_pipelines=true"
        } else {
            ""
        };
        format!(
            "{}/artifacts/{}/{what}?job={}{recent}",
            self.jobs_path(),
            encode(&r.git_ref),
            encode(&r.job)
        )
    }

    /// GitLab's single-file routes; the entry path keeps its slashes.
    pub fn file_path(&self, entry: &str) -> String {
        let entry: Vec<String> = entry
            .trim_start_matches('/')
            .split('/')
            .map(encode)
            .collect();
        let entry = entry.join("/");
        match (&self.by_ref, self.id) {
            (Some(r), _) => self.by_ref_path(r, &format!("raw/{entry}")),
            (None, id) => format!("{}/{}/artifacts/{entry}", self.jobs_path(), id.unwrap_or(0)),
        }
    }

    /// "job 102 "build" of pipeline 21 in project 2", for messages.
    pub fn describe(&self) -> String {
        let name = self
            .name
            .as_deref()
            .map(|n| format!(" {n:?}"))
            .unwrap_or_default();
        match (&self.by_ref, self.id) {
            (Some(r), _) if r.recent => format!(
                "job {:?} (the newest successful one on {:?}) in project {}",
                r.job, r.git_ref, self.project
            ),
            (Some(r), _) => format!(
                "job {:?} of the latest successful pipeline for {:?} in project {}",
                r.job, r.git_ref, self.project
            ),
            (None, id) => {
                let pipeline = self
                    .pipeline_id
                    .map(|p| format!(" of pipeline {p}"))
                    .unwrap_or_default();
                format!(
                    "job {}{name}{pipeline} in project {}",
                    id.unwrap_or(0),
                    self.project
                )
            }
        }
    }

    /// For a path under `--per-job`: the job's name made safe for one path component.
    pub fn dir_name(&self) -> String {
        let name = self
            .name
            .clone()
            .unwrap_or_else(|| format!("job-{}", self.id.unwrap_or(0)));
        let safe: String = name
            .chars()
            .map(|c| {
                if c == '/' || c == '\\' || c.is_control() {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        match safe.trim() {
            "" | "." | ".." => format!("job-{}", self.id.unwrap_or(0)),
            s if s.starts_with(crate::archive::RESERVED_PREFIX) => format!("_{s}"),
            s => s.chars().take(200).collect(),
        }
    }

    /// The `--json` description.
    pub fn json(&self) -> Value {
        json!({"id": self.id, "name": self.name, "pipeline_id": self.pipeline_id,
               "ref": self.git_ref, "sha": self.sha, "status": self.status})
    }

    fn from_job(project: &str, job: &Value) -> Chosen {
        let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_string);
        Chosen {
            project: project.to_string(),
            id: job.get("id").and_then(Value::as_u64),
            name: text(job.get("name")),
            pipeline_id: job.pointer("/pipeline/id").and_then(Value::as_u64),
            git_ref: text(job.get("ref")),
            sha: text(job.pointer("/pipeline/sha")).or_else(|| text(job.pointer("/commit/id"))),
            status: text(job.get("status")),
            by_ref: None,
        }
    }
}

impl Chosen {
    /// What a failed archive download of this job means, in GitLab's terms
    /// (gitlab-api.md §3–§4): the one cause that applies, where GitLab's answer and one look
    /// at this job (`GET /job`, only now) can tell it.
    pub fn explain(&self, api: &Api, err: anyhow::Error) -> anyhow::Error {
        let http = match err.downcast::<HttpError>() {
            Ok(http) => http,
            Err(other) => return other,
        };
        let project = &self.project;
        let access = api.credential() == Credential::AccessToken;
        let failure = match (http.status, http.message.as_deref()) {
            (401, _) if access => fail(Kind::Auth, "GitLab rejected GLJOB_TOKEN (401 Unauthorized)")
                .detail(http.tried())
                .hint(GLJOB_TOKEN_HINT),
            (401, _) => fail(Kind::Auth, "GitLab rejected CI_JOB_TOKEN (401 Unauthorized)").detail(http.tried()).hint(TOKEN_HINT),
            (403, _) if !http.api_origin => fail(Kind::Forbidden, "object storage refused the download link (403)")
                .detail(http.tried())
                .hint("the presigned URL may have expired or the storage clock is off; retry the job"),
            (403, Some(m)) if m.contains("not allowed from") => allowlist_refusal(api, project, &http),
            (403, Some(m)) if m.contains("Insufficient permissions") => fail(Kind::Forbidden, format!("the job-token allowlist entry in {project} lacks a permission (403)"))
                .detail(http.tried())
                .hint(format!("in {project}: Settings → CI/CD → Job token permissions, grant this project the read_jobs permission")),
            (403, _) => {
                let who = if access { "GLJOB_TOKEN's user (the access token's bot user)" } else { "the user who triggered this job" };
                fail(Kind::Forbidden, format!("GitLab refused access to the artifacts of {} (403)", self.describe()))
                    .detail(http.tried())
                    .hint(format!("{who} needs at least the Reporter role in {project}, or Guest where its pipelines are public (Settings → CI/CD → General pipelines → Public pipelines)"))
                    .hint("a job that sets artifacts:access: developer (or maintainer) needs that role; artifacts:access: none keeps its artifacts from every download")
            }
            (404, _) if http.no_route => http.into_failure(),
            (404, Some("404 Project Not Found")) if access => fail(Kind::NotFound, format!("GitLab does not show project {project} to GLJOB_TOKEN (404 Project Not Found)"))
                .detail(http.tried())
                .hint("check --project (or CI_PROJECT_ID): a numeric id or the full path group/sub/project")
                .hint(format!("an access token sees only the projects its user is a member of: a project access token its own project, a group access token the group's projects; make it one of {project}'s, with at least the Reporter role")),
            (404, Some("404 Project Not Found")) => self.project_not_found(api, &http),
            (404, Some("404 Not found" | "404 Job Not Found")) => match (&self.by_ref, self.id) {
                (Some(r), _) => fail(Kind::NotFound, if r.recent {
                        format!("project {project} has no recent successful job {:?} with artifacts on {:?}", r.job, r.git_ref)
                    } else {
                        format!("the latest successful pipeline for {:?} in project {project} has no job {:?} with artifacts", r.git_ref, r.job)
                    })
                    .detail(http.tried())
                    .hint("the usual causes: a typo in the job name (it is exact and case-sensitive, e.g. 'test 1/3'); the job did not run there; the artifacts expired")
                    .hint(format!("{:?} may not exist, or has no successful pipeline yet: check --ref (branch, tag, or refs/merge-requests/IID/head)", r.git_ref))
                    .hint("an upstream pipeline that is still running has no successful pipeline yet: pass its id and use --pipeline"),
                (None, id) => fail(Kind::NotFound, format!("project {project} has no job {}", id.unwrap_or(0)))
                    .detail(http.tried())
                    .hint("check --job-id and --project: job ids are per GitLab instance, but the job must belong to the project"),
            },
            (404, Some("404 Not Found")) => fail(Kind::NotFound, format!("{} has no artifacts archive", self.describe()))
                .detail(http.tried())
                .hint("the artifacts expired or were erased, or the job declared no artifacts (see artifacts:expire_in in its .gitlab-ci.yml)"),
            (404, _) => fail(Kind::NotFound, "GitLab has no such route (404)")
                .detail(http.tried())
                .hint("check that CI_API_V4_URL ends in /api/v4 and that --project is an id or a full path"),
            _ => http.into_failure(),
        };
        failure.into()
    }

    /// A job token's `404 Project Not Found` on an artifact route. GitLab answers it for a
    /// project that does not exist, and GitLab EE without Premium for every project, this
    /// job's own included (`check_cross_project_pipelines_feature!`); an allowlist that keeps
    /// this job out gets a 403 since about GitLab 17 (`handle_job_token_failure!`), a 404
    /// before. So, after the fetch failed and only then: this job's own project (`GET
    /// /job`) means EE without Premium; for another one, the project's jobs list (which no
    /// licence gates) says whether it exists ([`project_listed`]), and where that list does
    /// not take job tokens (older GitLab), this job's own artifacts say whether GitLab refuses
    /// job tokens there too ([`Api::refuses_own_artifacts`]).
    fn project_not_found(&self, api: &Api, http: &HttpError) -> Failure {
        let project = &self.project;
        let Some(own) = api.own_job() else {
            return fail(Kind::NotFound, format!("GitLab does not show project {project} to this job (404 Project Not Found)"))
                .detail(http.tried())
                .hint("check --project (or CI_PROJECT_ID): a numeric id or the full path group/sub/project")
                .hint(EE_FREE_HINT)
                .hint(format!("before about GitLab 17, a project whose job-token allowlist does not include this job's project answered the same: in {project}, Settings → CI/CD → Job token permissions → Add group or project"));
        };
        let this = own.describe();
        let own_path = own.project_path.as_deref().unwrap_or("this job's project");
        if own.is(project) {
            return fail(Kind::NotFound, format!("GitLab EE without Premium refuses job tokens on artifact routes, even for this job's own project {this} (404 Project Not Found)"))
                .detail(http.tried())
                .hint(format!("set GLJOB_TOKEN to a project access token of {own_path} with the read_api scope and the Reporter role (Settings → Access tokens), kept in a masked CI/CD variable: gljob fetch then sends it instead of the job token"))
                .hint(EE_FREE_HINT);
        }
        let listed = project_listed(api, project);
        let ee = match listed {
            Some(exists) => exists,
            None => api.refuses_own_artifacts() == Some(true),
        };
        let verdict = if ee { Some(true) } else { listed };
        match verdict {
            Some(true) => fail(Kind::NotFound, format!("GitLab EE without Premium refuses job tokens on artifact routes: project {project} answers 404 Project Not Found, as this job's own project {this} does"))
                .detail(http.tried())
                .hint(format!("set GLJOB_TOKEN to an access token whose user is at least a Reporter in {project} (a project access token of {project}, or a group access token of its group; scope read_api), kept in a masked CI/CD variable: gljob fetch then sends it instead of the job token"))
                .hint(EE_FREE_HINT),
            Some(false) => fail(Kind::NotFound, format!("GitLab has no project {project} (404 Project Not Found)"))
                .detail(http.tried())
                .hint(format!("check --project (or CI_PROJECT_ID): a numeric id or the full path group/sub/project, as in the project's URL; this job's own project is {this}")),
            None => fail(Kind::NotFound, format!("GitLab does not show project {project} to this job's token (404 Project Not Found)"))
                .detail(http.tried())
                .hint(format!("check --project (or CI_PROJECT_ID): a numeric id or the full path group/sub/project, as in the project's URL; this job's own project is {this}"))
                .hint(format!("GitLab before about 17 answers so also where the job-token allowlist of {project} keeps this job out (newer versions say 403): in {project}, Settings → CI/CD → Job token permissions → Add group or project → {own_path}")),
        }
    }

    /// Single-file failures: an absent entry, then everything an archive fetch can say.
    pub fn explain_file(&self, api: &Api, err: anyhow::Error, entry: &str) -> anyhow::Error {
        match err.downcast_ref::<HttpError>() {
            Some(http) if http.status == 404 && http.says("404 page not found") => fail(Kind::NotFound, format!("the artifacts of {} have no file {entry:?}", self.describe()))
                .detail(http.tried())
                .hint("the path is the exact entry name in the archive (no leading ./); gljob fetch --list shows them")
                .into(),
            _ => self.explain(api, err),
        }
    }

    /// Whether `err` is the by-ref route's "no such job", which an older GitLab that
    /// ignores `search_recent_successful_pipelines` also answers for jobs it did not look for.
    pub fn is_missing_by_ref(&self, err: &anyhow::Error) -> bool {
        self.by_ref.as_ref().is_some_and(|r| r.recent)
            && err.downcast_ref::<HttpError>().is_some_and(|h| {
                h.status == 404 && (h.says("404 Not found") || h.says("404 Job Not Found"))
            })
    }
}

/// Runs `op` on `chosen` (errors as the transport gave them, explained here); where the
/// by-ref route does not know the job, finds it in the project's jobs list ([`fallback`])
/// and runs `op` on that job instead. For the commands that take one job (`--file`,
/// `--list`).
pub fn with_fallback<T>(
    api: &Api,
    chosen: &Chosen,
    mut op: impl FnMut(&Chosen) -> Result<T>,
) -> Result<(T, Chosen)> {
    match op(chosen) {
        Ok(t) => Ok((t, chosen.clone())),
        Err(e) if chosen.is_missing_by_ref(&e) => {
            let found = fallback(api, chosen, e)?;
            match found.as_slice() {
                [one] => op(one).map(|t| (t, one.clone())).map_err(|e| one.explain(api, e)),
                _ => Err(fail(Kind::Usage, format!("{} matches {} parallel jobs", chosen.describe(), found.len()))
                    .detail(format!("jobs: {}", found.iter().filter_map(|c| c.name.as_deref()).map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")))
                    .hint("name one of them: --file and --list take one job (a fetch that unpacks takes them all)")
                    .into()),
            }
        }
        Err(e) => Err(chosen.explain(api, e)),
    }
}

/// The jobs the project's jobs list finds where the by-ref route answered `missing` (see
/// [`Chosen::is_missing_by_ref`]). Where the list cannot help (an older GitLab refuses
/// job tokens there), the by-ref route's answer is the one explained.
pub fn fallback(api: &Api, chosen: &Chosen, missing: anyhow::Error) -> Result<Vec<Chosen>> {
    let Some(r) = &chosen.by_ref else {
        return Err(chosen.explain(api, missing));
    };
    match successful_jobs(api, &chosen.project) {
        Ok((jobs, more)) => on_ref(
            &chosen.project,
            &r.git_ref,
            std::slice::from_ref(&r.job),
            &jobs,
            more,
        ),
        Err(_) => Err(chosen.explain(api, missing)),
    }
}

/// Resolves a selection that needs GitLab's lists (see [`Selection::direct`] for the rest).
pub fn resolve(api: &Api, selection: &Selection, quiet: bool) -> Result<Vec<Chosen>> {
    match &selection.by {
        By::Id(_) => Ok(selection.direct().into_iter().collect()),
        By::Ref { git_ref, jobs, .. } => by_list(api, &selection.project, git_ref, jobs),
        By::Pipeline {
            id,
            children,
            jobs,
            wait,
        } => {
            let (project, pipeline) = follow_children(api, &selection.project, *id, children)?;
            in_pipeline(api, &project, pipeline, jobs, *wait, quiet)
        }
    }
}

/// The newest successful jobs on `git_ref` matching `patterns`, from the project's jobs list
/// (newest first, [`SEARCH_PAGES`] pages at most): for each pattern the pipeline of its
/// newest match, and every match of the pattern in that pipeline (parallel jobs come
/// together).
pub fn by_list(
    api: &Api,
    project: &str,
    git_ref: &str,
    patterns: &[String],
) -> Result<Vec<Chosen>> {
    let (jobs, more) = successful_jobs(api, project)
        .map_err(|e| explain_list(api, e, project, "its jobs list"))?;
    on_ref(project, git_ref, patterns, &jobs, more)
}

/// The project's newest successful jobs, [`SEARCH_PAGES`] pages at most.
fn successful_jobs(api: &Api, project: &str) -> Result<(Vec<Value>, bool)> {
    let path = format!("/projects/{}/jobs?scope%5B%5D=success", encode(project));
    api.list(&path, SEARCH_PAGES)
}

/// [`by_list`]'s choice among `jobs` (the newest first; `more`: the list went on).
fn on_ref(
    project: &str,
    git_ref: &str,
    patterns: &[String],
    jobs: &[Value],
    more: bool,
) -> Result<Vec<Chosen>> {
    let on_ref: Vec<&Value> = jobs
        .iter()
        .filter(|j| j.get("ref").and_then(Value::as_str) == Some(git_ref) && has_archive(j))
        .collect();
    let mut chosen: Vec<Chosen> = Vec::new();
    for pattern in patterns {
        let names: Vec<&str> = on_ref.iter().filter_map(|j| name_of(j)).collect();
        let wanted = matching(pattern, &names);
        let Some(newest) = on_ref
            .iter()
            .find(|j| name_of(j).is_some_and(|n| wanted.contains(&n)))
        else {
            let refs = distinct(jobs.iter().filter_map(|j| j.get("ref")?.as_str()));
            let searched = if more {
                format!("the newest {} successful jobs", jobs.len())
            } else {
                format!("all {} successful jobs", jobs.len())
            };
            let mut failure = fail(
                Kind::NotFound,
                format!("no successful job {pattern:?} with artifacts on {git_ref:?} in project {project}"),
            )
            .detail(format!("searched {searched} of the project"));
            if refs.iter().any(|r| r == git_ref) {
                failure = failure.detail(format!(
                    "jobs on {git_ref:?}: {}",
                    closest(pattern, &distinct(names.iter().copied())).join(", ")
                ));
            } else {
                failure = failure
                    .detail(format!(
                        "refs with successful jobs: {}",
                        closest(git_ref, &refs).join(", ")
                    ))
                    .hint(format!("{git_ref:?} may not exist, or has no successful pipeline yet: check --ref (branch, tag, or refs/merge-requests/IID/head)"));
            }
            return Err(failure
                .hint("job names are exact and case-sensitive; a plain NAME also matches its parallel jobs (NAME 1/3); --job 'NAME*' is a glob")
                .hint("only successful jobs whose artifacts have not expired count; the artifacts of a pipeline that is still running (an upstream that triggered this one) are fetched with --pipeline ID")
                .into());
        };
        let pipeline = newest.pointer("/pipeline/id").and_then(Value::as_u64);
        let mut seen_names: Vec<&str> = Vec::new();
        for job in &on_ref {
            let Some(name) = name_of(job) else { continue };
            if job.pointer("/pipeline/id").and_then(Value::as_u64) != pipeline
                || !wanted.contains(&name)
                || seen_names.contains(&name)
            {
                continue;
            }
            seen_names.push(name); // newest attempt first
            push_unique(&mut chosen, Chosen::from_job(project, job));
        }
    }
    Ok(chosen)
}

/// Walks `--child` trigger jobs from `pipeline` down to the pipeline they started.
fn follow_children(
    api: &Api,
    project: &str,
    pipeline: u64,
    children: &[String],
) -> Result<(String, u64)> {
    let mut here = (project.to_string(), pipeline);
    for trigger in children {
        let path = format!("/projects/{}/pipelines/{}/bridges", encode(&here.0), here.1);
        let (bridges, _) = api.list(&path, PIPELINE_PAGES).map_err(|e| {
            explain_pipeline(api, e, &here.0, here.1, "its trigger jobs")
                .context(format!("looking up the trigger job {trigger:?}"))
        })?;
        let names = distinct(bridges.iter().filter_map(name_of));
        let Some(bridge) = bridges
            .iter()
            .find(|b| name_of(b) == Some(trigger.as_str()))
        else {
            return Err(fail(
                Kind::NotFound,
                format!("pipeline {} in project {} has no trigger job {trigger:?}", here.1, here.0),
            )
            .detail(if names.is_empty() {
                "it has no trigger jobs at all".to_string()
            } else {
                format!("its trigger jobs: {}", closest(trigger, &names).join(", "))
            })
            .hint("--child takes the name of the trigger job (the job with trigger:) that started the child pipeline")
            .into());
        };
        let downstream = bridge.get("downstream_pipeline").filter(|d| !d.is_null());
        let (Some(id), Some(child_project)) = (
            downstream.and_then(|d| d.get("id")?.as_u64()),
            downstream.and_then(|d| d.get("project_id")?.as_u64()),
        ) else {
            let status = bridge
                .get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown");
            return Err(fail(
                Kind::NotFound,
                format!("the trigger job {trigger:?} of pipeline {} has not started a pipeline (status {status})", here.1),
            )
            .hint("wait until the trigger job has run; a trigger job that was skipped or is manual starts nothing")
            .into());
        };
        here = (child_project.to_string(), id);
    }
    Ok(here)
}

/// The jobs of `pipeline` matching `patterns`, once they have all succeeded (polling with
/// growing gaps until `wait` is up, if given).
fn in_pipeline(
    api: &Api,
    project: &str,
    pipeline: u64,
    patterns: &[String],
    wait: Option<Duration>,
    quiet: bool,
) -> Result<Vec<Chosen>> {
    let started = Instant::now();
    let mut gap = Duration::from_secs(1);
    loop {
        let path = format!("/projects/{}/pipelines/{pipeline}/jobs", encode(project));
        let (jobs, more) = api
            .list(&path, PIPELINE_PAGES)
            .map_err(|e| explain_pipeline(api, e, project, pipeline, "its jobs"))?;
        if more {
            return Err(fail(
                Kind::Network,
                format!(
                    "pipeline {pipeline} has more than {} jobs",
                    PIPELINE_PAGES * 100
                ),
            )
            .hint("gljob reads at most that many; fetch by --job-id instead")
            .into());
        }
        let names = distinct(jobs.iter().filter_map(name_of));
        let mut chosen: Vec<(Chosen, &Value)> = Vec::new();
        for pattern in patterns {
            let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let wanted = matching(pattern, &name_refs);
            if wanted.is_empty() {
                return Err(fail(
                    Kind::NotFound,
                    format!("pipeline {pipeline} in project {project} has no job {pattern:?}"),
                )
                .detail(if names.is_empty() {
                    "it has no jobs (only trigger jobs?)".to_string()
                } else {
                    format!("its jobs: {}", closest(pattern, &names).join(", "))
                })
                .hint("job names are exact and case-sensitive; a plain NAME also matches its parallel jobs (NAME 1/3); a child pipeline's jobs need --child TRIGGER")
                .into());
            }
            // Oldest first (the list is newest first): `test 1/3` before `test 2/3`.
            let mut matched: Vec<&Value> = jobs
                .iter()
                .filter(|j| name_of(j).is_some_and(|n| wanted.contains(&n)))
                .collect();
            matched.sort_by_key(|j| j.get("id").and_then(Value::as_u64));
            for job in matched {
                let c = Chosen::from_job(project, job);
                if !chosen.iter().any(|(have, _)| have.id == c.id) {
                    chosen.push((c, job));
                }
            }
        }
        let status = |j: &Value| {
            j.get("status")
                .and_then(Value::as_str)
                .unwrap_or("unknown")
                .to_string()
        };
        if let Some((c, job)) = chosen.iter().find(|(_, j)| {
            let s = status(j);
            s != "success" && !UNFINISHED.contains(&s.as_str())
        }) {
            return Err(not_fetchable(c, &status(job)));
        }
        let waiting: Vec<&(Chosen, &Value)> = chosen
            .iter()
            .filter(|(_, j)| UNFINISHED.contains(&status(j).as_str()))
            .collect();
        let Some((first, job)) = waiting.first() else {
            return Ok(chosen.into_iter().map(|(c, _)| c).collect());
        };
        let shown = first.name.clone().unwrap_or_default();
        let first_status = status(job);
        let Some(wait) = wait else {
            return Err(fail(
                Kind::NotFound,
                format!("job {shown:?} of pipeline {pipeline} has not finished (status {first_status})"),
            )
            .hint("add --wait 10m to wait for it (gljob polls within GitLab's rate limits), or fetch it from a later stage")
            .into());
        };
        let elapsed = started.elapsed();
        if elapsed >= wait {
            return Err(fail(
                Kind::NotFound,
                format!("job {shown:?} of pipeline {pipeline} had not finished after {} (status {first_status})", human(wait)),
            )
            .hint("raise --wait, or check why the job takes that long")
            .into());
        }
        let pause = gap.min(wait - elapsed);
        if !quiet {
            crate::term::stderr(&format!(
                "gljob: waiting for job {} of pipeline {pipeline} ({} of {} not finished, {first_status}); next look in {}\n",
                crate::term::escape(&format!("{shown:?}")),
                waiting.len(),
                chosen.len(),
                human(pause)
            ));
        }
        pause_for(pause)?;
        gap = (gap * 2).min(MAX_POLL_GAP);
    }
}

/// Sleeps, noticing signals.
fn pause_for(d: Duration) -> Result<(), Failure> {
    let until = Instant::now() + d;
    while Instant::now() < until {
        signals::check()?;
        std::thread::sleep((until - Instant::now()).min(Duration::from_millis(100)));
    }
    signals::check()
}

/// A finished job that has nothing to fetch: its status, and what to do.
fn not_fetchable(c: &Chosen, status: &str) -> anyhow::Error {
    let name = c.name.clone().unwrap_or_default();
    let id = c.id.unwrap_or(0);
    let hint = match status {
        "failed" => {
            "fix the job and rerun the pipeline; artifacts of a failed job (artifacts:when) are still reachable with --job-id"
        }
        "manual" => {
            "the job is manual and has not been started: start it in the pipeline, then fetch with --wait"
        }
        "skipped" => {
            "the job was skipped (rules, or an earlier stage failed): it has no artifacts in this pipeline"
        }
        "canceled" | "canceling" => {
            "the job was canceled: rerun it, or fetch an older run by --job-id"
        }
        _ => "only successful jobs are fetched by name; --job-id fetches any job's artifacts",
    };
    fail(
        Kind::NotFound,
        format!(
            "job {name:?} ({id}) of pipeline {} is {status}, not successful",
            c.pipeline_id.unwrap_or(0)
        ),
    )
    .hint(hint)
    .into()
}

/// Whether `project` exists for this job's token, by its jobs list (one item), which
/// accepts job tokens on the newest GitLab and has no licence check: `Some(true)` when it
/// answers (or refuses with a 403, which a missing project never gets), `Some(false)` on
/// `404 Project Not Found`, `None` when it cannot tell (an older GitLab: 401).
fn project_listed(api: &Api, project: &str) -> Option<bool> {
    let url = api.url(&format!("/projects/{}/jobs?per_page=1", encode(project)));
    match api.transport.get(&url, &[("Accept", "application/json")]) {
        Ok(_) => Some(true),
        Err(e) => match e.downcast_ref::<HttpError>() {
            Some(h) if h.status == 404 && h.says("404 Project Not Found") => Some(false),
            Some(h) if h.status == 403 => Some(true),
            _ => None,
        },
    }
}

/// What GitLab EE without Premium does, for every hint that names it.
const EE_FREE_HINT: &str = "GitLab EE without the Premium licence (GitLab.com Free included; self-managed EE Free has it while Service Ping is on) answers job tokens 404 Project Not Found on every artifact route, even for the job's own project; no allowlist setting changes that";

/// What to do about GLJOB_TOKEN that GitLab rejects.
const GLJOB_TOKEN_HINT: &str = "GLJOB_TOKEN is revoked, expired or mistyped: create a project or group access token with the read_api scope (Settings → Access tokens) and keep it in a masked CI/CD variable GLJOB_TOKEN";

/// GitLab's 403 "Authentication by CI/CD job token not allowed from X to Y.", on any route.
/// `handle_job_token_failure!` gives it whenever the job token cannot `read_project`: when
/// the target's inbound allowlist keeps this job's project out, and just as well when it
/// lets it in but the job's user is no member of a private target. Both projects are named
/// — this job's from `GET /job` (its full path is what the allowlist takes), else as
/// GitLab's message names it — with the setting to change and the role to give.
fn allowlist_refusal(api: &Api, project: &str, http: &HttpError) -> Failure {
    let from_message = http
        .message
        .as_deref()
        .and_then(|m| m.split_once(" not allowed from ")?.1.split_once(" to "))
        .map(|(source, _)| source.to_string());
    let (this, path) = match (api.own_job(), from_message) {
        (Some(own), _) => (
            own.describe(),
            own.project_path
                .clone()
                .unwrap_or_else(|| format!("project {}", own.project_id)),
        ),
        (None, Some(source)) => (source.clone(), format!("the full path of {source}")),
        (None, None) => ("this job's project".into(), "its full path".into()),
    };
    fail(Kind::Forbidden, format!("project {project} does not let this job's token in (403)"))
        .detail(http.tried())
        .hint(format!("either the job-token allowlist of {project} does not include this job's project {this}: in {project}, Settings → CI/CD → Job token permissions → Add group or project → {path}"))
        .hint(format!("or the user who triggered this job is no member of {project}: GitLab answers that with the same 403, as the allowlist grants no rights of its own; add the user with at least the Reporter role (Guest where its pipelines are public)"))
}

/// What a refused list route means: older GitLab versions ignore job tokens there, and
/// fine-grained job-token permissions may lack `read_jobs`.
fn explain_list(api: &Api, err: anyhow::Error, project: &str, what: &str) -> anyhow::Error {
    let http = match err.downcast::<HttpError>() {
        Ok(http) => http,
        Err(other) => return other,
    };
    let fallback = "without the list: fetch by --job-id ID, or by --ref REF --job NAME with one exact name (GitLab's by-ref route needs no list)";
    let failure = match (http.status, http.message.as_deref()) {
        (403, Some(m)) if m.contains("read_jobs") => fail(Kind::Forbidden, format!("project {project}'s job-token permissions do not include read_jobs (403)"))
            .detail(http.tried())
            .hint(format!("in {project}: Settings → CI/CD → Job token permissions, grant this project the read_jobs permission"))
            .hint(fallback),
        (403, Some(m)) if m.contains("not allowed from") => allowlist_refusal(api, project, &http),
        (401, _) => fail(Kind::Auth, format!("GitLab did not accept CI_JOB_TOKEN for {what} (401)"))
            .detail(http.tried())
            .hint("GitLab versions before the jobs lists accepted job tokens answer this way; so does a token whose job has finished")
            .hint(fallback)
            .hint(TOKEN_HINT),
        (404, Some("404 Project Not Found")) => fail(Kind::NotFound, format!("GitLab does not show project {project}'s jobs to this job token (404 Project Not Found)"))
            .detail(http.tried())
            .hint("check --project (or CI_PROJECT_ID): a numeric id or the full path group/sub/project")
            .hint(format!("older GitLab versions ignore job tokens on {what}, and a private project not allowlisted answers the same: add this project to the job-token allowlist of {project}"))
            .hint(fallback),
        _ => http.into_failure(),
    };
    failure.into()
}

/// [`explain_list`], and an unknown pipeline.
fn explain_pipeline(
    api: &Api,
    err: anyhow::Error,
    project: &str,
    pipeline: u64,
    what: &str,
) -> anyhow::Error {
    match err.downcast_ref::<HttpError>() {
        Some(http) if http.status == 404 && http.says("404 Not found") => fail(
            Kind::NotFound,
            format!("project {project} has no pipeline {pipeline}"),
        )
        .detail(http.tried())
        .hint("check --pipeline: pass the upstream's $CI_PIPELINE_ID in the trigger's variables, and --project if the pipeline is in another project")
        .into(),
        Some(http) if what.contains("trigger") && matches!(http.status, 401 | 404) => fail(
            Kind::NotFound,
            format!("this GitLab does not let job tokens read the trigger jobs of pipeline {pipeline} ({})", http.status),
        )
        .detail(http.tried())
        .hint("older GitLab versions refuse job tokens on GET …/pipelines/:id/bridges: have the parent pass the child's pipeline id, or fetch the child's job by --job-id")
        .into(),
        _ => explain_list(api, err, project, what),
    }
}

/// The names in `names` that `pattern` selects: a glob over the whole name; else the exact
/// name, or — when no job has exactly that name — its parallel and matrix jobs.
fn matching<'a>(pattern: &str, names: &[&'a str]) -> Vec<&'a str> {
    if is_glob(pattern) {
        return names
            .iter()
            .copied()
            .filter(|n| crate::glob::wildcard(pattern, n))
            .collect();
    }
    if names.contains(&pattern) {
        return vec![names[names.iter().position(|n| *n == pattern).unwrap_or(0)]];
    }
    names
        .iter()
        .copied()
        .filter(|n| is_instance_of(pattern, n))
        .collect()
}

/// `build 2/3` (parallel) or `build: [linux, amd64]` (parallel:matrix) of `build`.
fn is_instance_of(base: &str, name: &str) -> bool {
    let Some(rest) = name.strip_prefix(base) else {
        return false;
    };
    if let Some(matrix) = rest.strip_prefix(": [") {
        return matrix.ends_with(']');
    }
    let Some((i, n)) = rest.strip_prefix(' ').and_then(|r| r.split_once('/')) else {
        return false;
    };
    let number = |t: &str| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit());
    number(i) && number(n)
}

fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

fn name_of(job: &Value) -> Option<&str> {
    job.get("name")?.as_str()
}

/// Whether a job (as listed) has an artifacts archive; lists that do not say are trusted.
fn has_archive(job: &Value) -> bool {
    match job.get("artifacts").and_then(Value::as_array) {
        Some(items) => items
            .iter()
            .any(|a| a.get("file_type").and_then(Value::as_str) == Some("archive")),
        None => true,
    }
}

fn push_unique(list: &mut Vec<Chosen>, c: Chosen) {
    if !list.iter().any(|have| have.id == c.id) {
        list.push(c);
    }
}

fn distinct<'a>(items: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.iter().any(|o| o == item) {
            out.push(item.to_string());
        }
    }
    out
}

/// Up to five of `names`, closest to `wanted` first (edit distance), for error messages.
fn closest(wanted: &str, names: &[String]) -> Vec<String> {
    let mut scored: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(wanted, n), n))
        .collect();
    scored.sort();
    let mut out: Vec<String> = scored
        .into_iter()
        .take(5)
        .map(|(_, n)| format!("{n:?}"))
        .collect();
    if names.len() > 5 {
        out.push(format!("… ({} in all)", names.len()));
    }
    out
}

/// Levenshtein distance over characters, on the first 100 of each (names are short;
/// bounded work whatever a server sends).
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().take(100).collect();
    let b: Vec<char> = b.chars().take(100).collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let here = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != cb)).min(row[j] + 1).min(here + 1);
            prev = here;
        }
    }
    row[b.len()]
}

/// `--project` as given: an id or a path, or — pasted from the browser — the project's web
/// URL on this GitLab (the host of `CI_API_V4_URL`), such as
/// `https://gitlab.example.com/group/app`, also with `.git` or a page below `/-/`. GitLab
/// would answer a URL with a bare 404; the path in it is what the user means. A URL of
/// another GitLab is a usage error: the job token is good only on its own.
fn project_arg(value: &str, api_url: Option<&str>) -> Result<String, Failure> {
    let Some(rest) = value
        .strip_prefix("https://")
        .or_else(|| value.strip_prefix("http://"))
    else {
        return Ok(value.trim_matches('/').to_string());
    };
    let shown = crate::url::redact(value);
    let host_and_path = |rest: &'_ str| -> (String, String) {
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let host = authority.rsplit('@').next().unwrap_or(authority);
        let host = host.split(':').next().unwrap_or(host).to_ascii_lowercase();
        let path = path.split(['?', '#']).next().unwrap_or("");
        (host, path.to_string())
    };
    let (host, path) = host_and_path(rest);
    let api = api_url
        .and_then(|u| {
            u.strip_prefix("https://")
                .or_else(|| u.strip_prefix("http://"))
        })
        .map(host_and_path);
    let Some((api_host, api_path)) = api else {
        return Err(usage(&format!(
            "--project {shown:?} is a URL, and CI_API_V4_URL is not set to tell which GitLab this is"
        )));
    };
    if host != api_host {
        return Err(usage(&format!(
            "--project {shown:?} is a URL on {host}, but this job's GitLab (CI_API_V4_URL) is {api_host}: the job token works only there"
        ))
        .hint("pass the project's path (group/project) or its numeric id"));
    }
    // Under a relative URL root (https://host/gitlab/api/v4), web URLs start with /gitlab/.
    let root = api_path.strip_suffix("api/v4").unwrap_or("");
    let path = format!("/{}", path.strip_prefix(root).unwrap_or(&path));
    let path = path.split("/-/").next().unwrap_or("").trim_matches('/');
    let path = path.strip_suffix(".git").unwrap_or(path);
    if path.is_empty() {
        return Err(usage(&format!(
            "--project {shown:?} is a URL without a project path: use https://HOST/group/project, or the path or id"
        )));
    }
    Ok(path.to_string())
}

/// `--pipeline`: a number, or `current` (`CI_PIPELINE_ID`).
fn pipeline_id(value: &str, config: &Config) -> Result<u64, Failure> {
    if value == "current" {
        let id = config.pipeline_id.as_deref().ok_or_else(|| {
            fail(
                Kind::Config,
                "--pipeline current: CI_PIPELINE_ID is not set",
            )
            .hint("inside a CI job GitLab sets CI_PIPELINE_ID; elsewhere pass the pipeline's id")
        })?;
        return id.parse().map_err(|_| {
            fail(
                Kind::Config,
                format!("CI_PIPELINE_ID is {id:?}, not a pipeline id"),
            )
        });
    }
    value.parse().map_err(|_| {
        usage(&format!(
            "--pipeline {value:?}: use a pipeline id (a number) or current"
        ))
    })
}

/// `30s`, `10m`, `1h`, `90` (seconds).
pub fn parse_duration(text: &str) -> Result<Duration, Failure> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().last() {
        Some((i, 's')) => (&t[..i], 1),
        Some((i, 'm')) => (&t[..i], 60),
        Some((i, 'h')) => (&t[..i], 3600),
        _ => (t, 1),
    };
    digits
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(unit))
        .filter(|s| *s <= 24 * 3600)
        .map(Duration::from_secs)
        .ok_or_else(|| {
            usage(&format!(
                "--wait {text:?}: use a duration like 30s, 10m or 1h (at most 24h)"
            ))
        })
}

fn human(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 60.0 {
        format!("{s:.0} s")
    } else {
        format!("{:.0} min", s / 60.0)
    }
}

/// Percent-encodes everything but RFC 3986's unreserved characters: slashes in project paths
/// and refs, spaces, `#`, `?`, `%`, `+` and non-ASCII in job names.
pub fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoding_keeps_only_unreserved_characters() {
        assert_eq!(encode("group/sub/my.project"), "group%2Fsub%2Fmy.project");
        assert_eq!(encode("test 1/3"), "test%201%2F3");
        assert_eq!(encode("we#ird?%+ ü"), "we%23ird%3F%25%2B%20%C3%BC");
        assert_eq!(encode("v1.2.3"), "v1.2.3");
    }

    fn chosen(by_ref: Option<ByRef>, id: Option<u64>) -> Chosen {
        Chosen {
            project: "a/b.c".into(),
            id,
            name: None,
            pipeline_id: None,
            git_ref: None,
            sha: None,
            status: None,
            by_ref,
        }
    }

    #[test]
    fn routes_for_each_selection() {
        let by_ref = chosen(
            Some(ByRef {
                git_ref: "feature/x".into(),
                job: "test 1/3".into(),
                recent: false,
            }),
            None,
        );
        assert_eq!(
            by_ref.archive_path(),
            "/projects/a%2Fb.c/jobs/artifacts/feature%2Fx/download?job=test%201%2F3"
        );
        assert_eq!(
            by_ref.file_path("dist/a b.txt"),
            "/projects/a%2Fb.c/jobs/artifacts/feature%2Fx/raw/dist/a%20b.txt?job=test%201%2F3"
        );
        let recent = chosen(
            Some(ByRef {
                git_ref: "main".into(),
                job: "build".into(),
                recent: true,
            }),
            None,
        );
        assert!(
            recent
                .archive_path()
                .ends_with("?job=build&search_recent_successful_pipelines=true")
        );
        let by_id = Chosen {
            project: "7".into(),
            ..chosen(None, Some(42))
        };
        assert_eq!(by_id.archive_path(), "/projects/7/jobs/42/artifacts");
        assert_eq!(by_id.file_path("/x/y"), "/projects/7/jobs/42/artifacts/x/y");
    }

    #[test]
    fn plain_names_match_exactly_or_their_parallel_and_matrix_jobs() {
        let names = [
            "build 1/3",
            "build 2/3",
            "build: [linux, amd64]",
            "builder",
            "test",
            "test 1/2",
        ];
        assert_eq!(
            matching("build", &names),
            ["build 1/3", "build 2/3", "build: [linux, amd64]"]
        );
        assert_eq!(matching("test", &names), ["test"], "an exact name wins");
        assert_eq!(matching("test *", &names), ["test 1/2"]);
        assert_eq!(matching("build*", &names).len(), 4);
        assert!(matching("deploy", &names).is_empty());
        assert!(!is_instance_of("build", "build x/3"));
        assert!(!is_instance_of("build", "build 1/"));
    }

    #[test]
    fn a_pasted_web_url_of_this_gitlab_is_its_project_path() {
        let api = Some("https://gitlab.example.com/api/v4");
        for (value, path) in [
            ("group/app", "group/app"),
            ("/group/app/", "group/app"),
            ("42", "42"),
            ("https://gitlab.example.com/group/app", "group/app"),
            (
                "https://GitLab.example.com/group/sub/app.git",
                "group/sub/app",
            ),
            (
                "https://gitlab.example.com/group/app/-/pipelines/7?x=1",
                "group/app",
            ),
            (
                "http://gitlab.example.com:8443/group/app/-/tree/main",
                "group/app",
            ),
        ] {
            assert_eq!(project_arg(value, api).unwrap(), path, "{value}");
        }
        let under_root = Some("https://example.com/gitlab/api/v4");
        assert_eq!(
            project_arg("https://example.com/gitlab/group/app", under_root).unwrap(),
            "group/app"
        );
        for bad in [
            "https://gitlab.other.com/group/app",
            "https://gitlab.example.com/",
            "https://gitlab.example.com/-/profile",
        ] {
            assert_eq!(
                project_arg(bad, api).unwrap_err().kind,
                Kind::Usage,
                "{bad}"
            );
        }
        assert_eq!(
            project_arg("https://gitlab.example.com/a/b", None)
                .unwrap_err()
                .kind,
            Kind::Usage
        );
    }

    #[test]
    fn durations_and_suggestions() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("90").unwrap(), Duration::from_secs(90));
        assert!(parse_duration("25h").is_err() && parse_duration("soon").is_err());
        assert_eq!(edit_distance("biuld", "build"), 2);
        let names = vec![
            "deploy".to_string(),
            "build 1/3".to_string(),
            "bild".to_string(),
        ];
        assert_eq!(closest("build", &names)[0], "\"bild\"");
    }

    #[test]
    fn per_job_directories_are_one_safe_component() {
        let mut c = chosen(None, Some(5));
        c.name = Some("test 1/3".into());
        assert_eq!(c.dir_name(), "test 1_3");
        c.name = Some("..".into());
        assert_eq!(c.dir_name(), "job-5");
        c.name = Some("build: [linux, amd64]".into());
        assert_eq!(c.dir_name(), "build: [linux, amd64]");
    }
}
