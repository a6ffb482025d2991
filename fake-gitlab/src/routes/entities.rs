//! The JSON bodies of jobs, bridges and pipelines, as GitLab's Grape entities present them
//! (lib/api/entities/ci/{job_basic,job,bridge,pipeline_basic,pipeline}.rb and
//! entities/{user,commit}.rb), with their fields in GitLab's order.
//!
//! What the world does not model is filled in deterministically, never from the clock: times
//! count from 2025-06-01T00:00:00Z by id (a job's `created_at` is that plus `id` minutes), the
//! user is the one who triggered every demo job (`root`), the commit is made up from the
//! pipeline's sha, every job that has started ran on one instance runner (`runner`,
//! `runner_manager`; null before it starts), and `coverage` is null. So a body is the same on
//! every run, and only what a test changes in the world changes it.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Value, json};

use super::Ctx;
use crate::http::iso8601;
use crate::world::{Archive, Bridge, Job, Pipeline};

/// 2025-06-01T00:00:00Z: where the made-up timeline starts.
const EPOCH: u64 = 1_748_736_000;

/// Statuses of jobs that have not started (no `started_at`).
const NOT_STARTED: [&str; 8] = [
    "created",
    "waiting_for_resource",
    "preparing",
    "waiting_for_callback",
    "pending",
    "manual",
    "scheduled",
    "skipped",
];
/// Statuses of jobs that have started and not finished: their runner is busy with them
/// (`job_execution_status: active`).
const UNFINISHED_STARTED: [&str; 2] = ["running", "canceling"];

/// Statuses of jobs that have finished (a `finished_at`, a whole `duration`).
const FINISHED: [&str; 3] = ["success", "failed", "canceled"];

fn time(secs: u64) -> String {
    iso8601(UNIX_EPOCH + Duration::from_secs(secs))
}

/// The made-up times of a job (or bridge): created at `EPOCH + id` minutes, queued 10 s,
/// running 30 s (15 s so far while it runs).
struct Timeline {
    created_at: String,
    started_at: Option<String>,
    finished_at: Option<String>,
    duration: Option<f64>,
    queued_duration: Option<f64>,
}

fn timeline(id: u64, status: &str) -> Timeline {
    let created = EPOCH + id * 60;
    let started = !NOT_STARTED.contains(&status);
    let finished = FINISHED.contains(&status);
    Timeline {
        created_at: time(created),
        started_at: started.then(|| time(created + 10)),
        finished_at: finished.then(|| time(created + 40)),
        duration: if finished {
            Some(30.0)
        } else if started {
            Some(15.0)
        } else {
            None
        },
        queued_duration: started.then_some(10.0),
    }
}

