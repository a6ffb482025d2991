//! The data the fake serves: projects, pipelines, jobs, job tokens, archives and generic
//! packages.
//!
//! Plain structs with public fields, so that a test can reach into a running server
//! (`server.world()`) and change anything between two requests: rename a project, empty an
//! allowlist, expire an archive, swap in a 1 GiB archive on disk. The routes read it afresh on
//! every request. [`World::demo`] is the world every [`Server`](crate::Server) starts with;
//! its ids are listed in [`demo`].

use std::fs::File;
use std::io::{self, BufReader, Cursor, Read};
use std::path::PathBuf;
use std::sync::Arc;

use crate::zips::{self, Entry};
use crate::{FINISHED_TOKEN, TOKEN};

/// The demo world's ids, for tests (see the crate docs for the whole picture).
pub mod demo {
    /// `namespace1/project1`: the TOKEN's own project.
    pub const OWN_PROJECT: u64 = 1;
    /// `group/sub/my.project` (formerly `group/sub/old.project`); allowlist `[1]`.
    pub const PROJECT: u64 = 2;
    /// `other/locked`: allowlist `[]`, so job tokens of project 1 get 403.
    pub const LOCKED_PROJECT: u64 = 3;
    /// `other/public`: public, allowlist `[]`: readable through its public pipelines.
    pub const PUBLIC_PROJECT: u64 = 4;

    /// Pipeline of project 1 (ref `main`, running) holding the TOKEN's job.
    pub const OWN_PIPELINE: u64 = 6;
    /// The TOKEN's job (`rubocop`, running) — `id` 8 as in `fixtures/job.json`.
    pub const TOKEN_JOB: u64 = 8;
    /// The FINISHED_TOKEN's job (`setup`, success: its token is dead).
    pub const FINISHED_JOB: u64 = 7;

    /// Project 2, `main`, success, older: its `build` has a decoy archive.
    pub const OLD_MAIN_PIPELINE: u64 = 20;
    /// Project 2, `main`, success: the newest successful one, what by-ref lookups pick.
    pub const MAIN_PIPELINE: u64 = 21;
    /// Project 2, `feature/x`, success.
    pub const FEATURE_PIPELINE: u64 = 22;
    /// Project 2, `refs/merge-requests/7/head`, success.
    pub const MR_PIPELINE: u64 = 23;
    /// Project 2, tag `v1.2.3`, success.
    pub const TAG_PIPELINE: u64 = 24;
    /// Project 2, `main`, running: newer than 21, must be skipped by by-ref lookups.
    pub const RUNNING_MAIN_PIPELINE: u64 = 25;
    /// Project 3, `main`, success.
    pub const LOCKED_PIPELINE: u64 = 30;
    /// Project 4, `main`, success.
    pub const PUBLIC_PIPELINE: u64 = 40;

    /// `build` in pipeline 20 (older success on main): decoy archive.
    pub const OLD_BUILD_JOB: u64 = 100;
    /// `build` in pipeline 21, retried (superseded by 102): decoy archive.
    pub const RETRIED_BUILD_JOB: u64 = 101;
    /// `build` in pipeline 21: `zips::sample()`.
    pub const BUILD_JOB: u64 = 102;
    /// `test 1/3` in pipeline 21: `zips::sample()`.
    pub const TEST_JOB: u64 = 103;
    /// `we#ird?%+ ü` in pipeline 21: `zips::sample()`.
    pub const WEIRD_JOB: u64 = 104;
    /// Its name.
    pub const WEIRD_NAME: &str = "we#ird?%+ ü";
    /// `no-artifacts` in pipeline 21: no archive.
    pub const NO_ARTIFACTS_JOB: u64 = 105;
    /// `expired` in pipeline 21: `zips::sample()`, marked expired (archive routes still serve
    /// it, the single-file route by job id answers 404).
    pub const EXPIRED_JOB: u64 = 106;
    /// `build` in pipeline 22 (`feature/x`): `zips::sample()`.
    pub const FEATURE_BUILD_JOB: u64 = 110;
    /// `build` in pipeline 23 (`refs/merge-requests/7/head`): `zips::sample()`.
    pub const MR_BUILD_JOB: u64 = 111;
    /// `build` in pipeline 24 (`v1.2.3`): `zips::sample()`.
    pub const TAG_BUILD_JOB: u64 = 112;
    /// `build` in pipeline 25 (running pipeline on main): decoy archive.
    pub const RUNNING_BUILD_JOB: u64 = 120;
    /// `build` in pipeline 30 (project 3): `zips::sample()`.
    pub const LOCKED_BUILD_JOB: u64 = 130;
    /// `build` in pipeline 40 (project 4): `zips::sample()`.
    pub const PUBLIC_BUILD_JOB: u64 = 140;

