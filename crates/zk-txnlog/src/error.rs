//! The crate's one error type.
//!
//! It is `Clone` because a single failed group commit must be reported to every waiter of that batch.

use std::io;
use std::path::PathBuf;
use std::sync::Arc;

/// Everything that can go wrong in the log, the snapshot store or the epoch files.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LogError {
    /// `append` was called with a zxid that is not above the last appended one; nothing was written.
    #[error("zxid {zxid:#x} is not above the last appended zxid {last:#x}")]
    ZxidNotIncreasing {
        /// The rejected zxid.
        zxid: i64,
        /// The highest zxid accepted so far.
        last: i64,
    },
    /// A zxid below 0 cannot be stored (file names and ordering use it as an unsigned number).
    #[error("zxid {0} is negative")]
    NegativeZxid(i64),
    /// A record payload is larger than the format allows.
    #[error("record of {len} bytes exceeds the maximum of {max} bytes")]
    RecordTooLarge {
        /// Payload length asked for.
        len: usize,
        /// [`crate::format::MAX_PAYLOAD_LEN`].
        max: usize,
    },
    /// An operating-system I/O error (a full disk shows up here; see [`LogError::is_no_space`]).
    #[error("I/O error while {context}: {source}")]
    Io {
        /// What the log was doing.
        context: String,
        /// The error from the OS, shared between all waiters of a batch.
        #[source]
        source: Arc<io::Error>,
    },
    /// Damage that is not a torn tail: committed data would be lost by cutting it away.
    #[error(
        "corrupt data in {} at byte offset {offset}: {reason}. Committed records may follow this point, \
         so the log refuses to open. To proceed, restore the data directory from a healthy replica \
         (or delete it and let the server resync), or, accepting the loss of every record from this \
         offset on, reopen once with LogOptions::truncate_corrupt_tail_at_own_risk = true",
        file.display()
    )]
    Corrupt {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the first bad byte range (a record or header start).
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// A file that should hold data for this store does not (bad magic, wrong version, wrong db id).
    #[error("{}: {reason}", file.display())]
    BadFile {
        /// The offending file.
        file: PathBuf,
        /// Why it was rejected.
        reason: String,
    },
    /// The epoch invariant of ZooKeeper's startup checks does not hold (quorum spec §1.5).
    #[error("epoch check failed: {0}")]
    Epoch(String),
    /// The writer thread has stopped (the log was dropped while waiting).
    #[error("the log writer has stopped")]
    Closed,
}

impl LogError {
    /// Wraps an I/O error with a short description of the operation.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        LogError::Io {
            context: context.into(),
            source: Arc::new(source),
        }
    }

    /// True when the underlying cause is a full disk or a file size limit (ENOSPC, EDQUOT, EFBIG).
    pub fn is_no_space(&self) -> bool {
        match self {
            LogError::Io { source, .. } => matches!(
                source.kind(),
                io::ErrorKind::StorageFull
                    | io::ErrorKind::FileTooLarge
                    | io::ErrorKind::QuotaExceeded
            ),
            _ => false,
        }
    }
}

/// Result alias for this crate.
pub type Result<T, E = LogError> = std::result::Result<T, E>;
