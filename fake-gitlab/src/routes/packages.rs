//! The generic package registry (lib/api/generic_packages.rb): `GET`/`HEAD`/`PUT
//! /projects/:id/packages/generic/:name/:version/:file`, where gljob's releases live and
//! install.sh downloads them from.

use super::{
    Ctx, Identity, authenticate, forbidden, invalid_param, message, record_not_found, unauthorized,
};
use crate::content::{self, Content};
use crate::http::{Response, percent_decode};
use crate::world::{Archive, PackageFile, Project, Role};

impl<'a> Ctx<'a> {
    /// `authorized_user_project` and the package permissions: reading (`read_package`) needs
    /// a public project (anonymous too) or Reporter; writing (`create_package`) needs
    /// Developer, and a job token that the project's allowlist lets in even when it is public.
    fn package_project(&self, raw_id: &str, write: bool) -> Result<&'a Project, Response> {
        let (identity, project, moved) = self.scoped_project(raw_id)?;
        if moved {
            if !matches!(self.req.method.as_str(), "GET" | "HEAD") {
                return Err(message(405, "405 Method Not Allowed"));
            }
            return Err(self.redirect_to_id(raw_id, project.id));
        }
        let allowed = match &identity {
            Identity::User => true,
            Identity::Anonymous => !write && project.public,
            Identity::Job { project_id, .. } if write => {
                let in_scope = *project_id == project.id
                    || !project.allowlist_enabled
                    || project.allowlist.contains(project_id);
                if !in_scope {
                    let source = self
                        .world
                        .project(*project_id)
                        .map_or("unknown", Project::path);
                    return Err(forbidden(Some(&format!(
                        "Authentication by CI/CD job token not allowed from {source} to {}.",
                        project.path()
                    ))));
                }
                project.user_role.is_some_and(|r| r >= Role::Developer)
            }
            Identity::Job { .. } => {
                project.public || project.user_role.is_some_and(|r| r >= Role::Reporter)
            }
        };
        if allowed {
            Ok(project)
        } else {
            Err(forbidden(None))
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
            return Err(unauthorized());
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
