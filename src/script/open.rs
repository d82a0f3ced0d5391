//! Reads one file of a student's submission without trusting it: never through a symbolic
//! link, never from a FIFO, socket, device or directory, never a file with a second name,
//! and never more than a size limit.

use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::fd::OwnedFd;
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::{AtFlags, OFlag, open, openat};
use nix::sys::stat::{FileStat, Mode, SFlag, fstat, fstatat};

use super::ScriptError;

/// What a directory entry is when it is not a regular file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    SymbolicLink,
    Fifo,
    Socket,
    CharDevice,
    BlockDevice,
    Directory,
    Other,
}

impl fmt::Display for FileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FileKind::SymbolicLink => "a symbolic link",
            FileKind::Fifo => "a FIFO (named pipe)",
            FileKind::Socket => "a socket",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Directory => "a directory",
            FileKind::Other => "not a regular file",
        })
    }
}

/// Reads the file `name` directly inside `dir`, or `None` when there is none.
///
/// `name` must be a plain file name. Only a regular file with a single link and at most
/// `max_bytes` bytes is read; anything else is refused with an error that names the file
/// and never quotes its content.
pub fn read_submission_file(
    dir: &Path,
    name: &str,
    max_bytes: u64,
) -> Result<Option<Vec<u8>>, ScriptError> {
    if name.is_empty() || name == "." || name == ".." || name.contains(['/', '\0']) {
        return Err(ScriptError::NotPlainName {
            name: name.to_string(),
        });
    }
    let read_error = |path: &Path, errno: Errno| ScriptError::Read {
        path: path.to_path_buf(),
        source: errno.into(),
    };
    let dir_fd = match open(
        dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    ) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(read_error(dir, e)),
    };
    let path = dir.join(name);
    // Looked at before it is opened, so that a FIFO or a device is not even opened (opening
    // some devices does something).
    match fstatat(&dir_fd, name, AtFlags::AT_SYMLINK_NOFOLLOW) {
        Ok(st) => admit(name, &st, max_bytes)?,
        Err(Errno::ENOENT) => return Ok(None),
        Err(e) => return Err(read_error(&path, e)),
    }
    // O_NOFOLLOW: a link put there since is refused, not followed. O_NONBLOCK: a FIFO put
    // there since does not wait for a writer. O_NOCTTY: a terminal never becomes ours.
    let flags = OFlag::O_RDONLY
        | OFlag::O_NOFOLLOW
        | OFlag::O_NONBLOCK
        | OFlag::O_CLOEXEC
        | OFlag::O_NOCTTY;
    let fd: OwnedFd = match openat(&dir_fd, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::ENOENT) => return Ok(None),
        Err(Errno::ELOOP) => {
            return Err(ScriptError::NotRegular {
                name: name.to_string(),
                kind: FileKind::SymbolicLink,
            });
        }
        Err(e) => return Err(read_error(&path, e)),
    };
    // What counts is what was opened, whatever was looked at before.
    let st = fstat(&fd).map_err(|e| read_error(&path, e))?;
    admit(name, &st, max_bytes)?;
    let size = u64::try_from(st.st_size).unwrap_or(0);
    // One byte past the limit, so that a file that grew since `fstat` is still caught.
    let mut bytes = Vec::with_capacity(usize::try_from(size.min(max_bytes)).unwrap_or(0));
    File::from(fd)
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| ScriptError::Read {
            path: path.clone(),
            source,
        })?;
    if bytes.len() as u64 > max_bytes {
        return Err(ScriptError::GrewTooLarge {
            name: name.to_string(),
            limit: max_bytes,
        });
    }
    Ok(Some(bytes))
}

/// Refuses anything but a regular file with one link and at most `max_bytes` bytes.
fn admit(name: &str, st: &FileStat, max_bytes: u64) -> Result<(), ScriptError> {
    if let Some(kind) = irregular(st) {
        return Err(ScriptError::NotRegular {
            name: name.to_string(),
            kind,
        });
    }
    // Git never makes hard links: a second name may be someone else's file.
    if st.st_nlink > 1 {
        return Err(ScriptError::HardLinked {
            name: name.to_string(),
            links: st.st_nlink.to_string(),
        });
    }
    let size = u64::try_from(st.st_size).unwrap_or(0);
    if size > max_bytes {
        return Err(ScriptError::TooLarge {
            name: name.to_string(),
            size,
            limit: max_bytes,
        });
    }
    Ok(())
}

