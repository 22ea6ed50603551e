//! Snapshots: opaque byte streams named by zxid, written atomically and checksummed.
//!
//! ```text
//! snapshot.<16 hex zxid>
//!   0  magic        b"ZKRS"
//!   4  version      u32 = 1 (little-endian, like every integer here)
//!   8  zxid         i64   (equals the zxid in the file name)
//!  16  content      what the caller wrote
//!  -16 content_len  u64   (a truncated file no longer matches its length)
//!  -8  crc          u32   CRC32C of header ++ content
//!  -4  end magic    b"ZKRE"
//! ```
//! A snapshot is written to `snapshot.<zxid>.tmp`, fsynced, renamed into place and the directory
//! fsynced, so a crash leaves either no snapshot or a whole one. Writing uses its own file and never
//! touches the log, so a caller can write one from another thread while appends continue.

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use crate::error::{LogError, Result};
use crate::fsutil;
use crate::naming::{self, SNAPSHOT_PREFIX};

const HEADER_LEN: u64 = 16;
const TRAILER_LEN: u64 = 16;
const MAGIC: [u8; 4] = *b"ZKRS";
const END_MAGIC: [u8; 4] = *b"ZKRE";
const VERSION: u32 = 1;
/// Like ZooKeeper, look at no more than this many snapshots when searching for a valid one.
const MAX_CANDIDATES: usize = 100;

/// The snapshot files of one directory (one store per directory per process).
#[derive(Debug, Clone)]
pub struct SnapshotStore {
    dir: PathBuf,
}

impl SnapshotStore {
    /// Opens (creating if needed) `dir` and deletes `snapshot.*.tmp` files left by an interrupted write.
    pub fn open(dir: impl AsRef<Path>) -> Result<SnapshotStore> {
        let dir = dir.as_ref().to_owned();
        fsutil::ensure_dir(&dir)?;
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(SNAPSHOT_PREFIX) && name.ends_with(".tmp") {
                tracing::warn!(file = %entry.path().display(), "deleting unfinished snapshot");
                fsutil::remove_file(&entry.path())?;
            }
        }
        Ok(SnapshotStore { dir })
    }

    /// The directory holding the snapshots.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes the snapshot for `zxid`: `write_content` streams the bytes, the store adds header and
    /// checksum trailer and makes the file durable and visible atomically. Returns the file's path.
    /// An existing snapshot with the same zxid is replaced.
    pub fn write<F>(&self, zxid: i64, write_content: F) -> Result<PathBuf>
    where
        F: FnOnce(&mut dyn Write) -> io::Result<()>,
    {
        if zxid < 0 {
            return Err(LogError::NegativeZxid(zxid));
        }
        let name = naming::file_name(SNAPSHOT_PREFIX, zxid);
        let path = self.dir.join(&name);
        let tmp = self.dir.join(format!("{name}.tmp"));
        let written = write_file(&tmp, zxid, write_content)
            .map_err(|e| LogError::io(format!("writing {}", tmp.display()), e))
            .and_then(|()| {
                std::fs::rename(&tmp, &path)
                    .map_err(|e| LogError::io(format!("renaming {} into place", tmp.display()), e))
            })
            .and_then(|()| fsutil::sync_dir(&self.dir));
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        written.map(|()| path)
    }

    /// The newest snapshot file, valid or not, with its zxid.
    pub fn newest(&self) -> Result<Option<(i64, PathBuf)>> {
        Ok(self.files()?.pop())
    }

    /// Zxids of every snapshot file, valid or not, oldest first.
    pub fn list(&self) -> Result<Vec<i64>> {
        Ok(self.files()?.into_iter().map(|(zxid, _)| zxid).collect())
    }

    fn files(&self) -> Result<Vec<(i64, PathBuf)>> {
        naming::list(&self.dir, SNAPSHOT_PREFIX)
            .map_err(|e| LogError::io(format!("listing {}", self.dir.display()), e))
    }

    /// Opens the snapshot of `zxid` after checking its header and trailer; the content checksum is
    /// verified as it is read.
    pub fn open_snapshot(&self, zxid: i64) -> Result<SnapshotReader> {
        SnapshotReader::open(
            &self.dir.join(naming::file_name(SNAPSHOT_PREFIX, zxid)),
            zxid,
        )
    }

    /// Reads the whole snapshot of `zxid` and checks its checksum.
    pub fn verify(&self, zxid: i64) -> Result<()> {
        let mut reader = self.open_snapshot(zxid)?;
        let path = reader.path.clone();
        io::copy(&mut reader, &mut io::sink())
            .map(|_| ())
            .map_err(|e| checksum_error(&path, e))
    }

    /// Zxids of the newest snapshots whose checksum verifies, newest first, at most `limit` of them
    /// (looking at no more than 100 files). Corrupt ones are skipped with a warning.
    pub fn newest_valid(&self, limit: usize) -> Result<Vec<i64>> {
        let mut valid = Vec::new();
        for (zxid, path) in self.files()?.into_iter().rev().take(MAX_CANDIDATES) {
            if valid.len() >= limit {
                break;
            }
            match self.verify(zxid) {
                Ok(()) => valid.push(zxid),
                Err(error) => {
                    tracing::warn!(file = %path.display(), %error, "skipping invalid snapshot")
                }
            }
        }
        Ok(valid)
    }

    /// The newest snapshot whose checksum verifies, ready to read; `None` if there is no snapshot file
    /// at all. If snapshot files exist but none verifies, that is an error (ZooKeeper refuses to start
    /// then too): the state cannot be rebuilt.
    pub fn latest_valid(&self) -> Result<Option<SnapshotReader>> {
        let candidates = self.files()?.len();
        match self.newest_valid(1)?.first() {
            Some(zxid) => self.open_snapshot(*zxid).map(Some),
            None if candidates == 0 => Ok(None),
            None => Err(LogError::BadFile {
                file: self.dir.clone(),
                reason: format!("none of the {candidates} snapshot files is valid"),
            }),
        }
    }

    /// Deletes every snapshot newer than `zxid` (after the log is truncated below them, they describe
    /// a history this server no longer has; quorum spec §12.3). Returns their zxids.
    pub fn remove_newer_than(&self, zxid: i64) -> Result<Vec<i64>> {
        let mut removed = Vec::new();
        for (snap_zxid, path) in self.files()? {
            if snap_zxid > zxid {
                fsutil::remove_file(&path)?;
                removed.push(snap_zxid);
            }
        }
        if !removed.is_empty() {
            fsutil::sync_dir(&self.dir)?;
        }
        Ok(removed)
    }
}