    /// Name of the single file every decoy archive holds; the right archive never has it.
    pub const DECOY_FILE: &str = "WRONG-ARCHIVE.txt";
}

/// Everything the fake serves.
#[derive(Debug, Clone)]
pub struct World {
    pub projects: Vec<Project>,
    pub pipelines: Vec<Pipeline>,
    pub jobs: Vec<Job>,
    pub tokens: Vec<TokenGrant>,
    /// Body of `GET /job` for [`TOKEN`] (default: `fixtures/job.json` verbatim). Other valid
    /// job tokens get a small entity generated from their [`Job`].
    pub job_body: String,
    /// Body of `GET /job/allowed_agents` for any valid job token (default:
    /// `fixtures/allowed_agents.json` verbatim).
    pub agents_body: String,
    /// Files in projects' generic package registries, oldest first (none in the demo world).
    pub packages: Vec<PackageFile>,
}

/// One file of a generic package: `GET`/`PUT
/// /projects/:id/packages/generic/:name/:version/:file`. A later upload of the same file name
/// to the same package version does not replace the earlier one; downloads get the newest, as
/// GitLab's (duplicates are allowed by default).
#[derive(Clone)]
pub struct PackageFile {
    pub project_id: u64,
    pub name: String,
    pub version: String,
    pub file_name: String,
    pub bytes: Arc<Vec<u8>>,
}

impl std::fmt::Debug for PackageFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "PackageFile(project {}, {}/{}/{}, {} bytes)",
            self.project_id,
            self.name,
            self.version,
            self.file_name,
            self.bytes.len()
        )
    }
}

/// A project. `path_with_namespace` is its full path; its `path` is the last segment.
#[derive(Debug, Clone)]
pub struct Project {
    pub id: u64,
    pub path_with_namespace: String,
    /// Former full paths: a GET by one of them answers 301 to the numeric-id URL.
    pub old_paths: Vec<String>,
    /// Public: readable anonymously and by job tokens not on the allowlist.
    pub public: bool,
    /// Source project ids whose job tokens may come in; the own project is always allowed.
    pub allowlist: Vec<u64>,
    /// `false`: any project's job token may come in (self-managed, before 18.0).
    pub allowlist_enabled: bool,
    /// Role in this project of the user who triggered the token's job (and so of the token).
    /// `None` or `Guest` on a private project: artifact routes answer 403.
    pub user_role: Option<Role>,
    /// `artifacts:access: none`: artifact routes answer 403.
    pub artifacts_access_none: bool,
}

impl Project {
    /// The last segment of the full path (what GitLab's job-token 403 names).
    pub fn path(&self) -> &str {
        self.path_with_namespace
            .rsplit('/')
            .next()
            .unwrap_or(&self.path_with_namespace)
    }
}

/// A member's role. Reporter and up may read builds and artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Guest,
    Reporter,
    Developer,
    Maintainer,
}

/// A pipeline of a project, on a ref.
#[derive(Debug, Clone)]
pub struct Pipeline {
    pub id: u64,
    pub project_id: u64,
    /// Branch, tag or `refs/merge-requests/IID/head`, exactly as GitLab stores `ref`.
    pub git_ref: String,
    /// `success`, `running`, `failed`, … — by-ref lookups use only `success`.
    pub status: String,
}

/// A job (build) in a pipeline.
#[derive(Debug, Clone)]
pub struct Job {
    pub id: u64,
    pub pipeline_id: u64,
    pub name: String,
    pub status: String,
    /// Superseded by a retry: by-ref lookups skip it.
    pub retried: bool,
    /// The artifacts archive, if the job has one.
    pub archive: Option<Archive>,
    /// The archive has expired but is not deleted yet: archive routes still serve it, the
    /// single-file route by job id answers `404 Not Found`.
    pub expired: bool,
}

