//! `acceptedEpoch` and `currentEpoch` (quorum spec §1.4-1.5): one decimal number in ASCII per file,
//! replaced atomically and durably.

use std::path::Path;

use crate::error::{LogError, Result};
use crate::fsutil;

/// Highest epoch this server has promised to (accepted in discovery).
pub const ACCEPTED_EPOCH: &str = "acceptedEpoch";
/// Epoch of the last leader whose history this server adopted.
pub const CURRENT_EPOCH: &str = "currentEpoch";
/// Present while a learner adopts a new leader's history: records of the new epoch may be
/// durable before `currentEpoch` says so (ZooKeeper's `updatingEpoch`).
pub const UPDATING_EPOCH: &str = "updatingEpoch";

/// Marks the start of adopting a new epoch's history (see [`UPDATING_EPOCH`]).
pub fn begin_epoch_update(dir: &Path) -> Result<()> {
    fsutil::write_atomic(dir, UPDATING_EPOCH, b"")
}

/// Writes `currentEpoch` and then clears the [`UPDATING_EPOCH`] mark.
pub fn finish_epoch_update(dir: &Path, epoch: i64) -> Result<()> {
    write_epoch(dir, CURRENT_EPOCH, epoch)?;
    let mark = dir.join(UPDATING_EPOCH);
    match std::fs::remove_file(&mark) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(LogError::io(format!("removing {}", mark.display()), e)),
    }
}

/// The epoch part of a zxid (its high 32 bits; -1 stays -1).
pub fn epoch_of(zxid: i64) -> i64 {
    zxid >> 32
}

/// Reads `dir/name`; `None` if the file does not exist.
pub fn read_epoch(dir: &Path, name: &str) -> Result<Option<i64>> {
    let path = dir.join(name);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LogError::io(format!("reading {}", path.display()), e)),
    };
    text.trim()
        .parse::<i64>()
        .map(Some)
        .map_err(|_| LogError::BadFile {
            file: path,
            reason: format!("not an epoch number: {:?}", text.trim()),
        })
}

/// Replaces `dir/name` with `epoch` in decimal: write `name.tmp`, fsync, rename, fsync the directory.
pub fn write_epoch(dir: &Path, name: &str, epoch: i64) -> Result<()> {
    fsutil::write_atomic(dir, name, epoch.to_string().as_bytes())
}

/// Both epochs after the startup checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Epochs {
    /// `currentEpoch`.
    pub current: i64,
    /// `acceptedEpoch`.
    pub accepted: i64,
}