fn checksum_error(path: &Path, error: io::Error) -> LogError {
    if error.kind() == io::ErrorKind::InvalidData {
        LogError::BadFile {
            file: path.to_owned(),
            reason: error.to_string(),
        }
    } else {
        LogError::io(format!("reading {}", path.display()), error)
    }
}

fn write_file<F>(tmp: &Path, zxid: i64, write_content: F) -> io::Result<()>
where
    F: FnOnce(&mut dyn Write) -> io::Result<()>,
{
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(tmp)?;
    let mut out = ChecksumWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        crc: 0,
        len: 0,
    };
    let mut header = [0u8; HEADER_LEN as usize];
    header[0..4].copy_from_slice(&MAGIC);
    header[4..8].copy_from_slice(&VERSION.to_le_bytes());
    header[8..16].copy_from_slice(&zxid.to_le_bytes());
    out.write_all(&header)?;
    write_content(&mut out)?;
    let mut trailer = [0u8; TRAILER_LEN as usize];
    trailer[0..8].copy_from_slice(&(out.len - HEADER_LEN).to_le_bytes());
    trailer[8..12].copy_from_slice(&out.crc.to_le_bytes());
    trailer[12..16].copy_from_slice(&END_MAGIC);
    let mut inner = out.inner;
    inner.write_all(&trailer)?;
    let file = inner.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()
}

/// Counts and checksums everything written through it.
struct ChecksumWriter<W> {
    inner: W,
    crc: u32,
    len: u64,
}

impl<W: Write> Write for ChecksumWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let written = buf.get(..n).unwrap_or(buf);
        self.crc = crc32c::crc32c_append(self.crc, written);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Reads one snapshot's content (without header and trailer). The checksum is checked when the last
/// content byte is read: that read fails with `InvalidData` on a mismatch.
#[derive(Debug)]
pub struct SnapshotReader {
    zxid: i64,
    path: PathBuf,
    len: u64,
    remaining: u64,
    crc: u32,
    expected_crc: u32,
    reader: BufReader<File>,
}

impl SnapshotReader {
    fn open(path: &Path, zxid: i64) -> Result<SnapshotReader> {
        let bad = |reason: &str| LogError::BadFile {
            file: path.to_owned(),
            reason: reason.to_owned(),
        };
        let io_err = |e| LogError::io(format!("reading {}", path.display()), e);
        let mut file = File::open(path).map_err(io_err)?;
        let file_len = file.metadata().map_err(io_err)?.len();
        if file_len < HEADER_LEN + TRAILER_LEN {
            return Err(bad("snapshot too short (truncated)"));
        }
        let mut trailer = [0u8; TRAILER_LEN as usize];
        read_exact_at(&file, &mut trailer, file_len - TRAILER_LEN).map_err(io_err)?;
        let mut header = [0u8; HEADER_LEN as usize];
        file.read_exact(&mut header).map_err(io_err)?;
        if header[0..4] != MAGIC || trailer[12..16] != END_MAGIC {
            return Err(bad("not a complete snapshot (magic missing)"));
        }
        if le_u32(&header[4..8]) != VERSION {
            return Err(bad("unsupported snapshot version"));
        }
        if le_u64(&header[8..16]) as i64 != zxid {
            return Err(bad("header zxid does not match the file name"));
        }
        let len = le_u64(&trailer[0..8]);
        if len != file_len - HEADER_LEN - TRAILER_LEN {
            return Err(bad(
                "snapshot length does not match the file size (truncated?)",
            ));
        }
        let header_crc = crc32c::crc32c(&header);
        let expected_crc = le_u32(&trailer[8..12]);
        if len == 0 && header_crc != expected_crc {
            return Err(bad("snapshot checksum mismatch"));
        }
        Ok(SnapshotReader {
            zxid,
            path: path.to_owned(),
            len,
            remaining: len,
            crc: header_crc,
            expected_crc,
            reader: BufReader::with_capacity(1 << 20, file),
        })
    }

