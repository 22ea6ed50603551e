//! Small durability helpers shared by the log, the snapshot store and the epoch files.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::error::{LogError, Result};

/// Makes creations, renames and deletions in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(format!("syncing directory {}", dir.display()), e))
}

/// Creates `dir` (and parents) if needed.
pub(crate) fn ensure_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| LogError::io(format!("creating directory {}", dir.display()), e))
}

/// Replaces `dir/name` with `contents` atomically and durably: write `name.tmp`, fsync it, rename it
/// over `name`, fsync the directory.
pub fn write_atomic(dir: &Path, name: &str, contents: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    let target = dir.join(name);
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| LogError::io(format!("creating {}", tmp.display()), e))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(|e| LogError::io(format!("writing {}", tmp.display()), e))?;
    drop(file);
    std::fs::rename(&tmp, &target)
        .map_err(|e| LogError::io(format!("renaming {} into place", tmp.display()), e))?;
    sync_dir(dir)
}

/// Deletes a file and reports what failed.
pub fn remove_file(path: &Path) -> Result<()> {
    std::fs::remove_file(path).map_err(|e| LogError::io(format!("deleting {}", path.display()), e))
}
