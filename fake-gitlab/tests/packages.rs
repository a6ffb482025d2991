//! The generic package registry answers as lib/api/generic_packages.rb and its
//! BasicAuthHelpers do (issue 13, item 7): it finds projects itself, so its refusals are not
//! the artifact routes' — a 401 that asks for Basic credentials, a plain `404 Not Found` for
//! a job token the allowlist keeps out, no 301 for a former path.

use fake_gitlab::{PAT, Role, demo};

mod common;

use common::{AUTH, get, request, start};

const NOT_FOUND: &str = r#"{"message":"404 Not Found"}"#;
const REALM: &str = "Basic realm=\"GitLab Packages Registry\"";

fn file(project: &str) -> String {
    format!("/api/v4/projects/{project}/packages/generic/gljob/0.1.0/SHA256SUMS")
}

#[test]
fn downloads_are_refused_as_the_registry_refuses_them() {
    let s = start();
    let base = s.server_url();
    {
        let mut w = s.world();
        for id in [demo::PROJECT, demo::LOCKED_PROJECT, demo::PUBLIC_PROJECT] {
            w.add_package(id, "gljob", "0.1.0", "SHA256SUMS", b"sums\n".to_vec());
        }
        w.add_project(60, "team/guest").user_role = Some(Role::Guest);
        w.add_package(60, "gljob", "0.1.0", "SHA256SUMS", b"sums\n".to_vec());
    }

    // Anonymous, private (or missing): 401 with the realm, before anything is revealed.
    for project in ["2", "999", "no%2Fsuch"] {
        let r = get(&base, &file(project), &[]);
        assert_eq!(r.status, 401, "{project}");
        assert_eq!(r.text(), r#"{"message":"401 Unauthorized"}"#);
        assert_eq!(r.header("www-authenticate"), Some(REALM), "{project}");
    }
    // Anonymous, public: served.
    assert_eq!(get(&base, &file("4"), &[]).status, 200);

    // A job token the allowlist keeps out of a private project, or a missing project: 404
    // `404 Not Found`, not the artifact routes' 403 naming both projects.
    for project in ["other%2Flocked", "999"] {
        let r = get(&base, &file(project), AUTH);
        assert_eq!((r.status, r.text()), (404, NOT_FOUND), "{project}");
        assert_eq!(r.header("www-authenticate"), None);
    }
    // Allowlisted, and a public project outside the allowlist: served.
    assert_eq!(get(&base, &file("2"), AUTH).status, 200);
    assert_eq!(get(&base, &file("4"), AUTH).status, 200);
    // A former path finds the project, without the 301 of find_project!.
    let old = get(&base, &file("group%2Fsub%2Fold.project"), AUTH);
    assert_eq!((old.status, old.text()), (200, "sums\n"));
    // A Guest can read the project but not its packages: 403.
    let guest = get(&base, &file("60"), AUTH);
    assert_eq!(
        (guest.status, guest.text()),
        (403, r#"{"message":"403 Forbidden"}"#)
    );
    // An access token is its user: a member (Reporter) reads, a stranger gets 404.
    let pat = [("PRIVATE-TOKEN", PAT)];
    assert_eq!(get(&base, &file("3"), &pat).status, 200);
    assert_eq!(get(&base, &file("60"), &pat).text(), NOT_FOUND);
    // No such file: RecordNotFound.
    let none = get(
        &base,
        "/api/v4/projects/2/packages/generic/gljob/9.9.9/SHA256SUMS",
        AUTH,
    );
    assert_eq!(none.text(), r#"{"message":"404 Not found"}"#);
}

#[test]
fn uploads_need_a_developer_the_allowlist_lets_in() {
    let s = start();
    let base = s.server_url();
    let put = |project: &str, headers: &[(&str, &str)]| {
        let mut all = vec![("Content-Length", "0")];
        all.extend_from_slice(headers);
        request(&base, "PUT", &file(project), &all)
    };
    let anon = put("1", &[]);
    assert_eq!(anon.status, 401);
    assert_eq!(anon.header("www-authenticate"), Some(REALM));
    assert_eq!(put("1", AUTH).status, 201);
    assert_eq!(put("2", AUTH).status, 201);
    // Outside the allowlist of a private project: 404; of a public one: 403.
    assert_eq!(put("3", AUTH).text(), NOT_FOUND);
    let public = put("4", AUTH);
    assert_eq!(
        (public.status, public.text()),
        (403, r#"{"message":"403 Forbidden"}"#)
    );
    // The access token's user is a Reporter: it may read, not publish.
    assert_eq!(put("1", &[("PRIVATE-TOKEN", PAT)]).status, 403);
}
