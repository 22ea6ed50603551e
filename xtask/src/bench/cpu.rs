//! CPU time of a process from `/proc/<pid>/stat`, to report how many cores the server under
//! test and the load generator each used while measured (a figure less noisy than ops/s on a
//! shared machine).

use std::time::Duration;

/// Linux reports utime and stime in USER_HZ ticks, which is 100 on every architecture we run.
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time of `pid` so far.
pub fn cpu_time(pid: u32) -> Option<Duration> {
    parse_stat_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// User + system CPU time in a `/proc/<pid>/stat` line. The command name (field 2) may hold
/// spaces and parentheses, so fields are counted from the last `)`: utime and stime are
/// fields 14 and 15 of the line, the 12th and 13th after it.
pub fn parse_stat_cpu(stat: &str) -> Option<Duration> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(Duration::from_millis(
        (utime + stime) * 1000 / TICKS_PER_SEC,
    ))
}

/// Cores used over `wall` by a process whose CPU time went from `before` to `after`.
pub fn cores_used(before: Option<Duration>, after: Option<Duration>, wall: Duration) -> f64 {
    match (before, after) {
        (Some(before), Some(after)) if !wall.is_zero() => {
            after.saturating_sub(before).as_secs_f64() / wall.as_secs_f64()
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_utime_and_stime_after_an_odd_command_name() {
        let stat =
            "4562 (java (x) y) S 1 4562 4562 0 -1 4194560 36000 0 12 0 1234 566 0 0 20 0 40 0";
        assert_eq!(parse_stat_cpu(stat), Some(Duration::from_millis(18_000)));
        assert_eq!(parse_stat_cpu("4562 (java) S 1 2"), None);
        assert_eq!(parse_stat_cpu("garbage"), None);
    }

    #[test]
    fn cores_are_cpu_time_over_wall_time() {
        let cores = cores_used(
            Some(Duration::from_secs(1)),
            Some(Duration::from_secs(4)),
            Duration::from_secs(2),
        );
        assert_eq!(cores, 1.5);
        assert_eq!(
            cores_used(None, Some(Duration::ZERO), Duration::from_secs(1)),
            0.0
        );
    }

    #[test]
    fn our_own_cpu_time_is_readable() {
        assert!(cpu_time(std::process::id()).is_some());
    }
}
