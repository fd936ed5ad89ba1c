//! The machine a run measures on, and this process's CPU time.

use std::time::Duration;

use serde::Serialize;

/// What the report says about the machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Machine {
    /// CPUs this process may use (what `nproc` prints).
    pub nproc: usize,
    /// `model name` from `/proc/cpuinfo`, or `"unknown"`.
    pub cpu_model: String,
    /// Operating system and kernel release, e.g. `linux 6.8.0`.
    pub os: String,
    /// Whether this binary was built with optimizations (`--release`).
    pub release_build: bool,
}

impl Machine {
    /// Reads the machine's description.
    pub fn detect() -> Self {
        let cpu_model = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|line| line.starts_with("model name"))
                    .and_then(|line| line.split_once(':'))
                    .map(|(_, model)| model.trim().to_string())
            })
            .unwrap_or_else(|| "unknown".to_string());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|release| release.trim().to_string())
            .unwrap_or_default();
        Machine {
            nproc: std::thread::available_parallelism().map_or(1, usize::from),
            cpu_model,
            os: format!("{} {kernel}", std::env::consts::OS)
                .trim()
                .to_string(),
            release_build: !cfg!(debug_assertions),
        }
    }
}

/// The 1, 5 and 15 minute load averages (`/proc/loadavg`), e.g. `"0.52 0.40 0.31"`: other
/// work on the machine competes with the nodes for CPU and skews timings, so reports
/// record it. `None` where unavailable.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// This process's CPU time: user + system, every thread, including threads that have
/// ended, from the kernel's `CLOCK_PROCESS_CPUTIME_ID` (nanosecond accounting; the same
/// total `getrusage` and `/proc/self/stat` report, without their 1 µs and 10 ms
/// truncations).
pub fn process_cpu_time() -> Option<Duration> {
    #[cfg(unix)]
    {
        let time = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
        let seconds = u64::try_from(time.tv_sec).ok()?;
        let nanos = u32::try_from(time.tv_nsec).ok()?;
        Some(Duration::new(seconds, nanos))
    }
    #[cfg(not(unix))]
    {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn process_time_advances_with_work() {
        let Some(before) = process_cpu_time() else {
            return; // no CPU clock on this platform
        };
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed() < Duration::from_millis(100) {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
        }
        std::hint::black_box(x);
        let after = process_cpu_time().unwrap();
        assert!(
            after >= before + Duration::from_millis(50),
            "{before:?} -> {after:?}"
        );
    }
}
