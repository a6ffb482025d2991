//! `GET /job` and `GET /job/allowed_agents` (lib/api/ci/jobs.rb, `resource :job`): the
//! token's own job and the agents it may use (`shared/gitlab-api.md` §2).

use super::{Ctx, Identity, authenticate, not_found, unauthorized};
use crate::TOKEN;
use crate::http::Response;

impl Ctx<'_> {
    // ---- /job (§2) --------------------------------------------------------------------------

    fn job_identity(&self) -> Result<(String, u64), Response> {
        match authenticate(self.world, self.req)? {
            Identity::Anonymous => Err(unauthorized()),
            Identity::User => Err(not_found(Some("Job"))),
            Identity::Job { token, job_id, .. } => Ok((token, job_id)),
        }
    }

    pub(super) fn job(&self) -> Response {
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

    pub(super) fn allowed_agents(&self) -> Response {
        match self.job_identity() {
            Ok(_) => Response::json(200, self.world.agents_body.clone()),
            Err(r) => r,
        }
    }
}
