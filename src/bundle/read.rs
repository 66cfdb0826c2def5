//! The one way talktrack reads a file: regular files only, never past a limit.
//!
//! A size check on `metadata().len()` alone is not enough: `/dev/zero` reports 0
//! bytes and never ends, and opening a FIFO for reading waits for a writer. So
//! the file must be a regular file before it is opened (a FIFO is never opened),
//! must still be one once open, and is read through a `take` that stops one byte
//! past the limit whatever the file claims its size is.

use std::io::Read as _;
use std::path::Path;

/// What kind of thing a path names, when it is not a regular file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A character device (e.g. `/dev/zero`).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else that is not a regular file.
    Other,
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FileKind::Directory => "a directory",
            FileKind::Fifo => "a named pipe (FIFO)",
            FileKind::CharDevice => "a character device",
            FileKind::BlockDevice => "a block device",
            FileKind::Socket => "a socket",
            FileKind::Other => "not a regular file",
        })
    }
}

impl FileKind {
    fn of(ty: std::fs::FileType) -> Self {
        #[cfg(unix)]
        {
            use std::os::unix::fs::FileTypeExt as _;
            if ty.is_fifo() {
                return FileKind::Fifo;
            }
            if ty.is_char_device() {
                return FileKind::CharDevice;
            }
            if ty.is_block_device() {
                return FileKind::BlockDevice;
            }
            if ty.is_socket() {
                return FileKind::Socket;
            }
        }
        if ty.is_dir() {
            FileKind::Directory
        } else {
            FileKind::Other
        }
    }
}

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// Nothing at that path.
    #[error("no such file")]
    NotFound,
    /// The path names something other than a regular file.
    #[error("it is {0}, not a regular file")]
    NotRegular(FileKind),
    /// The file is larger than allowed.
    #[error("{}", too_large(*.size, *.limit))]
    TooLarge {
        /// Its size, when the file system says it (otherwise: more than `limit`).
        size: Option<u64>,
        /// The limit, in bytes.
        limit: u64,
    },
    /// The file changed place while it was being opened (a directory or link on
    /// its way was swapped): it is not read.
    #[error("it was moved or replaced while being opened")]
    Moved,
    /// The operating system refused.
    #[error("{0}")]
    Io(std::io::Error),
}

fn too_large(size: Option<u64>, limit: u64) -> String {
    match size {
        Some(size) => format!("file is {size} bytes, more than the {limit} bytes allowed"),
        None => format!("file is more than the {limit} bytes allowed"),
    }
}

impl From<std::io::Error> for ReadError {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::NotFound {
            ReadError::NotFound
        } else {
            ReadError::Io(e)
        }
    }
}

/// Reads the whole of the regular file at `path`, refusing it if it holds more
/// than `limit` bytes (from its size before reading, or by stopping one byte past
/// the limit when it grows or lies about its size).
pub fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(path, limit, false)?;
    read_open(file, &meta, limit)
}

/// Like [`read_bounded`] for a file of a bundle: `real` is the real path
/// [`super::paths::contained`] found inside the real bundle directory `root`.
///
/// The file is opened without following a symlink at its last component, and
/// once open, the path must still resolve inside `root` to the very file that
/// was opened (same device and inode): a directory or link swapped on the way
/// between the containment check and the open is refused, not read.
pub(crate) fn read_bounded_inside(
    root: &Path,
    real: &Path,
    limit: u64,
) -> Result<Vec<u8>, ReadError> {
    let (file, meta) = open_regular(real, limit, true)?;
    let now = std::fs::canonicalize(real)?;
    if !now.starts_with(root) || !same_file(&meta, &std::fs::metadata(&now)?) {
        return Err(ReadError::Moved);
    }
    read_open(file, &meta, limit)
}

#[cfg(unix)]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::MetadataExt as _;
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[cfg(not(unix))]
fn same_file(a: &std::fs::Metadata, b: &std::fs::Metadata) -> bool {
    a.len() == b.len() && a.modified().ok() == b.modified().ok()
}

