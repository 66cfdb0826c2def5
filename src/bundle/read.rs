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
    let file = std::fs::File::open(path)?;
    // The path may have been replaced between the two looks.
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(ReadError::NotRegular(FileKind::of(meta.file_type())));
    }
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