    /// The zxid the snapshot was written for: replay the log from `zxid() + 1`.
    pub fn zxid(&self) -> i64 {
        self.zxid
    }

    /// Content length in bytes.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// True if the snapshot has no content bytes.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The snapshot file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Read for SnapshotReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let Some(target) = buf.get_mut(..want) else {
            return Ok(0);
        };
        let n = self.reader.read(target)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "snapshot shorter than its trailer says",
            ));
        }
        let read = target.get(..n).unwrap_or(target);
        self.crc = crc32c::crc32c_append(self.crc, read);
        self.remaining -= n as u64;
        if self.remaining == 0 && self.crc != self.expected_crc {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "snapshot checksum mismatch",
            ));
        }
        Ok(n)
    }
}

fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

fn le_u32(bytes: &[u8]) -> u32 {
    let mut buf = [0u8; 4];
    buf.copy_from_slice(bytes.get(..4).unwrap_or(&[0; 4]));
    u32::from_le_bytes(buf)
}

fn le_u64(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf.copy_from_slice(bytes.get(..8).unwrap_or(&[0; 8]));
    u64::from_le_bytes(buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, SnapshotStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SnapshotStore::open(dir.path()).unwrap();
        (dir, store)
    }

    fn content(zxid: i64) -> Vec<u8> {
        (0..5000u32).map(|i| (i as i64 * 31 + zxid) as u8).collect()
    }

    fn write(store: &SnapshotStore, zxid: i64) -> PathBuf {
        store.write(zxid, |w| w.write_all(&content(zxid))).unwrap()
    }

    #[test]
    fn written_content_reads_back_with_its_zxid() {
        let (_dir, store) = store();
        write(&store, 0x1_0000_0005);
        let mut reader = store.latest_valid().unwrap().unwrap();
        assert_eq!(reader.zxid(), 0x1_0000_0005);
        assert_eq!(reader.len(), 5000);
        let mut back = Vec::new();
        reader.read_to_end(&mut back).unwrap();
        assert_eq!(back, content(0x1_0000_0005));
    }

    #[test]
    fn a_flipped_byte_fails_the_read_and_latest_valid_skips_it() {
        let (_dir, store) = store();
        write(&store, 10);
        let newest = write(&store, 20);
        let mut bytes = std::fs::read(&newest).unwrap();
        bytes[100] ^= 0x20;
        std::fs::write(&newest, bytes).unwrap();
        let err = store
            .open_snapshot(20)
            .unwrap()
            .read_to_end(&mut Vec::new())
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(store.latest_valid().unwrap().unwrap().zxid(), 10);
        assert_eq!(store.newest_valid(5).unwrap(), vec![10]);
        // `newest` names the newest file whether or not it is valid.
        assert_eq!(store.newest().unwrap(), Some((20, newest)));
    }

    #[test]
    fn a_truncated_snapshot_is_rejected_at_open() {
        let (_dir, store) = store();
        let path = write(&store, 7);
        let len = std::fs::metadata(&path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap()
            .set_len(len - 1)
            .unwrap();
        assert!(matches!(
            store.open_snapshot(7),
            Err(LogError::BadFile { .. })
        ));
        // No valid snapshot although one exists: an error, not "start empty".
        assert!(store.latest_valid().is_err());
    }

    #[test]
    fn a_failed_write_leaves_no_file_and_stale_tmp_files_are_removed() {
        let (dir, store) = store();
        let failed = store.write(3, |w| {
            w.write_all(b"partial")?;
            Err(io::Error::other("serializer failed"))
        });
        assert!(failed.is_err());
        assert!(store.list().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(store.latest_valid().unwrap().is_none());

        let stale = dir.path().join("snapshot.0000000000000009.tmp");
        std::fs::write(&stale, b"half").unwrap();
        SnapshotStore::open(dir.path()).unwrap();
        assert!(!stale.exists());
    }

    #[test]
    fn remove_newer_than_keeps_older_snapshots() {
        let (_dir, store) = store();
        for zxid in [1, 5, 9] {
            write(&store, zxid);
        }
        assert_eq!(store.remove_newer_than(5).unwrap(), vec![9]);
        assert_eq!(store.list().unwrap(), vec![1, 5]);
    }

    #[test]
    fn an_empty_snapshot_is_valid() {
        let (_dir, store) = store();
        store.write(0, |_| Ok(())).unwrap();
        let reader = store.latest_valid().unwrap().unwrap();
        assert!(reader.is_empty());
        store.verify(0).unwrap();
    }
}
