//! Reading a skill's `.wasm` as the untrusted file it is. Only a regular file
//! loads, and the check is made on the opened handle (a path checked before
//! opening can be swapped for a device or a FIFO in between). The open never
//! blocks (`O_NONBLOCK`: a FIFO with no writer would otherwise hang it), the
//! read stops one byte past the size limit whatever the file claims (a device
//! reports size 0), and the whole read runs on a blocking thread under a
//! deadline, so a stuck file system costs one thread, never the caller.
//!
//! Every path that takes a skill's bytes from a file reads them here: the
//! catalog's loads, the bus's skill publisher and `sandbot skill publish`
//! (`nats::skills`), and `sandbot skill build --install` (`authoring`).

use sha2::{Digest, Sha256};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

/// The largest `.wasm` the bot will read (Python components are ~20–40 MiB).
pub const MAX_COMPONENT_BYTES: u64 = 128 << 20;
/// The longest a read of one skill file may take.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A skill file's bytes, read once, with what identifies them. Cheap to
/// clone: a file configured as many skills is read once per reload.
#[derive(Clone)]
pub struct SkillFile {
    pub bytes: std::sync::Arc<[u8]>,
    /// Lower-case hex SHA-256 of `bytes`.
    pub sha256: String,
    /// The file as it was when read, to notice a change before using it.
    pub stamp: FileStamp,
}

/// What `stat` says of a file: enough to tell that it changed since it was
/// read, without opening (and so without blocking on) whatever is there now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileStamp {
    device: u64,
    inode: u64,
    len: u64,
    modified: Option<SystemTime>,
}

impl FileStamp {
    fn of(meta: &std::fs::Metadata) -> FileStamp {
        #[cfg(unix)]
        let (device, inode) = {
            use std::os::unix::fs::MetadataExt;
            (meta.dev(), meta.ino())
        };
        #[cfg(not(unix))]
        let (device, inode) = (0, 0);
        FileStamp {
            device,
            inode,
            len: meta.len(),
            modified: meta.modified().ok(),
        }
    }

    /// The stamp of whatever is at `path` now (following symlinks, as the
    /// read did); `None` if nothing is.
    pub fn now(path: &Path) -> Option<FileStamp> {
        std::fs::metadata(path).ok().map(|m| FileStamp::of(&m))
    }
}

/// Why a skill file could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("it does not exist")]
    NotFound,
    #[error("it is {0}, not a regular file: only regular files load as skills")]
    NotRegular(&'static str),
    #[error("it is {size} bytes; skills may be at most {MAX_COMPONENT_BYTES}")]
    TooLarge { size: u64 },
    #[error("reading it took longer than {READ_TIMEOUT:?}")]
    Timeout,
    #[error("cannot read it: {0}")]
    Io(String),
}

impl SkillFile {
    /// Reads `path` under the rules above.
    pub async fn read(path: &Path) -> Result<SkillFile, ReadError> {
        let path: PathBuf = path.to_path_buf();
        let read = tokio::task::spawn_blocking(move || read_blocking(&path));
        match tokio::time::timeout(READ_TIMEOUT, read).await {
            Err(_) => Err(ReadError::Timeout),
            Ok(Err(e)) => Err(ReadError::Io(format!("the reading thread failed: {e}"))),
            Ok(Ok(result)) => result,
        }
    }

    /// The same read on the caller's thread, without the deadline: for a
    /// command run by hand, which its user can stop.
    pub fn read_now(path: &Path) -> Result<SkillFile, ReadError> {
        read_blocking(path)
    }

    /// Wraps bytes that did not come from a file (tests, benchmarks).
    pub fn from_bytes(bytes: Vec<u8>) -> SkillFile {
        let sha256 = sha256_hex(&bytes);
        SkillFile {
            bytes: bytes.into(),
            sha256,
            stamp: FileStamp {
                device: 0,
                inode: 0,
                len: 0,
                modified: None,
            },
        }
    }
}

fn read_blocking(path: &Path) -> Result<SkillFile, ReadError> {
    let file = open_nonblocking(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => ReadError::NotFound,
        _ => ReadError::Io(e.to_string()),
    })?;
    let meta = file.metadata().map_err(|e| ReadError::Io(e.to_string()))?;
    let kind = describe_type(&meta.file_type());
    if kind != "a regular file" {
        return Err(ReadError::NotRegular(kind));
    }
    if meta.len() > MAX_COMPONENT_BYTES {
        return Err(ReadError::TooLarge { size: meta.len() });
    }
    // Never trust the size: read one byte past the limit at most.
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    file.take(MAX_COMPONENT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ReadError::Io(e.to_string()))?;
    if bytes.len() as u64 > MAX_COMPONENT_BYTES {
        return Err(ReadError::TooLarge {
            size: bytes.len() as u64,
        });
    }
    let sha256 = sha256_hex(&bytes);
    Ok(SkillFile {
        bytes: bytes.into(),
        sha256,
        stamp: FileStamp::of(&meta),
    })
}

#[cfg(unix)]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
}

#[cfg(not(unix))]
fn open_nonblocking(path: &Path) -> std::io::Result<std::fs::File> {
    std::fs::File::open(path)
}

fn describe_type(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_fifo() {
            return "a FIFO (named pipe)";
        }
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a folder"
    } else if t.is_file() {
        "a regular file"
    } else {
        "not a regular file"
    }
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let good = dir.path().join("good.wasm");
        std::fs::write(&good, b"\0asm").unwrap();
        let file = SkillFile::read(&good).await.unwrap();
        assert_eq!(&file.bytes[..], b"\0asm");
        assert_eq!(FileStamp::now(&good), Some(file.stamp));

        #[cfg(unix)]
        {
            let zero = dir.path().join("zero.wasm");
            std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
            assert_eq!(
                SkillFile::read(&zero).await.err(),
                Some(ReadError::NotRegular("a character device"))
            );
            let fifo = dir.path().join("fifo.wasm");
            let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
            // SAFETY: a valid NUL-terminated path.
            assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
            assert_eq!(
                SkillFile::read(&fifo).await.err(),
                Some(ReadError::NotRegular("a FIFO (named pipe)"))
            );
        }
        let folder = dir.path().join("folder.wasm");
        std::fs::create_dir(&folder).unwrap();
        assert_eq!(
            SkillFile::read(&folder).await.err(),
            Some(ReadError::NotRegular("a folder"))
        );
        assert_eq!(
            SkillFile::read(&dir.path().join("none.wasm")).await.err(),
            Some(ReadError::NotFound)
        );
    }
}
