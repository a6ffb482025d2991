//! The second origin: object storage (S3-like) that archive downloads are redirected to when
//! `Config::object_storage` is on.
//!
//! It exists to test what a client does across the redirect: that it copes with a presigned
//! URL that expired while it was resuming (403 `AccessDenied`), and that ranges and a strong
//! ETag work on this host. It answers credentials as S3 does: a `JOB-TOKEN` (or
//! `PRIVATE-TOKEN`) header is just an unknown header beside the presigned query and is
//! ignored, while an `Authorization` header is a second auth mechanism: 400
//! `InvalidArgument`. Whether a client sent a credential anyway is the request log's to
//! tell ([`crate::Server::requests`] keeps every header), not this origin's refusal. Errors
//! are S3's XML; nothing here knows about GitLab.
//!
//! URLs: `/artifacts/<job_id>/artifacts.zip?X-Amz-Expires=300&X-Amz-Signature=<hex>`, as minted
//! by the API origin's 302.

use crate::content::{self, Content};
use crate::http::{Request, Response};
use crate::serve::{Shared, lock};

fn xml_error(status: u16, code: &str, message: &str) -> Response {
    Response::typed(
        status,
        "application/xml",
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>FAKEGITLAB0000001</RequestId></Error>"
        ),
    )
}

/// Answers one request on the storage origin.
pub(crate) fn handle(shared: &Shared, req: &Request) -> Response {
    respond(shared, req)
        .header("Server", "AmazonS3")
        .header("x-amz-request-id", "FAKEGITLAB0000001")
}

fn respond(shared: &Shared, req: &Request) -> Response {
    if req.header("authorization").is_some() {
        return xml_error(400, "InvalidArgument", "Only one auth mechanism allowed");
    }
    if !matches!(req.method.as_str(), "GET" | "HEAD") {
        return xml_error(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
        );
    }
    let no_such_key = || xml_error(404, "NoSuchKey", "The specified key does not exist.");
    let Some(job_id) = req
        .path
        .strip_prefix("/artifacts/")
        .and_then(|r| r.strip_suffix("/artifacts.zip"))
        .and_then(|id| id.parse::<u64>().ok())
    else {
        return no_such_key();
    };

    let signature = req.query_param("X-Amz-Signature").unwrap_or("");
    match lock(&shared.signatures).get(signature) {
        Some(s) if s.job_id == job_id && !s.expired => {}
        Some(s) if s.job_id == job_id => {
            return xml_error(403, "AccessDenied", "Request has expired");
        }
        _ => return xml_error(403, "AccessDenied", "Access Denied"),
    }

    let archive = {
        let world = lock(&shared.world);
        world.job(job_id).and_then(|j| j.archive.clone())
    };
    let Some(archive) = archive else {
        return no_such_key();
    };
    let Ok(content) = Content::of(&archive, shared.started) else {
        return no_such_key();
    };
    content::serve(
        req,
        &content,
        &[("Content-Type", "application/octet-stream".to_string())],
    )
}
