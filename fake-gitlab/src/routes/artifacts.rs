//! The four job-artifact endpoints (lib/api/ci/job_artifacts.rb; `shared/gitlab-api.md`
//! §4, §5): the archive or one entry of it, chosen by ref and job name or by job id, with
//! the endpoints' own permission checks, and the archive served locally or by a 302 to
//! object storage.

use std::io::Read as _;

use super::{
    Ctx, Identity, bad_request, bool_param, forbidden, invalid_param, message, not_found, parse_id,
    record_not_found,
};
use crate::Edition;
use crate::content::{self, Content};
use crate::http::{Body, Response, percent_decode};
use crate::world::{Archive, Job, Project};

/// Pipeline sources that do not set their ref's status (`Enums::Ci::Pipeline.dangling_sources`),
/// so never "the newest successful pipeline" of a by-ref lookup without search.
const DANGLING_SOURCES: [&str; 8] = [
    "webide",
    "parent_pipeline",
    "ondemand_dast_scan",
    "ondemand_dast_validation",
    "security_orchestration_policy",
    "container_registry_push",
    "duo_workflow",
    "pipeline_execution_policy_schedule",
];

/// `Ci::Build::MAX_PIPELINES_TO_SEARCH`: how many successful pipelines a by-ref search with
/// `search_recent_successful_pipelines=true` looks at.
const MAX_PIPELINES_TO_SEARCH: usize = 100;

