//! The replay benchmark's report: the Markdown table of ratios against each target, then the
//! per-round figures behind it.

use std::thread;

use super::machine::load_average;
use super::{Config, Measurement, VariantTimings};

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

pub fn print(config: &Config, results: &[Measurement], load_before: &str) {
    if config.smoke {
        println!("Smoke run (not a measurement; run `cargo bench --bench replay`).\n");
    }
    println!(
        "| workload | machine | route | rounds | direct median (s) | replaygate median (s) | ratio | target \
         | min direct / min replaygate (s) | stmt/s direct / replaygate | replaygate CPU µs/stmt \
         | peak RSS |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---|---:|---:|---:|---:|");
    for m in results {
        for v in &m.variants {
            println!("{}", table_row(m, v));
        }
    }
    println!();
    println!(
        "- machine: {} CPUs; load average before {load_before}, after {}; busy loops: {}{}",
        thread::available_parallelism().map_or(0, usize::from),
        load_average(),
        config.spinners,
        if config.idle && config.spinners > 0 {
            ", then none for the idle rows"
        } else {
            ""
        }
    );
    for m in results {
        println!(
            "- {} ({}): {:.1} MiB, {} statements, {} rows; direct rounds: {} (mariadbd CPU s: {})",
            m.name,
            m.machine,
            m.stream_bytes as f64 / (1024.0 * 1024.0),
            m.statements,
            m.rows,
            seconds_list(&m.direct),
            seconds_list(&m.target_cpu_direct)
        );
        for v in &m.variants {
            println!(
                "- {} ({}), {}: rounds {}; CPU s replaygate {}, mariadbd {}",
                m.name,
                m.machine,
                v.variant.label,
                seconds_list(&v.seconds),
                seconds_list(&v.proxy_cpu),
                seconds_list(&v.target_cpu),
            );
        }
    }
}

fn table_row(m: &Measurement, v: &VariantTimings) -> String {
    let direct = median(&m.direct);
    let proxy = median(&v.seconds);
    let ratio = proxy / direct;
    let target = v.variant.target_ratio;
    let verdict = if ratio <= target { "met" } else { "MISSED" };
    // Other work on the machine only ever adds time: the fastest rounds show the floor.
    let fastest = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let (min_direct, min_proxy) = (fastest(&m.direct), fastest(&v.seconds));
    let rss = v.proxy_peak_rss_kib.map_or("unknown".to_string(), |kib| {
        format!("{:.1} MiB", kib as f64 / 1024.0)
    });
    format!(
        "| {} | {} | {} | {} | {direct:.3} | {proxy:.3} | {ratio:.3}x | ≤ {target}x {verdict} \
         | {min_direct:.3} / {min_proxy:.3} ({:.3}x) | {:.0} / {:.0} | {:.1} | {rss} |",
        m.name,
        m.machine,
        v.variant.label,
        m.direct.len(),
        min_proxy / min_direct,
        m.statements as f64 / direct,
        m.statements as f64 / proxy,
        median(&v.proxy_cpu) * 1e6 / m.statements.max(1) as f64,
    )
}

fn seconds_list(values: &[f64]) -> String {
    values
        .iter()
        .map(|s| format!("{s:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}