/// An artifacts archive: in memory, or a file streamed from disk.
#[derive(Clone)]
pub enum Archive {
    Bytes(Arc<Vec<u8>>),
    /// Streamed from disk, never read whole into memory (tests use 1 GiB archives).
    File(PathBuf),
}

impl std::fmt::Debug for Archive {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Archive::Bytes(b) => write!(f, "Archive::Bytes({} bytes)", b.len()),
            Archive::File(p) => write!(f, "Archive::File({})", p.display()),
        }
    }
}

impl From<Vec<u8>> for Archive {
    fn from(bytes: Vec<u8>) -> Archive {
        Archive::Bytes(Arc::new(bytes))
    }
}

/// Found by [`Archive::find_entry`].
pub(crate) struct EntryInfo {
    pub index: usize,
    pub size: u64,
    pub is_dir: bool,
}

/// An `Arc<Vec<u8>>` as a `Cursor` source.
struct SharedBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl Archive {
    /// Opens the archive with the zip crate and calls `f` with it.
    fn with_zip<T>(&self, f: impl FnOnce(&mut dyn ZipAccess) -> io::Result<T>) -> io::Result<T> {
        match self {
            Archive::Bytes(b) => {
                let mut z = zip::ZipArchive::new(Cursor::new(SharedBytes(b.clone())))
                    .map_err(io::Error::other)?;
                f(&mut z)
            }
            Archive::File(p) => {
                let mut z = zip::ZipArchive::new(BufReader::new(File::open(p)?))
                    .map_err(io::Error::other)?;
                f(&mut z)
            }
        }
    }

    /// The entry with exactly this name, as gitlab-zip-cat looks it up.
    pub(crate) fn find_entry(&self, name: &str) -> io::Result<Option<EntryInfo>> {
        self.with_zip(|z| z.find(name))
    }

    /// Calls `f` with a reader of entry `index`'s uncompressed content (a symlink's content is
    /// its target).
    pub(crate) fn with_entry(
        &self,
        index: usize,
        f: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()> {
        self.with_zip(|z| z.read(index, f))
    }
}

/// The two operations the routes need, over either kind of zip reader.
trait ZipAccess {
    fn find(&mut self, name: &str) -> io::Result<Option<EntryInfo>>;
    fn read(
        &mut self,
        index: usize,
        f: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()>;
}

impl<R: Read + io::Seek> ZipAccess for zip::ZipArchive<R> {
    fn find(&mut self, name: &str) -> io::Result<Option<EntryInfo>> {
        let Some(index) = self.index_for_name(name) else {
            return Ok(None);
        };
        let entry = self.by_index(index).map_err(io::Error::other)?;
        Ok(Some(EntryInfo {
            index,
            size: entry.size(),
            is_dir: entry.is_dir(),
        }))
    }

