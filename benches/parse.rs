//! Parse + validate benchmark: median wall time to load each example, how fast hostile
//! inputs are refused, and the peak RSS of the worst inputs (each in a fresh process, so one
//! case's peak does not hide another's). Run: `cargo bench --bench parse`.

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

/// 1 MiB inputs built to cost the most memory (issue 16 item 3).
fn worst_case(name: &str) -> Vec<u8> {
    use base64::Engine;
    use std::io::Write;
    const MIB: usize = 1024 * 1024;
    match name {
        // An anchored 256 KiB string aliased as often as fits: ~190,000 copies, 48 GB if made.
        "alias-long-string" => {
            let long = "x".repeat(256 * 1024);
            let n = (MIB - long.len() - 32) / 4;
            format!("a: &x \"{long}\"\nb: [{}]\n", vec!["*x"; n].join(", ")).into_bytes()
        }
        // base64 gzip parts that each expand to 1 MiB, as many as fit: ~700 MiB if all kept.
        "multipart-gzip-parts" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            e.write_all(&vec![b'#'; MIB]).unwrap();
            let part = base64::engine::general_purpose::STANDARD.encode(e.finish().unwrap());
            let one = format!("--b\nContent-Type: text/plain\nContent-Transfer-Encoding: base64\n\n{part}\n");
            let head = "Content-Type: multipart/mixed; boundary=b\n\n";
            let n = (MIB - head.len() - 8) / one.len();
            format!("{head}{}--b--\n", one.repeat(n)).into_bytes()
        }
        // One gzip stream of 256 MiB of zeros (~250 KB compressed).
        "gzip-bomb" => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
            let chunk = vec![0u8; MIB];
            for _ in 0..256 {
                e.write_all(&chunk).unwrap();
            }
            e.finish().unwrap()
        }
        _ => Vec::new(),
    }
}

const WORST: &[&str] = &["baseline", "alias-long-string", "multipart-gzip-parts", "gzip-bomb"];

/// In the child process: builds the case, drops the build-up memory's effect by reporting the
/// peak before and after the parse, and prints `<before> <after>` in KiB.
fn run_worst_case(name: &str) {
    let input = worst_case(name);
    let before = peak_rss_kib();
    let t = Instant::now();
    let refused = match kubeboot::source::userdata::unwrap(input) {
        Ok(bytes) => kubeboot::config::load("bench.yaml", &bytes).is_err(),
        Err(_) => true,
    };
    println!("{before} {} {} {refused}", peak_rss_kib(), t.elapsed().as_micros());
}

fn main() {
    if let Ok(name) = std::env::var("KUBEBOOT_BENCH_CASE") {
        return run_worst_case(&name);
    }
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
    println!();
    println!("{:<24} {:>14} {:>14} {:>10} {:>8}", "worst input (1 MiB)", "RSS before", "peak RSS", "time", "refused");
    for name in WORST {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .env("KUBEBOOT_BENCH_CASE", name)
            .output()
            .unwrap();
        let line = String::from_utf8_lossy(&out.stdout);
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 4 {
            println!("{name:<24} failed: {}", String::from_utf8_lossy(&out.stderr));
            continue;
        }
        println!("{name:<24} {:>10} KiB {:>10} KiB {:>8}µs {:>8}", f[0], f[1], f[2], f[3]);
    }
}
