//! Quotas, as ZooKeeper keeps them in the tree itself: a quota on `/a/b` is the node
//! `/zookeeper/quota/a/b/zookeeper_limits` (what the client allows, written by zkCli's `setquota`)
//! and `/zookeeper/quota/a/b/zookeeper_stats` (what the subtree holds, kept up to date by the
//! server as it applies transactions). Both hold ZooKeeper's `StatsTrack` text:
//! `count=N,bytes=M`, then, when there are hard limits, `=;byteHardLimit=B;countHardLimit=C`.
//!
//! Exceeding a soft limit (`count`, `bytes`) is only logged; with `enforceQuota` a write that
//! would exceed a hard limit fails with QUOTAEXCEEDED, as in ZooKeeper 3.7 and later.

use std::collections::BTreeMap;

use zk_proto::ErrorCode;

use crate::tree::TreeView;

pub const QUOTA_ROOT: &str = "/zookeeper/quota";
const LIMITS: &str = "zookeeper_limits";
const STATS: &str = "zookeeper_stats";

const COUNT: &str = "count";
const BYTES: &str = "bytes";
const COUNT_HARD_LIMIT: &str = "countHardLimit";
const BYTE_HARD_LIMIT: &str = "byteHardLimit";

/// ZooKeeper's `StatsTrack`: named values, -1 for those not given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsTrack {
    values: BTreeMap<String, i64>,
}

impl StatsTrack {
    /// Reads the text leniently: pairs separated by `,` or `;`, a value after the first `=`
    /// (empty means -1); pairs that do not parse are left out.
    pub fn parse(data: &[u8]) -> StatsTrack {
        let text = String::from_utf8_lossy(data);
        let values = text
            .split([',', ';'])
            .filter_map(|pair| {
                let mut parts = pair.split('=');
                let key = parts.next()?.trim();
                let value = parts.next().unwrap_or("").trim();
                let value = if value.is_empty() {
                    -1
                } else {
                    value.parse().ok()?
                };
                (!key.is_empty()).then(|| (key.to_owned(), value))
            })
            .collect();
        StatsTrack { values }
    }

    pub fn get(&self, key: &str) -> i64 {
        self.values.get(key).copied().unwrap_or(-1)
    }

    pub fn set(&mut self, key: &str, value: i64) {
        self.values.insert(key.to_owned(), value);
    }

    /// ZooKeeper's text: count and bytes first; any other values after an extra `=` (which
    /// older parsers ignore), sorted by name.
    pub fn to_text(&self) -> String {
        let mut text = format!("{COUNT}={},{BYTES}={}", self.get(COUNT), self.get(BYTES));
        let mut rest = self
            .values
            .iter()
            .filter(|(key, _)| *key != COUNT && *key != BYTES)
            .peekable();
        if rest.peek().is_some() {
            text.push('=');
            for (key, value) in rest {
                text.push_str(&format!(";{key}={value}"));
            }
        }
        text
    }
}

/// `/zookeeper/quota<path>/zookeeper_stats`.
pub fn stats_path(quota_path: &str) -> String {
    format!("{QUOTA_ROOT}{quota_path}/{STATS}")
}

fn limits_path(quota_path: &str) -> String {
    format!("{QUOTA_ROOT}{quota_path}/{LIMITS}")
}

/// The quota'd path a stats node counts for, when `path` names one.
pub fn counted_by_stats_node(path: &str) -> Option<&str> {
    quota_path_of(path, STATS)
}

/// The quota'd path a limits node limits, when `path` names one.
pub fn limited_by_limits_node(path: &str) -> Option<&str> {
    quota_path_of(path, LIMITS)
}

fn quota_path_of<'a>(path: &'a str, leaf: &str) -> Option<&'a str> {
    path.strip_prefix(QUOTA_ROOT)?
        .strip_suffix(leaf)?
        .strip_suffix('/')
        .filter(|quota_path| quota_path.starts_with('/'))
}

