//! File names: `log.<zxid>` and `snapshot.<zxid>`, zxid as 16 lowercase hex digits so that names sort
//! like zxids. Parsing also accepts ZooKeeper's unpadded hex; anything else (such as a `.tmp` suffix)
//! is not ours and is ignored.

use std::io;
use std::path::{Path, PathBuf};

/// Prefix of log segment files.
pub(crate) const LOG_PREFIX: &str = "log.";
/// Prefix of snapshot files.
pub(crate) const SNAPSHOT_PREFIX: &str = "snapshot.";

/// `prefix` followed by the zxid as 16 hex digits.
pub(crate) fn file_name(prefix: &str, zxid: i64) -> String {
    format!("{prefix}{:016x}", zxid as u64)
}

/// The zxid in a file name of the given kind, if the name is exactly `prefix` + hex.
pub(crate) fn parse_name(name: &str, prefix: &str) -> Option<i64> {
    let hex = name.strip_prefix(prefix)?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let zxid = u64::from_str_radix(hex, 16).ok()?;
    i64::try_from(zxid).ok()
}

/// Every file of the given kind in `dir`, sorted by zxid.
pub(crate) fn list(dir: &Path, prefix: &str) -> io::Result<Vec<(i64, PathBuf)>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if let Some(zxid) = entry
            .file_name()
            .to_str()
            .and_then(|n| parse_name(n, prefix))
        {
            found.push((zxid, entry.path()));
        }
    }
    found.sort_unstable_by_key(|(zxid, _)| *zxid);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_sort_like_zxids_and_round_trip() {
        let zxids = [0i64, 1, 0xff, 0x1_0000_0000, 0x7fff_ffff_ffff_ffff];
        let names: Vec<String> = zxids.iter().map(|z| file_name(LOG_PREFIX, *z)).collect();
        assert_eq!(names[2], "log.00000000000000ff");
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(sorted, names);
        for (zxid, name) in zxids.iter().zip(&names) {
            assert_eq!(parse_name(name, LOG_PREFIX), Some(*zxid));
        }
    }

    #[test]
    fn foreign_names_are_ignored() {
        assert_eq!(parse_name("log.100000001", LOG_PREFIX), Some(0x1_0000_0001));
        assert_eq!(
            parse_name("snapshot.0000000000000001.tmp", SNAPSHOT_PREFIX),
            None
        );
        assert_eq!(parse_name("log.", LOG_PREFIX), None);
        assert_eq!(parse_name("log.xyz", LOG_PREFIX), None);
        assert_eq!(parse_name("log.8000000000000000", LOG_PREFIX), None);
        assert_eq!(parse_name("snapshot.10", LOG_PREFIX), None);
        assert_eq!(parse_name("log.00000000000000001", LOG_PREFIX), None);
    }

    #[test]
    fn list_sorts_by_zxid_and_skips_other_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "log.10",
            "log.0000000000000002",
            "log.tmp",
            "snapshot.1",
            "other",
        ] {
            std::fs::write(dir.path().join(name), b"").unwrap();
        }
        let zxids: Vec<i64> = list(dir.path(), LOG_PREFIX)
            .unwrap()
            .into_iter()
            .map(|(z, _)| z)
            .collect();
        assert_eq!(zxids, vec![2, 16]);
    }
}