impl Ctx<'_> {
    /// `https://host/<project path>` on the fake's own base, for `web_url`s.
    fn project_url(&self, project_id: u64) -> String {
        let path = self
            .world
            .project(project_id)
            .map_or("unknown/unknown", |p| p.path_with_namespace.as_str());
        format!("{}/{path}", self.shared.api_base)
    }

    /// `Entities::ProjectIdentity`: how `allowed_agents` names an agent's configuration
    /// project.
    pub(super) fn project_identity(&self, project_id: u64) -> Value {
        let Some(p) = self.world.project(project_id) else {
            return json!({ "id": project_id });
        };
        let namespace = p
            .path_with_namespace
            .rsplit_once('/')
            .map_or("", |(ns, _)| ns);
        json!({
            "id": p.id,
            "description": null,
            "name": p.path(),
            "name_with_namespace": format!("{} / {}", namespace.replace('/', " / "), p.path()),
            "path": p.path(),
            "path_with_namespace": p.path_with_namespace,
            "created_at": time(EPOCH - 90 * 86_400 + p.id * 3_600),
        })
    }

    /// `Entities::User` of the user who triggered the jobs.
    pub(super) fn user(&self) -> Value {
        json!({
            "id": 1,
            "username": "root",
            "public_email": "",
            "name": "Administrator",
            "state": "active",
            "locked": false,
            "avatar_url": "https://www.gravatar.com/avatar/e64c7d89f26bd1972efa854d13d7dd61?s=80&d=identicon",
            "web_url": format!("{}/root", self.shared.api_base),
            "created_at": "2015-12-21T13:14:24.077Z",
            "bio": "",
            "location": "",
            "linkedin": "",
            "twitter": "",
            "discord": "",
            "website_url": "",
            "organization": "",
            "job_title": "",
            "pronouns": null,
            "bot": false,
            "work_information": null,
            "local_time": null,
        })
    }

    /// `Entities::Commit` of a pipeline's sha (a made-up commit with a made-up parent).
    fn commit(&self, p: &Pipeline) -> Value {
        let date = iso8601(UNIX_EPOCH + Duration::from_secs(EPOCH + p.id * 60 - 600))
            .replace('Z', "+00:00");
        let parent = crate::world::pipeline_sha(p.id + 1_000_000);
        let title = format!("Commit built by pipeline {}", p.id);
        json!({
            "id": p.sha,
            "short_id": p.sha.get(..8).unwrap_or(&p.sha),
            "created_at": date,
            "parent_ids": [parent],
            "title": title,
            "message": format!("{title}\n"),
            "author_name": "Administrator",
            "author_email": "admin@example.com",
            "authored_date": date,
            "committer_name": "Administrator",
            "committer_email": "admin@example.com",
            "committed_date": date,
            "trailers": {},
            "extended_trailers": {},
            "web_url": format!("{}/-/commit/{}", self.project_url(p.project_id), p.sha),
        })
    }

    /// `iid`: the pipeline's number within its project (1 for its first pipeline).
    fn iid(&self, p: &Pipeline) -> usize {
        self.world
            .pipelines
            .iter()
            .filter(|q| q.project_id == p.project_id && q.id <= p.id)
            .count()
    }

    /// `Entities::Ci::PipelineBasic`: `id, iid, project_id, sha, ref, status, source,
    /// created_at, updated_at, web_url` (what jobs, bridges and lists of pipelines carry).
    pub(super) fn pipeline_basic(&self, p: &Pipeline) -> Value {
        let created = EPOCH + p.id * 60;
        json!({
            "id": p.id,
            "iid": self.iid(p),
            "project_id": p.project_id,
            "sha": p.sha,
            "ref": p.git_ref,
            "status": p.status,
            "source": p.source,
            "created_at": time(created),
            "updated_at": time(created + 600),
            "web_url": format!("{}/-/pipelines/{}", self.project_url(p.project_id), p.id),
        })
    }

    /// `Entities::Ci::PipelineWithMetadata` (`GET /projects/:id/pipelines/:pipeline_id`):
    /// the basic fields, then the commit, the user, the times and `detailed_status`.
    pub(super) fn pipeline_entity(&self, p: &Pipeline) -> Value {
        let mut body = self.pipeline_basic(p);
        let created = EPOCH + p.id * 60;
        let started = !NOT_STARTED.contains(&p.status.as_str());
        let finished = FINISHED.contains(&p.status.as_str());
        let (text, label) = status_words(&p.status);
        let user = self.user();
        let extra = json!({
            "before_sha": "0000000000000000000000000000000000000000",
            "tag": p.tag,
            "yaml_errors": null,
            "user": {
                "id": user["id"], "username": user["username"], "name": user["name"],
                "state": user["state"], "locked": user["locked"],
                "avatar_url": user["avatar_url"], "web_url": user["web_url"],
            },
            "started_at": started.then(|| time(created + 5)),
            "finished_at": finished.then(|| time(created + 600)),
            "committed_at": null,
            "duration": finished.then_some(595),
            "queued_duration": started.then_some(5),
            "coverage": null,
            "detailed_status": {
                "icon": format!("status_{}", p.status),
                "text": text,
                "label": label,
                "group": p.status,
                "tooltip": label,
                "has_details": true,
                "details_path": format!(
                    "/{}/-/pipelines/{}",
                    self.world.project(p.project_id).map_or("unknown/unknown", |q| q.path_with_namespace.as_str()),
                    p.id
                ),
                "illustration": null,
                "favicon": format!("/assets/ci_favicons/favicon_status_{}.png", p.status),
            },
            "name": null,
        });
        if let (Value::Object(b), Value::Object(e)) = (&mut body, extra) {
            b.extend(e);
        }
        body
    }

    /// `Entities::Ci::JobBasic`, shared by builds and bridges.
    fn job_basic(&self, id: u64, pipeline_id: u64, name: &str, status: &str, stage: &str) -> Value {
        let pipeline = self.world.pipeline(pipeline_id);
        let t = timeline(id, status);
        let mut body = json!({
            "id": id,
            "status": status,
            "stage": stage,
            "name": name,
            "ref": pipeline.map(|p| p.git_ref.as_str()),
            "tag": pipeline.is_some_and(|p| p.tag),
            "coverage": null,
            "allow_failure": false,
            "created_at": t.created_at,
            "started_at": t.started_at,
            "finished_at": t.finished_at,
            "erased_at": null,
            "duration": t.duration,
            "queued_duration": t.queued_duration,
            "user": self.user(),
            "commit": pipeline.map(|p| self.commit(p)),
            "pipeline": pipeline.map(|p| self.pipeline_basic(p)),
        });
        let Value::Object(map) = &mut body else {
            return body;
        };
        if status == "failed" {
            map.insert("failure_reason".into(), json!("script_failure"));
        }
        let project_url = self.project_url(pipeline.map_or(0, |p| p.project_id));
        map.insert(
            "web_url".into(),
            json!(format!("{project_url}/-/jobs/{id}")),
        );
        map.insert(
            "project".into(),
            json!({ "ci_job_token_scope_enabled": false }),
        );
        body
    }

    /// `Entities::Ci::Job`: the basic fields, then the artifacts. `artifacts` lists the
    /// archive (with Workhorse's `metadata.gz`) when the job has one, and the log once the
    /// job has finished; `artifacts_file` only for an archive that has not expired (GitLab's
    /// `artifacts?`), and an expired one has a past `artifacts_expire_at` (others never
    /// expire: null).
    pub(super) fn job_entity(&self, job: &Job) -> Value {
        let mut body = self.job_basic(job.id, job.pipeline_id, &job.name, &job.status, &job.stage);
        let size = job.archive.as_ref().map(archive_size);
        let mut artifacts = Vec::new();
        if let Some(size) = size {
            artifacts.push(json!({
                "file_type": "archive", "size": size,
                "filename": "artifacts.zip", "file_format": "zip",
            }));
            artifacts.push(json!({
                "file_type": "metadata", "size": 186,
                "filename": "metadata.gz", "file_format": "gzip",
            }));
        }
        if FINISHED.contains(&job.status.as_str()) {
            artifacts.push(json!({
                "file_type": "trace", "size": 1500,
                "filename": "job.log", "file_format": "raw",
            }));
        }
        if let Value::Object(map) = &mut body {
            if let Some(size) = size.filter(|_| !job.expired) {
                map.insert(
                    "artifacts_file".into(),
                    json!({ "filename": "artifacts.zip", "size": size }),
                );
            }
            map.insert("artifacts".into(), Value::Array(artifacts));
            let started = !NOT_STARTED.contains(&job.status.as_str());
            let active = UNFINISHED_STARTED.contains(&job.status.as_str());
            let (runner, manager) = if started {
                (runner(active), runner_manager(active))
            } else {
                (Value::Null, Value::Null)
            };
            map.insert("runner".into(), runner);
            map.insert("runner_manager".into(), manager);
            let expire_at = job.expired.then(|| time(EPOCH - 86_400));
            map.insert("artifacts_expire_at".into(), json!(expire_at));
            map.insert("archived".into(), json!(false));
            let mut tags = job.tags.clone();
            tags.sort();
            map.insert("tag_list".into(), json!(tags));
        }
        body
    }

    /// `Entities::Ci::Bridge`: the basic fields and `downstream_pipeline` (null until the
    /// bridge has started it; a pipeline that no longer exists is null too).
    pub(super) fn bridge_entity(&self, b: &Bridge) -> Value {
        let mut body = self.job_basic(b.id, b.pipeline_id, &b.name, &b.status, &b.stage);
        let downstream = b
            .downstream
            .and_then(|id| self.world.pipeline(id))
            .map(|p| self.pipeline_basic(p));
        if let Value::Object(map) = &mut body {
            map.insert("downstream_pipeline".into(), json!(downstream));
        }
        body
    }
}

