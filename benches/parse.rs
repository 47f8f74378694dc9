//! Parse + validate benchmark: median wall time to load each example, and how fast hostile
//! inputs are refused. Run: `cargo bench --bench parse`.

use std::path::Path;
use std::time::{Duration, Instant};

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time<F: FnMut()>(runs: usize, mut f: F) -> Duration {
    median(
        (0..runs)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmHWM:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        .unwrap_or(0)
}

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut names: Vec<_> = std::fs::read_dir(root.join("examples")).unwrap().map(|e| e.unwrap().path()).collect();
    names.sort();
    println!("{:<28} {:>10}", "input", "median");
    for path in names {
        let bytes = std::fs::read(&path).unwrap();
        let d = time(200, || {
            kubeboot::config::load("bench.yaml", &bytes).unwrap();
        });
        println!("{:<28} {:>8.1}µs", path.file_name().unwrap().to_string_lossy(), d.as_secs_f64() * 1e6);
    }
    for name in ["35-alias-bomb.yaml", "36-deep-nesting.yaml"] {
        let bytes = std::fs::read(root.join("tests/bad-input").join(name)).unwrap();
        let d = time(50, || {
            kubeboot::config::load("bench.yaml", &bytes).unwrap_err();
        });
        println!("{:<28} {:>8.1}µs (refused)", name, d.as_secs_f64() * 1e6);
    }
    println!("peak RSS: {} KiB", peak_rss_kib());
}
