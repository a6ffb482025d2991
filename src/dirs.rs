//! Filesystem steps relative to directory handles, never following a symlink.
//!
//! Unpacking and the commit never name a path from the destination's root: each directory
//! is opened once, without following links (`O_NOFOLLOW | O_DIRECTORY`), and every create,
//! rename and lookup is made relative to such a handle (`openat`, `mkdirat`, `renameat2`,
//! `fstatat` with `AT_SYMLINK_NOFOLLOW`). A directory that another process swaps for a
//! symlink meanwhile, or a symlink that a case-insensitive filesystem finds under another
//! spelling of its name, then makes the step fail (`ELOOP`/`ENOTDIR`) instead of sending the
//! write through the link and outside the destination.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, RenameFlags, Stat};

/// An open directory.
#[derive(Debug)]
pub struct Dir(OwnedFd);

/// What a name in a directory is, looked up without following it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Dir,
    Symlink,
    /// A regular file or anything else that is not a directory or a link.
    Other,
}

/// The identity of a file (device and inode), recorded in the commit journal to tell
/// where an entry is after an interruption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id {
    pub dev: u64,
    pub ino: u64,
}

fn kind_of(stat: &Stat) -> Kind {
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::Directory => Kind::Dir,
        FileType::Symlink => Kind::Symlink,
        _ => Kind::Other,
    }
}

fn id_of(stat: &Stat) -> Id {
    Id {
        dev: stat.st_dev,
        ino: stat.st_ino,
    }
}

const DIR_FLAGS: OFlags = OFlags::DIRECTORY
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC)
    .union(OFlags::RDONLY);

impl Dir {
    /// Opens `path` as given by the user (DEST may itself be reached through a link of
    /// theirs); everything below it is then opened without following links.
    pub fn open(path: &Path) -> io::Result<Dir> {
        let flags = OFlags::DIRECTORY | OFlags::CLOEXEC | OFlags::RDONLY;
        Ok(Dir(rustix::fs::openat(
            rustix::fs::CWD,
            path,
            flags,
            Mode::empty(),
        )?))
    }

    /// Opens the directory `name` (one component) in this one; a symlink is `ELOOP`, a file
    /// `ENOTDIR`.
    pub fn open_dir(&self, name: impl AsRef<OsStr>) -> io::Result<Dir> {
        Ok(Dir(rustix::fs::openat(
            &self.0,
            name.as_ref(),
            DIR_FLAGS,
            Mode::empty(),
        )?))
    }

    /// Opens a relative path of several components, each without following links; an
    /// empty one is this directory again.
    pub fn open_path(&self, rel: &Path) -> io::Result<Dir> {
        let mut dir = self.try_clone()?;
        for part in rel.iter() {
            dir = dir.open_dir(part)?;
        }
        Ok(dir)
    }

    pub fn try_clone(&self) -> io::Result<Dir> {
        Ok(Dir(self.0.try_clone()?))
    }

    /// Sets the directory's modification time, its access time left as it is: one
    /// `futimens` on the handle already open.
    pub fn set_modified(&self, time: std::time::SystemTime) -> io::Result<()> {
        // Archive times are never before 1970 (zipfmt reads them as unsigned).
        let invalid = || io::Error::from(io::ErrorKind::InvalidInput);
        let since = time
            .duration_since(std::time::UNIX_EPOCH)
            .map_err(|_| invalid())?;
        let omit = rustix::fs::Timespec {
            tv_sec: 0,
            tv_nsec: rustix::fs::UTIME_OMIT,
        };
        let modified = rustix::fs::Timespec {
            tv_sec: i64::try_from(since.as_secs()).map_err(|_| invalid())?,
            tv_nsec: since.subsec_nanos().into(),
        };
        let times = rustix::fs::Timestamps {
            last_access: omit,
            last_modification: modified,
        };
        Ok(rustix::fs::futimens(&self.0, &times)?)
    }

