//! Pure arithmetic of the benchmark: latency tallies, percentiles, medians of repetitions.

use std::time::Duration;

/// What one session (or, merged, one run) saw inside the measurement window.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tally {
    /// Replies received inside the window, errors included.
    pub ops: u64,
    /// Replies with a non-zero error code.
    pub errors: u64,
    /// Round-trip time of every reply counted in `ops`, in microseconds.
    pub latencies_us: Vec<u32>,
}

impl Tally {
    pub fn record(&mut self, latency: Duration, err: i32) {
        self.ops += 1;
        if err != 0 {
            self.errors += 1;
        }
        let micros = u32::try_from(latency.as_micros()).unwrap_or(u32::MAX);
        self.latencies_us.push(micros);
    }

    pub fn merge(&mut self, other: Tally) {
        self.ops += other.ops;
        self.errors += other.errors;
        self.latencies_us.extend(other.latencies_us);
    }

    /// Throughput and latency percentiles over a window of `window` length.
    pub fn summarize(mut self, window: Duration) -> RunResult {
        self.latencies_us.sort_unstable();
        let secs = window.as_secs_f64();
        RunResult {
            ops_per_sec: if secs > 0.0 {
                self.ops as f64 / secs
            } else {
                0.0
            },
            p50_us: percentile(&self.latencies_us, 50.0),
            p99_us: percentile(&self.latencies_us, 99.0),
            errors: self.errors,
            server_cores: 0.0,
            client_cores: 0.0,
        }
    }
}

/// One measured run of one scenario at one client count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunResult {
    pub ops_per_sec: f64,
    pub p50_us: f64,
    pub p99_us: f64,
    pub errors: u64,
    /// CPU the server used over the window, in cores.
    pub server_cores: f64,
    /// CPU the load generator used over the window, in cores.
    pub client_cores: f64,
}

impl RunResult {
    /// The median of each figure over repetitions (each taken separately); errors are summed
    /// so that none is hidden.
    pub fn median_of(runs: &[RunResult]) -> Option<RunResult> {
        Some(RunResult {
            ops_per_sec: median(runs.iter().map(|r| r.ops_per_sec))?,
            p50_us: median(runs.iter().map(|r| r.p50_us))?,
            p99_us: median(runs.iter().map(|r| r.p99_us))?,
            errors: runs.iter().map(|r| r.errors).sum(),
            server_cores: median(runs.iter().map(|r| r.server_cores))?,
            client_cores: median(runs.iter().map(|r| r.client_cores))?,
        })
    }
}

/// Nearest-rank percentile of sorted values (0 when there are none).
pub fn percentile(sorted: &[u32], pct: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (pct / 100.0 * sorted.len() as f64).ceil() as usize;
    let index = rank.clamp(1, sorted.len()) - 1;
    sorted.get(index).map_or(0.0, |&v| f64::from(v))
}

/// The median (mean of the two middle values for an even count); `None` for no values.
pub fn median(values: impl IntoIterator<Item = f64>) -> Option<f64> {
    let mut values: Vec<f64> = values.into_iter().collect();
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    match values.len() {
        0 => None,
        n if n % 2 == 1 => values.get(mid).copied(),
        _ => Some((values.get(mid - 1)? + values.get(mid)?) / 2.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let values: Vec<u32> = (1..=100).collect();
        assert_eq!(percentile(&values, 50.0), 50.0);
        assert_eq!(percentile(&values, 99.0), 99.0);
        assert_eq!(percentile(&values, 100.0), 100.0);
        assert_eq!(percentile(&[7], 99.0), 7.0);
        assert_eq!(percentile(&[3, 9], 50.0), 3.0);
        assert_eq!(percentile(&[3, 9], 99.0), 9.0);
        assert_eq!(percentile(&[], 50.0), 0.0);
    }

    #[test]
    fn medians_of_odd_and_even_counts() {
        assert_eq!(median([3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median([4.0, 1.0, 3.0, 2.0]), Some(2.5));
        assert_eq!(median([]), None);
    }

    #[test]
    fn a_tally_summarizes_into_rates_and_percentiles() {
        let mut first = Tally::default();
        for micros in [100, 200, 300] {
            first.record(Duration::from_micros(micros), 0);
        }
        let mut second = Tally::default();
        second.record(Duration::from_micros(1000), -101);
        first.merge(second);
        let result = first.summarize(Duration::from_secs(2));
        assert_eq!(result.ops_per_sec, 2.0);
        assert_eq!(result.p50_us, 200.0);
        assert_eq!(result.p99_us, 1000.0);
        assert_eq!(result.errors, 1);
    }

    #[test]
    fn repetitions_are_reduced_figure_by_figure() {
        let run = |ops_per_sec, p50_us, p99_us, errors| RunResult {
            ops_per_sec,
            p50_us,
            p99_us,
            errors,
            server_cores: p50_us / 10.0,
            client_cores: 1.0,
        };
        let runs = [
            run(10.0, 5.0, 90.0, 0),
            run(30.0, 1.0, 70.0, 2),
            run(20.0, 3.0, 80.0, 0),
        ];
        assert_eq!(RunResult::median_of(&runs), Some(run(20.0, 3.0, 80.0, 2)));
        assert_eq!(
            RunResult::median_of(&runs).map(|r| r.server_cores),
            Some(0.3)
        );
        assert_eq!(RunResult::median_of(&[]), None);
    }
}
