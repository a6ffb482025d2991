"""python-gitlab against the fake GitLab: the benchmark's peer of gljob (run by
bench/harness.py) and the check that a client nobody here wrote works against the fake
(tests/pygitlab.rs). Both run it in a virtualenv made by scripts/pygitlab-venv.sh.

    pygitlab.py fetch PROJECT REF JOB DEST   # artifacts.download(streamed=True) to a file, zipfile.extractall
    pygitlab.py job                          # GET /job
    pygitlab.py routes OUT                   # every route gljob uses, on the fake's demo world; files to OUT

The environment gives CI_SERVER_URL and CI_JOB_TOKEN. This is python-gitlab used the way its
documentation shows, with its own session: requests keeps the JOB-TOKEN header when it follows
the 302 to object storage, which S3 (and so the fake's storage origin) ignores beside a
presigned URL.

One adjustment, for `fetch` only, the benchmark's (BENCHMARKS.md was measured so): its session
drops JOB-TOKEN when a redirect leaves the API's origin, as requests already does for
Authorization, so that no tool in the comparison hands the token to storage. It changes
nothing else and costs nothing measurable.
"""

import json
import os
import sys
import zipfile
from urllib.parse import urlsplit

import gitlab
import requests


class TokenScopedSession(requests.Session):
    def rebuild_auth(self, prepared_request, response):
        super().rebuild_auth(prepared_request, response)
        old, new = urlsplit(response.request.url), urlsplit(prepared_request.url)
        if (old.scheme, old.netloc) != (new.scheme, new.netloc):
            prepared_request.headers.pop("JOB-TOKEN", None)


def client(scoped=False):
    session = TokenScopedSession() if scoped else None
    return gitlab.Gitlab(os.environ["CI_SERVER_URL"], job_token=os.environ["CI_JOB_TOKEN"],
                         session=session)


def fetch(project_id, ref, job, dest):
    gl = client(scoped=True)
    project = gl.projects.get(project_id, lazy=True)
    archive = dest.rstrip("/") + ".zip"
    with open(archive, "wb") as f:
        project.artifacts.download(ref_name=ref, job=job, streamed=True, action=f.write)
    with zipfile.ZipFile(archive) as z:
        z.extractall(dest)
    os.remove(archive)


def job():
    gl = client()
    sys.stdout.write(gl.http_get("/job", raw=True).text)


def routes(out):
    """The routes gljob uses, on the ids of the fake's demo world (fake-gitlab/src/lib.rs):
    this job (8, pipeline 6, project 1), the jobs of project 1 and of pipeline 6, the archive
    of job 7 by id and of `build` on `main` of project 2 by ref, one file of each way, and a
    generic package file the test published in project 1. Each payload is written to OUT for
    the test to compare; stdout gets one JSON line per route."""
    gl = client()

    def report(route, **facts):
        print(json.dumps({"route": route, **facts}), flush=True)

    def save(name, data):
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
        report(name, bytes=len(data))

    me = gl.http_get("/job")
    report("job", id=me["id"], status=me["status"], pipeline=me["pipeline"]["id"],
           project=me["pipeline"]["project_id"], runner=me["runner"]["description"])

    own = gl.projects.get(me["pipeline"]["project_id"], lazy=True)
    listed = own.jobs.list(get_all=True)
    report("project jobs", ids=[j.id for j in listed])
    in_pipeline = own.pipelines.get(me["pipeline"]["id"], lazy=True).jobs.list(get_all=True)
    report("pipeline jobs", ids=[j.id for j in in_pipeline])

    setup = own.jobs.get(7, lazy=True)
    save("by-id.zip", setup.artifacts())
    save("by-id-file", setup.artifact("setup/env.txt"))

    other = gl.projects.get("group/sub/my.project", lazy=True)
    save("by-ref.zip", other.artifacts.download(ref_name="main", job="build"))
    save("by-ref-file", other.artifacts.raw("main", "dist/app", "build"))

    save("package", own.generic_packages.download(
        package_name="gljob", package_version="0.1.0", file_name="SHA256SUMS"))


if __name__ == "__main__":
    if sys.argv[1:2] == ["fetch"] and len(sys.argv) == 6:
        fetch(*sys.argv[2:])
    elif sys.argv[1:] == ["job"]:
        job()
    elif sys.argv[1:2] == ["routes"] and len(sys.argv) == 3:
        routes(sys.argv[2])
    else:
        sys.exit(__doc__)
