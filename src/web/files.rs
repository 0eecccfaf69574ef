//! Which version of a file a configuration was read from: device, inode, size, modification and
//! change times, symlinks followed, so a Kubernetes secret volume's atomic `..data` swap is seen.

use std::path::{Path, PathBuf};

/// What identifies one version of a file (its `stat`): a change of any of these is a change of
/// the file.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    len: u64,
    modified: Option<std::time::SystemTime>,
    #[cfg(unix)]
    inode: (u64, u64, i64, i64),
}

/// The stamp of `path` now (symlinks followed); `None` when it cannot be read.
fn stamp(path: &Path) -> Option<FileStamp> {
    let metadata = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = {
        use std::os::unix::fs::MetadataExt;
        (
            metadata.dev(),
            metadata.ino(),
            metadata.ctime(),
            metadata.ctime_nsec(),
        )
    };
    Some(FileStamp {
        len: metadata.len(),
        modified: metadata.modified().ok(),
        #[cfg(unix)]
        inode,
    })
}

/// A file a configuration was read from, and its stamp just before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Watched {
    pub(super) path: PathBuf,
    stamp: Option<FileStamp>,
}

impl Watched {
    /// `path` as it is now.
    pub(super) fn now(path: &Path) -> Watched {
        Watched {
            path: path.to_path_buf(),
            stamp: stamp(path),
        }
    }
}