/// ZooKeeper's startup checks (§1.5 steps 2-5), run after the database is loaded with
/// `last_zxid` as its last processed zxid:
/// * a leftover [`UPDATING_EPOCH`] mark (a learner stopped while adopting a new leader's history,
///   whose records it had logged in order) makes the epoch of `last_zxid` current;
/// * a missing `currentEpoch` or `acceptedEpoch` is created from the epoch of `last_zxid`;
/// * if `currentEpoch` is older than that epoch, a leftover `currentEpoch.tmp` (a crash between writing
///   it and the rename, ZOOKEEPER-4269) supplies the value; without one, startup fails;
/// * `acceptedEpoch < currentEpoch` fails startup.
pub fn check_epochs(dir: &Path, last_zxid: i64) -> Result<Epochs> {
    let last_epoch = epoch_of(last_zxid);
    if dir.join(UPDATING_EPOCH).exists() {
        let current = read_epoch(dir, CURRENT_EPOCH)?.unwrap_or(last_epoch);
        tracing::info!(
            epoch = current.max(last_epoch),
            "found {UPDATING_EPOCH}: finishing the adoption of the last zxid's epoch"
        );
        finish_epoch_update(dir, current.max(last_epoch))?;
    }
    let current = match read_epoch(dir, CURRENT_EPOCH)? {
        None => {
            write_epoch(dir, CURRENT_EPOCH, last_epoch)?;
            last_epoch
        }
        Some(current) if last_epoch > current => {
            let tmp_name = format!("{CURRENT_EPOCH}.tmp");
            let Some(from_tmp) = read_epoch(dir, &tmp_name)? else {
                return Err(LogError::Epoch(format!(
                    "the current epoch {current} is older than the last zxid's epoch {last_epoch}"
                )));
            };
            tracing::info!(
                epoch = from_tmp,
                "recovering currentEpoch from currentEpoch.tmp"
            );
            write_epoch(dir, CURRENT_EPOCH, from_tmp)?;
            from_tmp
        }
        Some(current) => current,
    };
    let accepted = match read_epoch(dir, ACCEPTED_EPOCH)? {
        None => {
            write_epoch(dir, ACCEPTED_EPOCH, last_epoch)?;
            last_epoch
        }
        Some(accepted) => accepted,
    };
    if accepted < current {
        return Err(LogError::Epoch(format!(
            "the accepted epoch {accepted} is less than the current epoch {current}"
        )));
    }
    Ok(Epochs { current, accepted })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epochs_are_plain_decimal_and_replace_atomically() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_epoch(dir.path(), CURRENT_EPOCH).unwrap(), None);
        write_epoch(dir.path(), CURRENT_EPOCH, 12).unwrap();
        write_epoch(dir.path(), CURRENT_EPOCH, 13).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join(CURRENT_EPOCH)).unwrap(),
            b"13"
        );
        assert_eq!(read_epoch(dir.path(), CURRENT_EPOCH).unwrap(), Some(13));
        assert!(!dir.path().join("currentEpoch.tmp").exists());
    }

    #[test]
    fn zookeeper_written_files_with_a_newline_are_read() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(ACCEPTED_EPOCH), b"7\n").unwrap();
        assert_eq!(read_epoch(dir.path(), ACCEPTED_EPOCH).unwrap(), Some(7));
        std::fs::write(dir.path().join(ACCEPTED_EPOCH), b"seven").unwrap();
        assert!(read_epoch(dir.path(), ACCEPTED_EPOCH).is_err());
    }

    #[test]
    fn missing_epochs_are_created_from_the_last_zxid() {
        let dir = tempfile::tempdir().unwrap();
        let epochs = check_epochs(dir.path(), 0x5_0000_0003).unwrap();
        assert_eq!(
            epochs,
            Epochs {
                current: 5,
                accepted: 5
            }
        );
        assert_eq!(read_epoch(dir.path(), ACCEPTED_EPOCH).unwrap(), Some(5));
        assert_eq!(epoch_of(-1), -1);
    }

    #[test]
    fn a_stale_current_epoch_is_recovered_from_the_tmp_file_zookeeper_4269() {
        let dir = tempfile::tempdir().unwrap();
        write_epoch(dir.path(), CURRENT_EPOCH, 4).unwrap();
        write_epoch(dir.path(), ACCEPTED_EPOCH, 6).unwrap();
        // Without the tmp file the stale epoch is fatal.
        assert!(matches!(
            check_epochs(dir.path(), 0x6_0000_0001),
            Err(LogError::Epoch(_))
        ));
        std::fs::write(dir.path().join("currentEpoch.tmp"), b"6").unwrap();
        let epochs = check_epochs(dir.path(), 0x6_0000_0001).unwrap();
        assert_eq!(epochs.current, 6);
        assert_eq!(read_epoch(dir.path(), CURRENT_EPOCH).unwrap(), Some(6));
    }

    #[test]
    fn an_interrupted_epoch_update_adopts_the_last_zxids_epoch() {
        let dir = tempfile::tempdir().unwrap();
        write_epoch(dir.path(), CURRENT_EPOCH, 4).unwrap();
        write_epoch(dir.path(), ACCEPTED_EPOCH, 6).unwrap();
        begin_epoch_update(dir.path()).unwrap();
        let epochs = check_epochs(dir.path(), 0x6_0000_0001).unwrap();
        assert_eq!(epochs.current, 6);
        assert!(!dir.path().join(UPDATING_EPOCH).exists());
        // Finishing normally clears the mark too, and never lowers the epoch at startup.
        begin_epoch_update(dir.path()).unwrap();
        finish_epoch_update(dir.path(), 7).unwrap();
        assert!(!dir.path().join(UPDATING_EPOCH).exists());
        begin_epoch_update(dir.path()).unwrap();
        write_epoch(dir.path(), ACCEPTED_EPOCH, 7).unwrap();
        assert_eq!(check_epochs(dir.path(), 0x6_0000_0009).unwrap().current, 7);
    }

    #[test]
    fn accepted_below_current_fails_startup() {
        let dir = tempfile::tempdir().unwrap();
        write_epoch(dir.path(), CURRENT_EPOCH, 3).unwrap();
        write_epoch(dir.path(), ACCEPTED_EPOCH, 2).unwrap();
        assert!(check_epochs(dir.path(), 0x1_0000_0000).is_err());
    }
}
