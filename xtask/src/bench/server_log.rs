//! What a server wrote to its log while under load: ERROR and WARN lines, counted and sampled,
//! because a benchmark that only prints figures would hide a server that is quietly failing.
//! Both log formats put the level among the first words of a line: ours (tracing) after the
//! timestamp, ZooKeeper's log4j pattern after `<date> <time> -`.

use std::fmt;
use std::path::Path;

/// Lines of each kind kept as examples.
const SAMPLES: usize = 3;
/// Where the level may stand in a line (timestamp words and separators come first).
const LEVEL_WITHIN_WORDS: usize = 4;

/// ERROR and WARN lines of one or more logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogFindings {
    pub errors: usize,
    pub warnings: usize,
    /// The first few ERROR lines, then the first few WARN lines.
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    Error,
    Warn,
}

fn level_of(line: &str) -> Option<Level> {
    line.split_whitespace()
        .take(LEVEL_WITHIN_WORDS)
        .find_map(|word| match word {
            "ERROR" => Some(Level::Error),
            "WARN" => Some(Level::Warn),
            _ => None,
        })
}

impl LogFindings {
    /// Counts the ERROR and WARN lines of `text`, labelling samples with `source`.
    pub fn scan(source: &str, text: &str) -> Self {
        let mut findings = LogFindings::default();
        let mut error_samples = Vec::new();
        let mut warn_samples = Vec::new();
        for line in text.lines() {
            let (count, samples) = match level_of(line) {
                Some(Level::Error) => (&mut findings.errors, &mut error_samples),
                Some(Level::Warn) => (&mut findings.warnings, &mut warn_samples),
                None => continue,
            };
            *count += 1;
            if samples.len() < SAMPLES {
                samples.push(format!("{source}: {}", line.trim()));
            }
        }
        findings.samples = error_samples;
        findings.samples.extend(warn_samples);
        findings
    }

    /// [`LogFindings::scan`] of a file; a missing file has nothing to report.
    pub fn scan_file(source: &str, path: &Path) -> Self {
        std::fs::read(path).map_or_else(
            |_| LogFindings::default(),
            |bytes| Self::scan(source, &String::from_utf8_lossy(&bytes)),
        )
    }

    /// Adds another log's findings (keeping every sample: callers scan a handful of logs).
    pub fn merge(&mut self, other: LogFindings) {
        self.errors += other.errors;
        self.warnings += other.warnings;
        self.samples.extend(other.samples);
    }
}

impl fmt::Display for LogFindings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ERROR and {} WARN lines in the server logs",
            self.errors, self.warnings
        )?;
        for sample in &self.samples {
            write!(f, "\n    {sample}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_levels_in_both_formats() {
        let ours = "2025-01-02T03:04:05.678901Z  WARN zk_peer::learner: leader went away\n\
                    2025-01-02T03:04:05.678901Z  INFO zk_server: serving clients\n\
                    2025-01-02T03:04:05.678901Z ERROR zk_server::conn: WARN in a message\n";
        let findings = LogFindings::scan("node1", ours);
        assert_eq!((findings.errors, findings.warnings), (1, 1));
        assert_eq!(
            findings.samples,
            vec![
                "node1: 2025-01-02T03:04:05.678901Z ERROR zk_server::conn: WARN in a message",
                "node1: 2025-01-02T03:04:05.678901Z  WARN zk_peer::learner: leader went away",
            ]
        );
        let java = "2025-01-02 03:04:05,678 - WARN  [QuorumPeer:Learner@1] - Exception\n\
                    2025-01-02 03:04:05,678 - INFO  [main:QuorumPeer@2] - ERROR is only text\n";
        let findings = LogFindings::scan("node2", java);
        assert_eq!((findings.errors, findings.warnings), (0, 1));
    }

    #[test]
    fn keeps_a_few_samples_and_merges() {
        let text = "x ERROR a\n".repeat(10);
        let mut findings = LogFindings::scan("n1", &text);
        assert_eq!(findings.errors, 10);
        assert_eq!(findings.samples.len(), SAMPLES);
        findings.merge(LogFindings::scan("n2", "y WARN b\n"));
        assert_eq!((findings.errors, findings.warnings), (10, 1));
        assert_eq!(
            findings.samples.last().map(String::as_str),
            Some("n2: y WARN b")
        );
        assert!(
            findings
                .to_string()
                .starts_with("10 ERROR and 1 WARN lines")
        );
        let missing = LogFindings::scan_file("n3", Path::new("no/such/log"));
        assert_eq!(missing, LogFindings::default());
    }
}
