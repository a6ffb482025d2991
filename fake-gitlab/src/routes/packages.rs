//! The generic package registry (lib/api/generic_packages.rb): `GET`/`HEAD`/`PUT
//! /projects/:id/packages/generic/:name/:version/:file`, where gljob's releases live and
//! install.sh downloads them from. Its refusals are not the artifact routes': the registry
//! finds projects itself, so a job token outside the allowlist is a plain `404 Not Found`,
//! and an anonymous request a 401 that asks for Basic credentials.

use super::{
    Ctx, Identity, authenticate, forbidden, invalid_param, not_found, record_not_found,
    unauthorized,
};
use crate::content::{self, Content};
use crate::http::{Response, percent_decode};
use crate::world::{Archive, PackageFile, Project, Role};

impl<'a> Ctx<'a> {
    /// `authorized_user_project` of lib/api/helpers/packages/basic_auth_helpers.rb and the
    /// route's permission: not `find_project!`, so there is no 301 for a former path (the
    /// project is simply found) and no allowlist 403. A project that is missing or that the
    /// caller cannot read is `404 {"message":"404 Not Found"}` — a job token outside the
    /// allowlist of a private project included — or, for an anonymous request, 401 with
    /// `WWW-Authenticate: Basic realm="GitLab Packages Registry"`. Reading (`read_package`)
    /// needs a public project or Reporter; writing (`create_package`) Developer; one who can
    /// read the project but not that gets `403 Forbidden`.
    fn package_project(&self, raw_id: &str, write: bool) -> Result<&'a Project, Response> {
        let identity = authenticate(self.world, self.req)?;
        let refuse = |authenticated: Response| match identity {
            Identity::Anonymous => Err(packages_unauthorized()),
            _ => Err(authenticated),
        };
        let Some((project, _moved)) = self.lookup_project(raw_id) else {
            return refuse(not_found(None));
        };
        let role = self.role(&identity, project);
        let allowed = if write {
            role.is_some_and(|r| r >= Role::Developer)
        } else {
            project.public || role.is_some_and(|r| r >= Role::Reporter)
        };
        if allowed {
            Ok(project)
        } else if self.can_read_project(&identity, project) {
            Err(forbidden(None))
        } else {
            refuse(not_found(None))
        }
    }

    // ---- generic packages (lib/api/generic_packages.rb) -------------------------------------

    /// `GET`/`HEAD`: the newest upload of the file, served as Workhorse serves local files
    /// (ranges, ETag), with GitLab's `X-Checksum-SHA256`.
    pub(super) fn package_download(
        &self,
        raw_project: &str,
        raw_name: &str,
        raw_version: &str,
        raw_file: &str,
    ) -> Response {
        let (name, version, file) = match package_params(raw_name, raw_version, raw_file) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let project = match self.package_project(raw_project, false) {
            Ok(p) => p,
            Err(r) => return r,
        };
        let Some(package) = self.world.package(project.id, &name, &version, &file) else {
            return record_not_found();
        };
        let archive = Archive::Bytes(package.bytes.clone());
        let Ok(content) = Content::of(&archive, self.shared.started) else {
            return record_not_found();
        };
        let sha256 = content.etag.trim_matches('"').to_string();
        let content = content.with_gitlabs_validators();
        content::serve(
            self.req,
            &content,
            &[
                ("Content-Type", "application/octet-stream".to_string()),
                (
                    "Content-Disposition",
                    format!("attachment; filename=\"{file}\"; filename*=UTF-8''{file}"),
                ),
                ("X-Checksum-SHA256", sha256),
            ],
        )
    }

    /// `PUT`: the upload to store, or GitLab's refusal. Anonymous uploads get 401 before
    /// anything else is looked at (`authenticate_non_get!`). `status` and `select` are ignored.
    pub(super) fn package_upload(
        &self,
        raw_project: &str,
        raw_name: &str,
        raw_version: &str,
        raw_file: &str,
    ) -> Result<PackageFile, Response> {
        if authenticate(self.world, self.req)? == Identity::Anonymous {
            // `authenticate_non_get!`, through the registry's own `unauthorized!`.
            return Err(packages_unauthorized());
        }
        let (name, version, file_name) = package_params(raw_name, raw_version, raw_file)?;
        let project = self.package_project(raw_project, true)?;
        Ok(PackageFile {
            project_id: project.id,
            name,
            version,
            file_name,
            bytes: std::sync::Arc::new(self.req.body.clone()),
        })
    }
}

/// The package registry's 401: `{"message":"401 Unauthorized"}` with the Basic realm that
/// package managers answer with credentials (BasicAuthHelpers#unauthorized!).
fn packages_unauthorized() -> Response {
    unauthorized().header(
        "WWW-Authenticate",
        "Basic realm=\"GitLab Packages Registry\"",
    )
}

/// The decoded name, version and file name, checked as Grape checks them: names and file
/// names `\A[A-Za-z0-9._+-]+\z`, versions `\A(?!.*\.\.)[\w+.-]+\z`, and no `..` path
/// (`file_path: true`). 400 `{"error":"package_version is invalid"}` and the like.
fn package_params(
    raw_name: &str,
    raw_version: &str,
    raw_file: &str,
) -> Result<(String, String, String), Response> {
    let decode = |raw: &str| String::from_utf8(percent_decode(raw)).unwrap_or_default();
    let (name, version, file) = (decode(raw_name), decode(raw_version), decode(raw_file));
    let name_like = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b))
    };
    let checks = [
        ("package_name", name_like(&name), name != ".."),
        (
            "package_version",
            name_like(&version) && !version.contains(".."),
            true,
        ),
        ("file_name", name_like(&file), file != ".."),
    ];
    for (param, valid, path_ok) in checks {
        if !valid {
            return Err(invalid_param(&format!("{param} is invalid")));
        }
        if !path_ok {
            return Err(invalid_param(&format!(
                "{param} should be a valid file path"
            )));
        }
    }
    Ok((name, version, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks_package_params_like_grape() {
        let ok = |n, v, f| package_params(n, v, f).is_ok();
        assert!(ok("gljob", "0.1.0", "gljob-0.1.0-x86_64-linux"));
        assert!(ok("gljob", "latest", "VERSION"));
        assert!(ok("gljob", "1.0.0-rc_1%2Bbuild", "a+b_c.txt"));
        assert!(!ok("gljob", "1..0", "f"));
        assert!(!ok("gljob", "v%201", "f"));
        assert!(!ok("glj%2Fob", "1.0.0", "f"));
        assert!(!ok("gljob", "1.0.0", "a%2Fb"));
        assert!(!ok("..", "1.0.0", "f"));
        assert!(!ok("gljob", "1.0.0", ".."));
    }
}
