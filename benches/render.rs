//! Full control-plane render benchmark: `kubeboot render` of examples/control-plane.yaml into a
//! fresh temp root, with RSA-2048 and with ECDSA-P256. Reports the median wall time of the
//! release binary (process start to exit), its peak RSS (GNU time's %M), and for RSA the bound
//! the render should stay within: 1.5 × (sum of the 16 RSA key generations ÷ cores).
//!
//! Run: `cargo bench --bench render` (release build of the kubeboot binary).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kubeboot::config::EncryptionAlgorithm;
use kubeboot::pki::{PrivateKey, generate_many};

/// Keys in a full control-plane render: 10 certificates, sa, 5 kubeconfig client certificates.
const KEYS_PER_NODE: usize = 16;

fn config_text(algorithm: &str) -> String {
    let example = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/control-plane.yaml"))
        .expect("examples/control-plane.yaml");
    example.replace("cluster:\n", &format!("cluster:\n  encryptionAlgorithm: {algorithm}\n"))
}

fn render_cmd(config: &Path, root: &Path, dry_run: bool) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubeboot"));
    if dry_run {
        c.arg("--dry-run");
    }
    c.arg("render").arg("--config").arg(config).arg("--root").arg(root).stdout(Stdio::null()).stderr(Stdio::piped());
    c
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Median wall time of `runs` full renders, each into a fresh root, and of as many dry runs
/// (everything but the writes), plus the peak RSS of one more render.
fn bench_render(algorithm: &str, runs: usize) -> (Duration, Duration, u64) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("node.yaml");
    std::fs::write(&config, config_text(algorithm)).unwrap();
    let (mut times, mut dry_times) = (Vec::new(), Vec::new());
    for i in 0..runs {
        for (dry_run, times) in [(false, &mut times), (true, &mut dry_times)] {
            let root = dir.path().join(format!("root-{i}-{dry_run}"));
            let start = Instant::now();
            let out = render_cmd(&config, &root, dry_run).output().unwrap();
            times.push(start.elapsed());
            assert!(out.status.success(), "render failed: {}", String::from_utf8_lossy(&out.stderr));
        }
    }
    // Peak RSS of one more render, measured by GNU time around the binary.
    let root = dir.path().join("root-rss");
    let mut c = Command::new("/usr/bin/time");
    c.args(["-f", "%M"]).arg(env!("CARGO_BIN_EXE_kubeboot"));
    c.arg("render").arg("--config").arg(&config).arg("--root").arg(&root).stdout(Stdio::null());
    let out = c.output().expect("GNU time (/usr/bin/time) is needed for the RSS figure");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let rss_kb = stderr.lines().last().and_then(|l| l.trim().parse().ok()).unwrap_or(0);
    (median(times), median(dry_times), rss_kb)
}

/// Median over `reps` of the time to generate KEYS_PER_NODE RSA-2048 keys one after another,
/// and in parallel on all cores as the render does.
fn rsa_keygen(reps: usize) -> (Duration, Duration) {
    let (mut sequential, mut parallel) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let start = Instant::now();
        for _ in 0..KEYS_PER_NODE {
            PrivateKey::generate(EncryptionAlgorithm::Rsa2048).unwrap();
        }
        sequential.push(start.elapsed());
        let start = Instant::now();
        generate_many(EncryptionAlgorithm::Rsa2048, KEYS_PER_NODE).unwrap();
        parallel.push(start.elapsed());
    }
    (median(sequential), median(parallel))
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` only smoke-test one render.
    if !std::env::args().any(|a| a == "--bench") {
        bench_render("ECDSA-P256", 1);
        println!("render bench: smoke run passed (use `cargo bench --bench render` for figures)");
        return;
    }
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("kubeboot render benchmark ({cores} cores, load average {})", load_average());

    let (ecdsa, ecdsa_dry, ecdsa_rss) = bench_render("ECDSA-P256", 21);
    println!(
        "ECDSA-P256 full render: median {:.1} ms over 21 runs (target < 50 ms); dry run (no writes) {:.1} ms; \
         peak RSS {:.1} MB (target < 30 MB)",
        ms(ecdsa),
        ms(ecdsa_dry),
        ecdsa_rss as f64 / 1024.0
    );

    let (sequential, parallel) = rsa_keygen(7);
    let bound = sequential.mul_f64(1.5 / cores as f64);
    let (rsa, rsa_dry, rsa_rss) = bench_render("RSA-2048", 9);
    println!(
        "RSA-2048 full render: median {:.0} ms over 9 runs (dry run {:.0} ms); {KEYS_PER_NODE} RSA-2048 keygens: \
         sequential {:.0} ms, parallel {:.0} ms; target ≤ 1.5 × sequential ÷ {cores} cores = {:.0} ms ({}); \
         peak RSS {:.1} MB",
        ms(rsa),
        ms(rsa_dry),
        ms(sequential),
        ms(parallel),
        ms(bound),
        if rsa <= bound { "met" } else { "MISSED" },
        rsa_rss as f64 / 1024.0
    );
    println!("load average after: {}", load_average());
}