/// Opens the regular file at `path`, never waiting on a FIFO: it is refused
/// before opening, and opened non-blocking in case it was swapped in since.
fn open_regular(
    path: &Path,
    limit: u64,
    no_follow: bool,
) -> Result<(std::fs::File, std::fs::Metadata), ReadError> {
    // Checked before opening: opening a FIFO waits for a writer.
    let meta = std::fs::metadata(path)?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(FileKind::of(meta.file_type())));
    }
    if meta.len() > limit {
        return Err(ReadError::TooLarge {
            size: Some(meta.len()),
            limit,
        });
    }
    let mut options = std::fs::OpenOptions::new();
    options.read(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        let follow = if no_follow { libc::O_NOFOLLOW } else { 0 };
        options.custom_flags(libc::O_NONBLOCK | follow);
    }
    #[cfg(not(unix))]
    let _ = no_follow;
    let file = options.open(path).map_err(|e| {
        #[cfg(unix)]
        if no_follow && e.raw_os_error() == Some(libc::ELOOP) {
            // The canonical path's last component became a symlink.
            return ReadError::Moved;
        }
        ReadError::from(e)
    })?;
    // The path may have been replaced between the two looks.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(FileKind::of(meta.file_type())));
    }
    Ok((file, meta))
}

fn read_open(
    file: std::fs::File,
    meta: &std::fs::Metadata,
    limit: u64,
) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(usize::try_from(meta.len().min(limit)).unwrap_or(0));
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(ReadError::TooLarge { size: None, limit });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_regular_file_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"12345").unwrap();
        assert_eq!(read_bounded(&p, 5).unwrap(), b"12345");
        assert!(matches!(
            read_bounded(&p, 4),
            Err(ReadError::TooLarge {
                size: Some(5),
                limit: 4
            })
        ));
        assert!(matches!(
            read_bounded(&dir.path().join("nothing"), 5),
            Err(ReadError::NotFound)
        ));
        assert!(matches!(
            read_bounded(dir.path(), 5),
            Err(ReadError::NotRegular(FileKind::Directory))
        ));
    }

    #[cfg(unix)]
    #[cfg(unix)]
    #[test]
    fn a_bundle_file_swapped_for_a_link_is_not_read() {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret");
        std::fs::write(&secret, b"do not read").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let inside = root.join("a.rules");
        std::fs::write(&inside, b"rule").unwrap();
        assert_eq!(read_bounded_inside(&root, &inside, 100).unwrap(), b"rule");
        // After the containment check found `a.rules` inside, it becomes a link
        // to a file outside: opening does not follow it.
        std::fs::remove_file(&inside).unwrap();
        std::os::unix::fs::symlink(&secret, &inside).unwrap();
        assert!(matches!(
            read_bounded_inside(&root, &inside, 100),
            Err(ReadError::Moved)
        ));
        // A directory on the way swapped for a link: the file opens, but its
        // real path is no longer inside the bundle.
        std::fs::create_dir(root.join("rules")).unwrap();
        let nested = root.join("rules/b.rules");
        std::fs::write(&nested, b"rule").unwrap();
        std::fs::remove_dir_all(root.join("rules")).unwrap();
        std::os::unix::fs::symlink(outside.path(), root.join("rules")).unwrap();
        std::fs::write(outside.path().join("b.rules"), b"outside").unwrap();
        assert!(matches!(
            read_bounded_inside(&root, &nested, 100),
            Err(ReadError::Moved)
        ));
    }

    #[test]
    fn devices_are_refused_without_reading() {
        let p = Path::new("/dev/zero");
        if p.exists() {
            let e = read_bounded(p, 1 << 20).unwrap_err();
            assert!(
                matches!(e, ReadError::NotRegular(FileKind::CharDevice)),
                "{e}"
            );
            assert_eq!(
                e.to_string(),
                "it is a character device, not a regular file"
            );
        }
    }
}
