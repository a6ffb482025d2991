//! Jobs: `GET /job` and `GET /job/allowed_agents` (lib/api/ci/jobs.rb, `resource :job`), the
//! token's own job and the agents it may use (`shared/gitlab-api.md` §2); and the jobs lists,
//! a project's (`GET /projects/:id/jobs`) and a pipeline's (`GET
//! /projects/:id/pipelines/:pipeline_id/jobs`), which gljob uses to find jobs by name, by
//! pipeline and by status (§7a).

use std::cmp::Reverse;

use super::pagination::{Params, page_params};
use super::{
    Ctx, Identity, ListRoute, authenticate, bool_param, invalid_param, not_found, parse_id,
    scope_param, unauthorized,
};
use crate::TOKEN;
use crate::http::{Response, percent_decode};
use crate::world::{Job, Role};

impl Ctx<'_> {
    // ---- /job (§2) --------------------------------------------------------------------------

    fn job_identity(&self) -> Result<(String, u64), Response> {
        match authenticate(self.world, self.req)? {
            Identity::Anonymous => Err(unauthorized()),
            // `validate_current_authenticated_job`: a user, but no job.
            Identity::User { .. } => Err(not_found(Some("Job"))),
            Identity::Job { token, job_id, .. } => Ok((token, job_id)),
        }
    }

    /// `present current_authenticated_job, with: Entities::Ci::Job`: the token's job as the
    /// lists show jobs (runner and all), unless a test put another body in
    /// [`crate::World::job_body`].
    pub(super) fn job(&self) -> Response {
        let (token, job_id) = match self.job_identity() {
            Ok(t) => t,
            Err(r) => return r,
        };
        if token == TOKEN
            && let Some(body) = &self.world.job_body
        {
            return Response::json(200, body.clone());
        }
        match self.world.job(job_id) {
            Some(job) => Response::json(200, self.job_entity(job).to_string()),
            None => unauthorized(),
        }
    }

    /// `GET /job/allowed_agents` as lib/api/ci/jobs.rb builds it: the agents whose `ci_access`
    /// reaches the job's project, the job, pipeline and project ids, the project's groups,
    /// the user's roles in the project (their role and every one below it), and no
    /// `environment` (the fake's jobs deploy nowhere). [`crate::World::agents_body`]
    /// replaces it for [`TOKEN`].
    pub(super) fn allowed_agents(&self) -> Response {
        let (token, job_id) = match self.job_identity() {
            Ok(t) => t,
            Err(r) => return r,
        };
        if token == TOKEN
            && let Some(body) = &self.world.agents_body
        {
            return Response::json(200, body.clone());
        }
        let Some(job) = self.world.job(job_id) else {
            return unauthorized();
        };
        let Some(pipeline) = self.world.pipeline(job.pipeline_id) else {
            return unauthorized();
        };
        let project = self.world.project(pipeline.project_id);
        let agents: Vec<serde_json::Value> = self
            .world
            .agents
            .iter()
            .filter(|a| {
                a.config_project == pipeline.project_id
                    || a.authorized_projects.contains(&pipeline.project_id)
            })
            .map(|a| {
                serde_json::json!({
                    "id": a.id,
                    "config_project": self.project_identity(a.config_project),
                    "configuration": a.configuration,
                })
            })
            .collect();
        let groups: Vec<serde_json::Value> = self
            .world
            .group_ids(pipeline.project_id)
            .into_iter()
            .map(|id| serde_json::json!({ "id": id }))
            .collect();
        let roles = project
            .and_then(|p| p.user_role)
            .map_or_else(Vec::new, Role::and_below);
        let user = self.user();
        let body = serde_json::json!({
            "allowed_agents": agents,
            "job": { "id": job.id },
            "pipeline": { "id": pipeline.id },
            "project": { "id": pipeline.project_id, "groups": groups },
            "user": { "id": user["id"], "username": user["username"], "roles_in_project": roles },
        });
        Response::json(200, body.to_string())
    }
}

// ---- the jobs lists (lib/api/ci/jobs.rb, lib/api/ci/pipelines.rb; gitlab-api.md §7a) ---------