/// The quota'd path whose quota covers `path`: the longest of `path` and its ancestors with a
/// limits node. Nothing under `/zookeeper` counts, nor does `/`. Cheap when no quota is set.
pub fn covering(tree: &(impl TreeView + ?Sized), path: &str) -> Option<String> {
    if path == "/zookeeper" || path.starts_with("/zookeeper/") {
        return None;
    }
    if tree
        .get(QUOTA_ROOT)
        .is_none_or(|root| root.num_children == 0)
    {
        return None;
    }
    let mut candidate = path;
    while candidate.len() > 1 {
        if tree.get(&limits_path(candidate)).is_some() {
            return Some(candidate.to_owned());
        }
        candidate = &candidate[..candidate.rfind('/').unwrap_or(0)];
    }
    None
}

/// Adds a change of `count` nodes and `bytes` of data to a stats text.
pub fn add_to_stats(stats: &[u8], count: i64, bytes: i64) -> String {
    let mut track = StatsTrack::parse(stats);
    track.set(COUNT, track.get(COUNT) + count);
    track.set(BYTES, track.get(BYTES) + bytes);
    track.to_text()
}

/// The stats text of a subtree that holds `count` nodes and `bytes` of data.
pub fn stats_text(count: i64, bytes: i64) -> String {
    let mut track = StatsTrack::default();
    track.set(COUNT, count);
    track.set(BYTES, bytes);
    track.to_text()
}

/// ZooKeeper's `checkQuota` for a write that adds `count` nodes and `bytes` of data under
/// `path`: over a hard limit it fails, over a soft one it is logged.
pub fn check(
    tree: &(impl TreeView + ?Sized),
    path: &str,
    count: i64,
    bytes: i64,
) -> Result<(), ErrorCode> {
    let Some(quota_path) = covering(tree, path) else {
        return Ok(());
    };
    let read = |path: &str| {
        tree.get(path)
            .map(|node| StatsTrack::parse(node.data().unwrap_or_default()))
    };
    let (Some(limits), Some(stats)) = (
        read(&limits_path(&quota_path)),
        read(&stats_path(&quota_path)),
    ) else {
        return Ok(());
    };
    let dimensions = [
        (COUNT, COUNT_HARD_LIMIT, count),
        (BYTES, BYTE_HARD_LIMIT, bytes),
    ];
    for (soft, hard, change) in dimensions {
        let (limit, is_hard) = match (limits.get(hard), limits.get(soft)) {
            (hard_limit, _) if hard_limit > -1 => (hard_limit, true),
            (_, soft_limit) if soft_limit > -1 => (soft_limit, false),
            _ => continue,
        };
        let total = stats.get(soft) + change;
        if change == 0 || total <= limit {
            continue;
        }
        tracing::warn!(quota = %quota_path, total, limit, hard = is_hard, "quota exceeded ({soft})");
        if is_hard {
            return Err(ErrorCode::QuotaExceeded);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_text_reads_and_writes_as_zookeeper_does() {
        let limits = StatsTrack::parse(b"count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=3");
        assert_eq!(
            (
                limits.get(COUNT),
                limits.get(BYTES),
                limits.get(COUNT_HARD_LIMIT)
            ),
            (5, -1, 3)
        );
        assert_eq!(
            limits.to_text(),
            "count=5,bytes=-1=;byteHardLimit=-1;countHardLimit=3"
        );
        assert_eq!(
            StatsTrack::parse(b"count=0,bytes=0").to_text(),
            "count=0,bytes=0"
        );
        assert_eq!(StatsTrack::parse(b"").to_text(), "count=-1,bytes=-1");
        assert_eq!(StatsTrack::parse(b"count=,bytes=x").get(COUNT), -1);
        assert_eq!(add_to_stats(b"count=2,bytes=10", 1, 5), "count=3,bytes=15");
        assert_eq!(stats_text(4, 7), "count=4,bytes=7");
    }

    #[test]
    fn stats_nodes_name_the_path_they_count() {
        assert_eq!(
            counted_by_stats_node("/zookeeper/quota/a/b/zookeeper_stats"),
            Some("/a/b")
        );
        assert_eq!(
            counted_by_stats_node("/zookeeper/quota/zookeeper_stats"),
            None
        );
        assert_eq!(
            counted_by_stats_node("/zookeeper/quota/a/zookeeper_limits"),
            None
        );
        assert_eq!(counted_by_stats_node("/a/zookeeper_stats"), None);
        assert_eq!(stats_path("/a"), "/zookeeper/quota/a/zookeeper_stats");
    }
}