impl<'a> Ctx<'a> {
    /// `find_project!`, the job-token scope, and the artifact endpoints' permission checks.
    fn artifact_project(&self, raw_id: &str) -> Result<&'a Project, Response> {
        let (identity, project, moved) = self.scoped_project(raw_id)?;
        // The artifact routes' `job_token_policies: :read_jobs` (newest job_artifacts.rb).
        self.check_job_token_policy(&identity, project, "read_jobs")?;
        if moved {
            if !matches!(self.req.method.as_str(), "GET" | "HEAD") {
                return Err(message(405, "405 Method Not Allowed"));
            }
            return Err(self.redirect_to_id(raw_id, project.id));
        }
        if !self.can_read_build(&identity, project) {
            return Err(forbidden(None));
        }
        if self.shared.config.edition == Edition::EeFree && matches!(identity, Identity::Job { .. })
        {
            // `check_cross_project_pipelines_feature!`: `job_token_authentication? &&
            // !user_project.licensed_feature_available?(:cross_project_pipelines)`, whatever
            // the project, the job's own included (ee/spec/requests/api/ci/jobs_spec.rb:
            // "when cross-project pipeline are disabled … disallows access").
            return Err(not_found(Some("Project")));
        }
        Ok(project)
    }

    /// The build the by-ref routes serve, or their 404: with
    /// `search_recent_successful_pipelines=true` (unless the server predates it) the search of
    /// [`Ctx::job_by_ref_recent`], whose miss is `404 Job Not Found`; without, the newest
    /// successful pipeline's of [`Ctx::job_by_ref`], whose miss is `404 Not found`.
    fn build_by_ref(&self, raw_project: &str, raw_ref: &str) -> Result<&'a Job, Response> {
        let Some(name) = self.req.query_param("job") else {
            return Err(invalid_param("job is missing"));
        };
        let search = if self.shared.config.no_search_recent {
            false
        } else {
            bool_param(self.req, "search_recent_successful_pipelines")?.unwrap_or(false)
        };
        let project = self.artifact_project(raw_project)?;
        let git_ref = String::from_utf8_lossy(&percent_decode(raw_ref)).into_owned();
        let job = if search {
            self.job_by_ref_recent(project, &git_ref, name)
                .ok_or_else(|| not_found(Some("Job")))?
        } else {
            self.job_by_ref(project, &git_ref, name)
                .ok_or_else(record_not_found)?
        };
        if project.artifacts_access_none {
            return Err(forbidden(None));
        }
        Ok(job)
    }

    /// `Project#latest_successful_build_for_ref`: the newest successful pipeline on `git_ref`
    /// among those that set the ref's status (`ci_pipelines`, so never a child pipeline
    /// itself), then in it and its same-project descendants, parent first
    /// (`build_with_artifacts_in_self_and_project_descendants`), the non-retried build `name`
    /// with an archive, whatever its own status.
    fn job_by_ref(&self, project: &Project, git_ref: &str, name: &str) -> Option<&'a Job> {
        let pipeline = self
            .world
            .pipelines
            .iter()
            .filter(|p| {
                p.project_id == project.id
                    && p.git_ref == git_ref
                    && p.status == "success"
                    && !DANGLING_SOURCES.contains(&p.source.as_str())
            })
            .max_by_key(|p| p.id)?;
        let family = self.self_and_project_descendants(pipeline.id);
        self.world
            .jobs
            .iter()
            .filter(|j| {
                family.contains(&j.pipeline_id)
                    && j.name == name
                    && !j.retried
                    && j.archive.is_some()
            })
            // Parent first; in one pipeline, the newest attempt.
            .min_by_key(|j| (j.pipeline_id, std::cmp::Reverse(j.id)))
    }

    /// A pipeline and, recursively, the pipelines its bridges started in the same project.
    fn self_and_project_descendants(&self, pipeline_id: u64) -> Vec<u64> {
        let project = self.world.pipeline(pipeline_id).map(|p| p.project_id);
        let mut family = vec![pipeline_id];
        let mut i = 0;
        while let Some(&current) = family.get(i) {
            for b in self
                .world
                .bridges
                .iter()
                .filter(|b| b.pipeline_id == current)
            {
                let Some(down) = b.downstream else { continue };
                let same_project = self.world.pipeline(down).map(|p| p.project_id) == project;
                if same_project && !family.contains(&down) {
                    family.push(down);
                }
            }
            i += 1;
        }
        family
    }

    /// `Ci::Build.latest_with_artifacts_for_ref` (app/models/ci/build.rb, 18.7+): among the
    /// last 100 successful pipelines on `git_ref` (any source, so child pipelines count in
    /// their own right), the `success` build `name` with an archive in the newest pipeline.
    /// The query does not look at `retried`, and leaves the order within one pipeline to the
    /// database; the fake takes the newest attempt there.
    fn job_by_ref_recent(&self, project: &Project, git_ref: &str, name: &str) -> Option<&'a Job> {
        let mut recent: Vec<u64> = self
            .world
            .pipelines
            .iter()
            .filter(|p| p.project_id == project.id && p.git_ref == git_ref && p.status == "success")
            .map(|p| p.id)
            .collect();
        recent.sort_unstable_by(|a, b| b.cmp(a));
        recent.truncate(MAX_PIPELINES_TO_SEARCH);
        self.world
            .jobs
            .iter()
            .filter(|j| {
                recent.contains(&j.pipeline_id)
                    && j.name == name
                    && j.status == "success"
                    && j.archive.is_some()
            })
            .max_by_key(|j| (j.pipeline_id, j.id))
    }

    fn job_by_id(&self, project: &Project, job_id: u64) -> Option<&'a Job> {
        self.world
            .jobs
            .iter()
            .find(|j| j.id == job_id && self.world.job_project_id(j.id) == Some(project.id))
    }

    // ---- artifact endpoints (§4, §5) --------------------------------------------------------

    pub(super) fn archive_by_ref(&self, raw_project: &str, raw_ref: &str) -> Response {
        let job = match self.build_by_ref(raw_project, raw_ref) {
            Ok(j) => j,
            Err(r) => return r,
        };
        match &job.archive {
            Some(a) => self.serve_archive(job.id, a),
            None => not_found(None),
        }
    }

    pub(super) fn archive_by_id(&self, raw_project: &str, raw_job_id: &str) -> Response {
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

    pub(super) fn entry_by_ref(
        &self,
        raw_project: &str,
        raw_ref: &str,
        raw_path: &str,
    ) -> Response {
        let job = match self.build_by_ref(raw_project, raw_ref) {
            Ok(j) => j,
            Err(r) => return r,
        };
        let Some(archive) = &job.archive else {
            return not_found(None);
        };
        match entry_path(raw_path) {
            Some(path) => serve_entry(archive, &path, Sniff::Content),
            None => bad_request(),
        }
    }

    pub(super) fn entry_by_id(
        &self,
        raw_project: &str,
        raw_job_id: &str,
        raw_path: &str,
    ) -> Response {
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
        let content = content.with_gitlabs_validators();
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

/// Workhorse's answer when the zip has no such entry.
fn entry_not_found() -> Response {
    Response::typed(404, "text/plain; charset=utf-8", "404 page not found\n")
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
        )
        .header("ETag", content::GITLAB_WEAK_ETAG);
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