    fn read(
        &mut self,
        index: usize,
        f: &mut dyn FnMut(&mut dyn Read) -> io::Result<()>,
    ) -> io::Result<()> {
        let mut entry = self.by_index(index).map_err(io::Error::other)?;
        f(&mut entry)
    }
}

/// Grants a token: while `running`, it authenticates as its job; otherwise it gets 401.
#[derive(Debug, Clone)]
pub struct TokenGrant {
    pub token: String,
    pub job_id: u64,
    pub running: bool,
}

impl World {
    /// The world every server starts with; see [`demo`] and the crate docs.
    pub fn demo() -> World {
        let sample = Archive::from(zips::sample());
        let decoy = |why: &str| Archive::from(decoy(why));
        let mut w = World {
            projects: Vec::new(),
            pipelines: Vec::new(),
            jobs: Vec::new(),
            tokens: vec![
                TokenGrant {
                    token: TOKEN.to_string(),
                    job_id: demo::TOKEN_JOB,
                    running: true,
                },
                TokenGrant {
                    token: FINISHED_TOKEN.to_string(),
                    job_id: demo::FINISHED_JOB,
                    running: false,
                },
            ],
            job_body: include_str!("../fixtures/job.json").to_string(),
            agents_body: include_str!("../fixtures/allowed_agents.json").to_string(),
            packages: Vec::new(),
        };

        let p1 = w.add_project(demo::OWN_PROJECT, "namespace1/project1");
        p1.allowlist = Vec::new();
        let p2 = w.add_project(demo::PROJECT, "group/sub/my.project");
        p2.old_paths.push("group/sub/old.project".to_string());
        w.add_project(demo::LOCKED_PROJECT, "other/locked")
            .allowlist = Vec::new();
        let p4 = w.add_project(demo::PUBLIC_PROJECT, "other/public");
        p4.public = true;
        p4.allowlist = Vec::new();

        let mut pipeline = |id: u64, project_id: u64, git_ref: &str, status: &str| {
            w.pipelines.push(Pipeline {
                id,
                project_id,
                git_ref: git_ref.to_string(),
                status: status.to_string(),
            });
        };
        pipeline(demo::OWN_PIPELINE, 1, "main", "running");
        pipeline(demo::OLD_MAIN_PIPELINE, 2, "main", "success");
        pipeline(demo::MAIN_PIPELINE, 2, "main", "success");
        pipeline(demo::FEATURE_PIPELINE, 2, "feature/x", "success");
        pipeline(
            demo::MR_PIPELINE,
            2,
            "refs/merge-requests/7/head",
            "success",
        );
        pipeline(demo::TAG_PIPELINE, 2, "v1.2.3", "success");
        pipeline(demo::RUNNING_MAIN_PIPELINE, 2, "main", "running");
        pipeline(demo::LOCKED_PIPELINE, 3, "main", "success");
        pipeline(demo::PUBLIC_PIPELINE, 4, "main", "success");

        let mut job = |id: u64, pipeline_id: u64, name: &str, status: &str, a: Option<&Archive>| {
            w.jobs.push(Job {
                id,
                pipeline_id,
                name: name.to_string(),
                status: status.to_string(),
                retried: false,
                archive: a.cloned(),
                expired: false,
            });
        };
        let s = Some(&sample);
        job(demo::FINISHED_JOB, 6, "setup", "success", None);
        job(demo::TOKEN_JOB, 6, "rubocop", "running", None);
        let old = decoy("build of an older pipeline on main (20), not the newest successful one");
        job(demo::OLD_BUILD_JOB, 20, "build", "success", Some(&old));
        let retried = decoy("retried build (101) in pipeline 21; its retry is job 102");
        job(
            demo::RETRIED_BUILD_JOB,
            21,
            "build",
            "failed",
            Some(&retried),
        );
        job(demo::BUILD_JOB, 21, "build", "success", s);
        job(demo::TEST_JOB, 21, "test 1/3", "success", s);
        job(demo::WEIRD_JOB, 21, demo::WEIRD_NAME, "success", s);
        job(demo::NO_ARTIFACTS_JOB, 21, "no-artifacts", "success", None);
        job(demo::EXPIRED_JOB, 21, "expired", "success", s);
        job(demo::FEATURE_BUILD_JOB, 22, "build", "success", s);
        job(demo::MR_BUILD_JOB, 23, "build", "success", s);
        job(demo::TAG_BUILD_JOB, 24, "build", "success", s);
        let running = decoy("build of the running pipeline on main (25)");
        job(
            demo::RUNNING_BUILD_JOB,
            25,
            "build",
            "success",
            Some(&running),
        );
        job(demo::LOCKED_BUILD_JOB, 30, "build", "success", s);
        job(demo::PUBLIC_BUILD_JOB, 40, "build", "success", s);
        for j in &mut w.jobs {
            j.retried = j.id == demo::RETRIED_BUILD_JOB;
            j.expired = j.id == demo::EXPIRED_JOB;
        }
        w
    }

    /// Adds a private project (allowlist `[1]`, allowlist enabled, role Developer) and
    /// returns it for further changes. A project added later shadows an earlier one with the
    /// same id or path (e.g. re-adding `other/locked` as project 30 makes that path mean 30).
    pub fn add_project(&mut self, id: u64, path: &str) -> &mut Project {
        self.projects.push(Project {
            id,
            path_with_namespace: path.to_string(),
            old_paths: Vec::new(),
            public: false,
            allowlist: vec![1],
            allowlist_enabled: true,
            user_role: Some(Role::Developer),
            artifacts_access_none: false,
        });
        let last = self.projects.len() - 1;
        &mut self.projects[last]
    }

    /// Adds a pipeline and returns its id (one more than the highest so far).
    pub fn add_pipeline(&mut self, project_id: u64, git_ref: &str, status: &str) -> u64 {
        let id = self.pipelines.iter().map(|p| p.id).max().unwrap_or(0) + 1;
        self.pipelines.push(Pipeline {
            id,
            project_id,
            git_ref: git_ref.to_string(),
            status: status.to_string(),
        });
        id
    }