impl Ctx<'_> {
    /// `GET /projects/:id/jobs`: the project's builds (every pipeline's, retried attempts
    /// too; never bridges), newest first, `scope` filtering by status, paginated without
    /// totals. Order of checks as GitLab's: `authenticate!` (401, even for a public project),
    /// parameters (400), the project (404, 403), the `read_jobs` policy (403), `read_build`
    /// (403).
    pub(super) fn project_jobs(&self, raw_project: &str) -> Response {
        self.try_project_jobs(raw_project).unwrap_or_else(|r| r)
    }

    fn try_project_jobs(&self, raw_project: &str) -> Result<Response, Response> {
        let route = ListRoute::ProjectJobs;
        let identity = self.list_identity(route)?;
        let scope = scope_param(self.req)?;
        let page = page_params(self.req)?;
        let project = self.list_project(raw_project, &identity, route)?;
        self.authorize_read_build(&identity, project)?;

        let mut jobs: Vec<&Job> = self
            .world
            .jobs
            .iter()
            .filter(|j| self.world.job_project_id(j.id) == Some(project.id))
            .filter(|j| in_scope(&scope, &j.status))
            .collect();
        jobs.sort_by_key(|j| Reverse(j.id));
        let mut params = Params::from_query(self.req);
        params.set("id", decoded(raw_project));
        if let Some(scope) = &scope {
            params.set_many("scope", scope);
        }
        Ok(self.list_response(jobs, page, false, &params, |j| self.job_entity(j)))
    }

    /// `GET /projects/:id/pipelines/:pipeline_id/jobs`: that pipeline's builds only (not its
    /// bridges, not its child pipelines'), newest first, only the newest attempt of each job
    /// unless `include_retried=true`, `scope` filtering, paginated with totals. Parameters are
    /// checked first (400), then the project, the `read_jobs` policy, `read_pipeline` (403),
    /// and the pipeline, which must be the project's (else 404 `404 Not found`).
    pub(super) fn pipeline_jobs(&self, raw_project: &str, raw_pipeline: &str) -> Response {
        self.try_pipeline_jobs(raw_project, raw_pipeline)
            .unwrap_or_else(|r| r)
    }

    fn try_pipeline_jobs(
        &self,
        raw_project: &str,
        raw_pipeline: &str,
    ) -> Result<Response, Response> {
        let route = ListRoute::PipelineJobs;
        let pipeline_id =
            parse_id(raw_pipeline).ok_or_else(|| invalid_param("pipeline_id is invalid"))?;
        let include_retried = bool_param(self.req, "include_retried")?.unwrap_or(false);
        let scope = scope_param(self.req)?;
        let page = page_params(self.req)?;
        let identity = self.list_identity(route)?;
        let project = self.list_project(raw_project, &identity, route)?;
        self.authorize_read_build(&identity, project)?;
        let pipeline = self.project_pipeline(project, pipeline_id)?;

        let mut jobs: Vec<&Job> = self
            .world
            .jobs
            .iter()
            .filter(|j| j.pipeline_id == pipeline.id && (include_retried || !j.retried))
            .filter(|j| in_scope(&scope, &j.status))
            .collect();
        jobs.sort_by_key(|j| Reverse(j.id));
        let mut params = Params::from_query(self.req);
        params.set("id", decoded(raw_project));
        params.set("pipeline_id", pipeline_id.to_string());
        params.set("include_retried", include_retried.to_string());
        if let Some(scope) = &scope {
            params.set_many("scope", scope);
        }
        Ok(self.list_response(jobs, page, true, &params, |j| self.job_entity(j)))
    }
}

/// Whether a status passes the `scope` filter (none: everything passes).
pub(super) fn in_scope(scope: &Option<Vec<String>>, status: &str) -> bool {
    scope.as_ref().is_none_or(|s| s.iter().any(|x| x == status))
}

/// A path parameter decoded, as Grape hands it to the route (and writes it back in `Link`).
pub(super) fn decoded(raw: &str) -> String {
    String::from_utf8_lossy(&percent_decode(raw)).into_owned()
}