    /// Makes the directory `name` with `mode` (less the umask); `EEXIST` if anything is there.
    pub fn mkdir(&self, name: impl AsRef<OsStr>, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::mkdirat(
            &self.0,
            name.as_ref(),
            Mode::from_raw_mode(mode),
        )?)
    }

    /// Opens the directory `name`, making it first if it is missing.
    pub fn make_dir(&self, name: impl AsRef<OsStr>, mode: u32) -> io::Result<Dir> {
        let name = name.as_ref();
        match self.mkdir(name, mode) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
        self.open_dir(name)
    }

    /// Creates the new file `name` for reading and writing with `mode` (less the umask):
    /// never an existing file, never through a symlink.
    pub fn create_file(&self, name: impl AsRef<OsStr>, mode: u32) -> io::Result<File> {
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.0, name.as_ref(), flags, Mode::from_raw_mode(mode))?;
        Ok(File::from(fd))
    }

    /// Opens the existing regular file `name` for reading, not through a symlink.
    pub fn open_file(&self, name: impl AsRef<OsStr>) -> io::Result<File> {
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.0, name.as_ref(), flags, Mode::empty())?;
        Ok(File::from(fd))
    }

    /// Opens (creating if needed) the file `name` for appending, not through a symlink.
    pub fn append_file(&self, name: impl AsRef<OsStr>, mode: u32) -> io::Result<File> {
        let flags =
            OFlags::WRONLY | OFlags::CREATE | OFlags::APPEND | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.0, name.as_ref(), flags, Mode::from_raw_mode(mode))?;
        Ok(File::from(fd))
    }

    pub fn symlink(&self, target: &str, name: impl AsRef<OsStr>) -> io::Result<()> {
        Ok(rustix::fs::symlinkat(target, &self.0, name.as_ref())?)
    }

    pub fn read_link(&self, name: impl AsRef<OsStr>) -> io::Result<Vec<u8>> {
        let target = rustix::fs::readlinkat(&self.0, name.as_ref(), Vec::new())?;
        Ok(target.into_bytes())
    }

    /// What `name` is, without following it; `None` if nothing is there.
    pub fn kind(&self, name: impl AsRef<OsStr>) -> io::Result<Option<Kind>> {
        Ok(self.stat(name)?.map(|(kind, _)| kind))
    }

    /// What `name` is and its identity, without following it; `None` if nothing is there.
    pub fn stat(&self, name: impl AsRef<OsStr>) -> io::Result<Option<(Kind, Id)>> {
        match rustix::fs::statat(&self.0, name.as_ref(), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some((kind_of(&stat), id_of(&stat)))),
            Err(rustix::io::Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The permission bits of `name`, not following it.
    pub fn mode(&self, name: impl AsRef<OsStr>) -> io::Result<u32> {
        let stat = rustix::fs::statat(&self.0, name.as_ref(), AtFlags::SYMLINK_NOFOLLOW)?;
        Ok(stat.st_mode & 0o7777)
    }

    /// A second name for the file or link `name` (`linkat`, never following).
    pub fn hard_link(
        &self,
        name: impl AsRef<OsStr>,
        to: &Dir,
        to_name: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        Ok(rustix::fs::linkat(
            &self.0,
            name.as_ref(),
            &to.0,
            to_name.as_ref(),
            AtFlags::empty(),
        )?)
    }

    /// This directory's own identity.
    pub fn id(&self) -> io::Result<Id> {
        Ok(id_of(&rustix::fs::fstat(&self.0)?))
    }

    /// Sets this directory's permission bits.
    pub fn chmod(&self, mode: u32) -> io::Result<()> {
        Ok(rustix::fs::fchmod(&self.0, Mode::from_raw_mode(mode))?)
    }

    /// Renames `name` here to `to_name` in `to`, refusing to replace anything there
    /// (`RENAME_NOREPLACE`). Filesystems without renameat2 flags (NFS, some FUSE) get a
    /// lookup and a plain rename instead: the last moment's race is theirs.
    pub fn rename_new(
        &self,
        name: impl AsRef<OsStr>,
        to: &Dir,
        to_name: impl AsRef<OsStr>,
    ) -> io::Result<()> {
        let (name, to_name) = (name.as_ref(), to_name.as_ref());
        match rustix::fs::renameat_with(&self.0, name, &to.0, to_name, RenameFlags::NOREPLACE) {
            Err(rustix::io::Errno::INVAL | rustix::io::Errno::NOSYS) => {
                if to.kind(to_name)?.is_some() {
                    return Err(io::Error::from(io::ErrorKind::AlreadyExists));
                }
                Ok(rustix::fs::renameat(&self.0, name, &to.0, to_name)?)
            }
            other => Ok(other?),
        }
    }

    /// Removes `name` here: a file or link, or a directory with everything below it, never
    /// following a link. Missing is fine.
    pub fn remove_all(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        let name = name.as_ref();
        match self.kind(name)? {
            None => Ok(()),
            Some(Kind::Dir) => {
                let dir = self.open_dir(name)?;
                // Names first, then removals: whether readdir still returns the rest of a
                // directory that is being emptied is up to the filesystem (FUSE, NFS).
                for child in dir.names()? {
                    dir.remove_all(child)?;
                }
                Ok(rustix::fs::unlinkat(&self.0, name, AtFlags::REMOVEDIR)?)
            }
            Some(_) => Ok(rustix::fs::unlinkat(&self.0, name, AtFlags::empty())?),
        }
    }

    /// Removes the empty directory `name`.
    pub fn remove_dir(&self, name: impl AsRef<OsStr>) -> io::Result<()> {
        Ok(rustix::fs::unlinkat(
            &self.0,
            name.as_ref(),
            AtFlags::REMOVEDIR,
        )?)
    }

    /// The names in this directory (without `.` and `..`), read in one go.
    pub fn names(&self) -> io::Result<Vec<std::ffi::OsString>> {
        let mut names = Vec::new();
        for item in rustix::fs::Dir::read_from(&self.0)? {
            let item = item?;
            let name = OsStr::from_bytes(item.file_name().to_bytes());
            if name != "." && name != ".." {
                names.push(name.to_os_string());
            }
        }
        Ok(names)
    }

    /// A `File` on the same open directory (for `flock`).
    pub fn as_file(&self) -> io::Result<File> {
        Ok(File::from(self.0.try_clone()?))
    }
}

impl AsFd for Dir {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// `rel/name`, or `name` at the top (`rel` empty): the relative paths the walks over staged
/// trees and DEST build (commit, merge, the link checks).
pub fn join(rel: &str, name: &str) -> String {
    if rel.is_empty() {
        name.to_string()
    } else {
        format!("{rel}/{name}")
    }
}

/// Whether an error means a link or a file stood where a directory was expected (a name
/// the filesystem folds onto a symlink, or a directory swapped for one meanwhile).
pub fn is_not_a_dir(err: &io::Error) -> bool {
    matches!(
        rustix::io::Errno::from_io_error(err),
        Some(rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR)
    )
}