    /// Adds a job with status `success` and returns its id (one more than the highest so far).
    pub fn add_job(&mut self, pipeline_id: u64, name: &str, archive: Option<Archive>) -> u64 {
        let id = self.jobs.iter().map(|j| j.id).max().unwrap_or(0) + 1;
        self.jobs.push(Job {
            id,
            pipeline_id,
            name: name.to_string(),
            status: "success".to_string(),
            retried: false,
            archive,
            expired: false,
        });
        id
    }

    /// Adds a token for a job (`running: false` makes it a dead token: 401).
    pub fn add_token(&mut self, token: &str, job_id: u64, running: bool) {
        self.tokens.push(TokenGrant {
            token: token.to_string(),
            job_id,
            running,
        });
    }

    /// The project with this id (the most recently added one, if a test re-added it).
    pub fn project(&self, id: u64) -> Option<&Project> {
        self.projects.iter().rev().find(|p| p.id == id)
    }

    /// As [`World::project`], to change it.
    pub fn project_mut(&mut self, id: u64) -> Option<&mut Project> {
        self.projects.iter_mut().rev().find(|p| p.id == id)
    }

    pub fn pipeline(&self, id: u64) -> Option<&Pipeline> {
        self.pipelines.iter().find(|p| p.id == id)
    }

    pub fn job(&self, id: u64) -> Option<&Job> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub fn job_mut(&mut self, id: u64) -> Option<&mut Job> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// The project a job belongs to (through its pipeline).
    pub fn job_project_id(&self, job_id: u64) -> Option<u64> {
        let job = self.job(job_id)?;
        Some(self.pipeline(job.pipeline_id)?.project_id)
    }

    /// Publishes a file in a project's generic package registry, as `PUT
    /// /projects/:id/packages/generic/:name/:version/:file` does. The project is not checked:
    /// downloads answer only for projects that exist.
    pub fn add_package(
        &mut self,
        project_id: u64,
        name: &str,
        version: &str,
        file_name: &str,
        bytes: impl Into<Vec<u8>>,
    ) {
        self.packages.push(PackageFile {
            project_id,
            name: name.to_string(),
            version: version.to_string(),
            file_name: file_name.to_string(),
            bytes: Arc::new(bytes.into()),
        });
    }

    /// The newest upload of this package file.
    pub fn package(
        &self,
        project_id: u64,
        name: &str,
        version: &str,
        file_name: &str,
    ) -> Option<&PackageFile> {
        self.packages.iter().rev().find(|p| {
            p.project_id == project_id
                && p.name == name
                && p.version == version
                && p.file_name == file_name
        })
    }

    /// Sets the archive of a job (panics if there is no such job: a test bug).
    pub fn set_archive(&mut self, job_id: u64, archive: Option<Archive>) {
        match self.job_mut(job_id) {
            Some(j) => j.archive = archive,
            None => panic!("fake-gitlab: no job {job_id} in the world"),
        }
    }
}

/// A small archive that says why it is the wrong one.
fn decoy(why: &str) -> Vec<u8> {
    zips::build(&[Entry::file(
        demo::DECOY_FILE,
        format!("fake-gitlab served the wrong archive: {why}\n").as_bytes(),
        0o644,
    )])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_ids_are_unique_and_consistent() {
        let w = World::demo();
        let mut ids: Vec<u64> = w.jobs.iter().map(|j| j.id).collect();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), w.jobs.len());
        for j in &w.jobs {
            let p = w.pipeline(j.pipeline_id).expect("job's pipeline exists");
            assert!(w.project(p.project_id).is_some());
        }
        assert_eq!(w.job_project_id(demo::TOKEN_JOB), Some(1));
        assert_eq!(w.project(2).map(Project::path), Some("my.project"));
    }

    #[test]
    fn builders_pick_increasing_ids() {
        let mut w = World::demo();
        let p = w.add_pipeline(2, "main", "success");
        assert!(p > demo::PUBLIC_PIPELINE);
        let j = w.add_job(p, "build", None);
        assert!(j > demo::PUBLIC_BUILD_JOB);
        assert_eq!(w.add_job(p, "other", None), j + 1);
    }
}
