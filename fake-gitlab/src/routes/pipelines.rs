//! Pipelines (lib/api/ci/pipelines.rb): one pipeline (`GET /projects/:id/pipelines/:pipeline_id`)
//! and its bridges, the trigger jobs with the downstream pipelines they started (`GET
//! /projects/:id/pipelines/:pipeline_id/bridges`), which is how gljob follows a parent to a
//! child pipeline or to a multi-project downstream (`shared/gitlab-api.md` §7a). A pipeline's
//! jobs list is in [`super::jobs`].

use std::cmp::Reverse;

use super::jobs::{decoded, in_scope};
use super::pagination::{Params, page_params};
use super::{Ctx, ListRoute, invalid_param, parse_id, scope_param};
use crate::http::Response;
use crate::world::Bridge;

impl Ctx<'_> {
    /// `GET /projects/:id/pipelines/:pipeline_id`: `Entities::Ci::PipelineWithMetadata`. The
    /// pipeline is looked up before `read_pipeline` is checked on it (404 `404 Not found`,
    /// then 403); job tokens need the `read_pipelines` policy.
    pub(super) fn pipeline(&self, raw_project: &str, raw_pipeline: &str) -> Response {
        self.try_pipeline(raw_project, raw_pipeline)
            .unwrap_or_else(|r| r)
    }

    fn try_pipeline(&self, raw_project: &str, raw_pipeline: &str) -> Result<Response, Response> {
        let route = ListRoute::Pipeline;
        let pipeline_id =
            parse_id(raw_pipeline).ok_or_else(|| invalid_param("pipeline_id is invalid"))?;
        let identity = self.list_identity(route)?;
        let project = self.list_project(raw_project, &identity, route)?;
        let pipeline = self.project_pipeline(project, pipeline_id)?;
        self.authorize_read_build(&identity, project)?;
        Ok(Response::json(
            200,
            self.pipeline_entity(pipeline).to_string(),
        ))
    }

    /// `GET /projects/:id/pipelines/:pipeline_id/bridges`: `Entities::Ci::Bridge` items (a
    /// job's fields and `downstream_pipeline`, in whatever project it runs, or null), newest
    /// first, `scope` filtering, paginated with totals. Checks: parameters (400), the
    /// project, the `read_pipelines` policy, `read_build` (403), then the pipeline (404).
    pub(super) fn pipeline_bridges(&self, raw_project: &str, raw_pipeline: &str) -> Response {
        self.try_pipeline_bridges(raw_project, raw_pipeline)
            .unwrap_or_else(|r| r)
    }

    fn try_pipeline_bridges(
        &self,
        raw_project: &str,
        raw_pipeline: &str,
    ) -> Result<Response, Response> {
        let route = ListRoute::Bridges;
        let pipeline_id =
            parse_id(raw_pipeline).ok_or_else(|| invalid_param("pipeline_id is invalid"))?;
        let scope = scope_param(self.req)?;
        let page = page_params(self.req)?;
        let identity = self.list_identity(route)?;
        let project = self.list_project(raw_project, &identity, route)?;
        self.authorize_read_build(&identity, project)?;
        let pipeline = self.project_pipeline(project, pipeline_id)?;

        let mut bridges: Vec<&Bridge> = self
            .world
            .bridges
            .iter()
            .filter(|b| b.pipeline_id == pipeline.id && in_scope(&scope, &b.status))
            .collect();
        bridges.sort_by_key(|b| Reverse(b.id));
        let mut params = Params::from_query(self.req);
        params.set("id", decoded(raw_project));
        params.set("pipeline_id", pipeline_id.to_string());
        if let Some(scope) = &scope {
            params.set_many("scope", scope);
        }
        Ok(self.list_response(bridges, page, true, &params, |b| self.bridge_entity(b)))
    }
}
