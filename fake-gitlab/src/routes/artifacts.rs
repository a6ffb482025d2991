//! The four job-artifact endpoints (lib/api/ci/job_artifacts.rb; `shared/gitlab-api.md`
//! §4, §5): the archive or one entry of it, chosen by ref and job name or by job id, with
//! the endpoints' own permission checks, and the archive served locally or by a 302 to
//! object storage.

use std::io::Read as _;

use super::{
    Ctx, Identity, bad_request, forbidden, invalid_param, message, not_found, parse_id,
    record_not_found,
};
use crate::content::{self, Content};
use crate::http::{Body, Response, percent_decode};
use crate::world::{Archive, Job, Project, Role};

impl<'a> Ctx<'a> {
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

    pub(super) fn archive_by_ref(&self, raw_project: &str, raw_ref: &str) -> Response {
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