/// What the file is, when it is not a regular file.
fn irregular(st: &FileStat) -> Option<FileKind> {
    let format = SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits());
    let kinds = [
        (SFlag::S_IFREG, None),
        (SFlag::S_IFLNK, Some(FileKind::SymbolicLink)),
        (SFlag::S_IFIFO, Some(FileKind::Fifo)),
        (SFlag::S_IFSOCK, Some(FileKind::Socket)),
        (SFlag::S_IFCHR, Some(FileKind::CharDevice)),
        (SFlag::S_IFBLK, Some(FileKind::BlockDevice)),
        (SFlag::S_IFDIR, Some(FileKind::Directory)),
    ];
    kinds
        .into_iter()
        .find(|(f, _)| *f == format)
        .map_or(Some(FileKind::Other), |(_, kind)| kind)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    const LIMIT: u64 = 1024;

    fn read(dir: &Path, name: &str) -> Result<Option<Vec<u8>>, ScriptError> {
        read_submission_file(dir, name, LIMIT)
    }

    fn refusal(dir: &Path, name: &str) -> String {
        read(dir, name).expect_err("must be refused").to_string()
    }

    #[test]
    fn a_regular_file_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.sql"), "SELECT 1;\n").expect("write");
        let bytes = read(dir.path(), "a.sql").expect("read").expect("present");
        assert_eq!(bytes, b"SELECT 1;\n");
    }

    #[test]
    fn a_file_of_exactly_the_limit_is_read() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("a.sql"), vec![b'x'; LIMIT as usize]).expect("write");
        let bytes = read(dir.path(), "a.sql").expect("read").expect("present");
        assert_eq!(bytes.len() as u64, LIMIT);
    }

    #[test]
    fn a_missing_file_or_folder_is_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(read(dir.path(), "a.sql").expect("no error").is_none());
        let gone = dir.path().join("gone");
        assert!(read(&gone, "a.sql").expect("no error").is_none());
    }

    #[test]
    fn a_symbolic_link_is_refused_even_to_a_readable_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let target = dir.path().join("target.sql");
        std::fs::write(&target, "SELECT 'secret';\n").expect("write");
        symlink(&target, dir.path().join("02_seed.sql")).expect("symlink");
        let message = refusal(dir.path(), "02_seed.sql");
        assert_eq!(
            message,
            "`02_seed.sql` is a symbolic link; the grader reads only regular files in the submission folder"
        );
        // A dangling link is refused too, not taken for a missing file.
        symlink(dir.path().join("nowhere"), dir.path().join("b.sql")).expect("symlink");
        assert!(refusal(dir.path(), "b.sql").contains("is a symbolic link"));
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().expect("temp dir");
        let fifo = dir.path().join("p.sql");
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o600)).expect("mkfifo");
        // Were it opened for reading in blocking mode, this would wait for a writer forever:
        // run it on a thread and give up after a while.
        let dir_path = dir.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(refusal(&dir_path, "p.sql"));
        });
        let message = rx
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("reading a FIFO blocked");
        assert_eq!(
            message,
            "`p.sql` is a FIFO (named pipe); the grader reads only regular files in the submission folder"
        );
    }

    #[test]
    fn devices_are_refused_directly_or_through_a_link() {
        let dir = tempfile::tempdir().expect("temp dir");
        symlink("/dev/zero", dir.path().join("z.sql")).expect("symlink");
        assert!(refusal(dir.path(), "z.sql").contains("is a symbolic link"));
        assert_eq!(
            refusal(Path::new("/dev"), "zero"),
            "`zero` is a character device; the grader reads only regular files in the submission folder"
        );
    }

    #[test]
    fn a_directory_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("d.sql")).expect("mkdir");
        assert!(refusal(dir.path(), "d.sql").starts_with("`d.sql` is a directory;"));
    }

    #[test]
    fn a_hard_link_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let other = dir.path().join("someone_else.sql");
        std::fs::write(&other, "SELECT 'not yours';\n").expect("write");
        std::fs::hard_link(&other, dir.path().join("h.sql")).expect("hard link");
        let message = refusal(dir.path(), "h.sql");
        assert!(
            message.starts_with("`h.sql` has 2 hard links;"),
            "{message}"
        );
        assert!(!message.contains("not yours"));
    }

    #[test]
    fn a_file_over_the_limit_is_refused_with_its_size() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("big.sql"), vec![b'x'; LIMIT as usize + 1]).expect("write");
        assert_eq!(
            refusal(dir.path(), "big.sql"),
            "`big.sql` is 1025 bytes, over the limit of 1024 bytes for a submitted file"
        );
    }

    #[test]
    fn a_file_that_holds_more_than_its_size_says_is_still_cut_at_the_limit() {
        // Files of /proc have a size of 0 and yet content: like a file that grows after
        // `fstat`, only reading one byte past the limit catches it.
        let err = read_submission_file(Path::new("/proc/self"), "status", 10).expect_err("grew");
        assert!(
            matches!(err, ScriptError::GrewTooLarge { limit: 10, .. }),
            "{err}"
        );
        assert_eq!(
            err.to_string(),
            "`status` grew past 10 bytes while it was read, over the limit for a submitted file"
        );
    }

    #[test]
    fn names_that_are_not_plain_file_names_are_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/a.sql"), "SELECT 1;").expect("write");
        for name in [
            "",
            ".",
            "..",
            "sub/a.sql",
            "../a.sql",
            "/etc/passwd",
            "a\0.sql",
        ] {
            let err = read(dir.path(), name).expect_err(name);
            assert!(
                matches!(err, ScriptError::NotPlainName { .. }),
                "{name:?}: {err}"
            );
        }
    }
}
