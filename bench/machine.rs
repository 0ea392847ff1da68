//! The machine a benchmark runs on: whether it is kept busy, and its load (shared by the
//! benchmarks with `#[path]`, like `knobs.rs`).

use std::process::{Command, Stdio};

/// `nice -n 19` busy loops, one per count, for as long as this value lives.
///
/// On a small VM a ping-pong workload's time is dominated by waking idle vCPUs: with nothing else
/// running, every round trip pays for a halted CPU to come back. Other work on the machine (a
/// build, another test) hides that cost, so the same replay runs up to 3.5x faster on a busy
/// machine than on an idle one, and a run flips between the two whenever someone else starts a
/// build. One busy loop (the default) keeps a vCPU awake, so every round sees the "busy" regime;
/// `REPLAYGATE_BENCH_SPIN=0` measures the machine as it happens to be. Each loop also ends by
/// itself once this process is gone.
pub struct Spinners(Vec<std::process::Child>);

impl Spinners {
    pub fn start(count: usize) -> Self {
        let parent = std::process::id().to_string();
        let loops = (0..count)
            .map(|_| {
                Command::new("nice")
                    .args(["-n", "19", "sh", "-c"])
                    .arg(r#"while kill -0 "$1" 2>/dev/null; do :; done"#)
                    .args(["replaygate-bench-spinner", &parent])
                    .stdin(Stdio::null())
                    .spawn()
                    .expect("spawn a busy loop (nice, sh)")
            })
            .collect();
        Spinners(loops)
    }
}

impl Drop for Spinners {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The first three fields of `/proc/loadavg`.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_else(|_| "unknown".to_string())
}