/// `Entities::Ci::Runner` of the one instance runner every fake job runs on (no
/// `created_by`: only shown to those who may read its creator). `job_execution_status` is
/// `active` while the job is running.
fn runner(active: bool) -> Value {
    json!({
        "id": 12,
        "description": "fake-gitlab shared runner",
        "ip_address": null,
        "active": true,
        "paused": false,
        "is_shared": true,
        "runner_type": "instance_type",
        "name": "gitlab-runner",
        "online": true,
        "created_at": time(EPOCH - 30 * 86_400),
        "status": "online",
        "job_execution_status": if active { "active" } else { "idle" },
    })
}

/// `Entities::Ci::RunnerManager` of that runner's one manager (gitlab-runner 19.4).
fn runner_manager(active: bool) -> Value {
    json!({
        "id": 3,
        "system_id": "s_0f4ce1ab5e11",
        "version": "19.4.0",
        "revision": "d79f3e7a",
        "platform": "linux",
        "architecture": "amd64",
        "created_at": time(EPOCH - 30 * 86_400),
        "contacted_at": time(EPOCH),
        "ip_address": "127.0.0.1",
        "status": "online",
        "job_execution_status": if active { "active" } else { "idle" },
    })
}

/// An archive's size in bytes (0 for an on-disk archive that is gone: GitLab's record of it
/// outlives the file).
fn archive_size(a: &Archive) -> u64 {
    match a {
        Archive::Bytes(b) => b.len() as u64,
        Archive::File(p) => std::fs::metadata(p).map_or(0, |m| m.len()),
    }
}

/// `detailed_status`'s `text` and `label` for a status.
fn status_words(status: &str) -> (&'static str, &'static str) {
    match status {
        "success" => ("Passed", "passed"),
        "failed" => ("Failed", "failed"),
        "running" => ("Running", "running"),
        "pending" => ("Pending", "pending"),
        "canceled" => ("Canceled", "canceled"),
        "canceling" => ("Canceling", "canceling"),
        "skipped" => ("Skipped", "skipped"),
        "manual" => ("Manual", "manual action"),
        "scheduled" => ("Scheduled", "scheduled"),
        "created" => ("Created", "created"),
        _ => ("Unknown", "unknown"),
    }
}
