//! The bad-input corpus: every malformed user-data under tests/bad-input/ must be refused
//! with its exact file:line:column and a message that says what is wrong, exit 2, and leave
//! the --root directory completely empty. Expectations are written here from the files.

use std::path::{Path, PathBuf};
use std::process::Command;

const CORPUS: &[(&str, usize, usize, &str)] = &[
    ("01-syntax-error.yaml", 5, 1, "YAML syntax error"),
    ("02-tab-indent.yaml", 5, 1, "tab used for indentation"),
    ("03-unknown-top-key.yaml", 4, 1, "unknown key `nodes`; did you mean `node`?"),
    ("04-misspelled-key.yaml", 5, 3, "did you mean `advertiseAddress`?"),
    ("05-duplicate-key.yaml", 6, 3, "duplicate key `name` (first defined at line 5)"),
    ("06-wrong-type-map.yaml", 4, 7, "node: expected a mapping"),
    ("07-wrong-type-list.yaml", 5, 3, "bootstrapTokens: expected a list"),
    ("08-yaml11-bool.yaml", 4, 14, "YAML 1.1 boolean"),
    ("09-octal-port.yaml", 5, 13, "leading zero"),
    ("10-null-string.yaml", 5, 9, "cluster.name: is empty (null)"),
    ("11-unquoted-version.yaml", 5, 22, "is read as a number"),
    ("12-overlapping-cidrs.yaml", 7, 16, "overlaps the service subnet"),
    ("13-bad-cidr.yaml", 6, 20, "is not a CIDR"),
    ("14-service-too-large.yaml", 6, 20, "too large; the largest allowed is /12"),
    ("15-service-too-small.yaml", 6, 20, "fewer than 10 addresses"),
    ("16-bad-node-name.yaml", 5, 9, "not a valid node name"),
    ("17-bad-token.yaml", 5, 12, "bootstrapTokens.0.token: must match"),
    ("18-bad-ca-hash.yaml", 8, 7, "must be sha256: followed by 64 hex"),
    ("19-bad-certificate-key.yaml", 5, 17, "certificateKey: must be 64 hexadecimal"),
    ("20-unsupported-version.yaml", 5, 22, "v1.29.4 is not supported"),
    ("21-join-without-pin.yaml", 4, 1, "join.caCertHashes: token discovery needs at least one CA pin"),
    ("22-unspecified-advertise.yaml", 5, 21, "is unspecified"),
    ("23-bad-role.yaml", 3, 7, "`master` is not one of: control-plane, control-plane-join, worker"),
    ("24-missing-role.yaml", 1, 1, "role: is required but missing"),
    ("25-wrong-api-version.yaml", 1, 13, "apiVersion: must be kubeboot.io/v1alpha1"),
    ("26-bad-duration.yaml", 5, 14, "is not a duration"),
    ("27-unknown-feature-gate.yaml", 6, 36, "did you mean `ControlPlaneKubeletLocalMode`?"),
    ("28-kubeadm-unknown-field.yaml", 6, 3, "networking.podCIDR: unknown key"),
    ("29-kubeadm-v1beta3-list-args.yaml", 6, 5, "apiServer.extraArgs: expected a mapping"),
    ("30-cloud-config-without-key.yaml", 1, 1, "no `kubeboot:` key"),
    ("31-port-out-of-range.yaml", 5, 13, "70000 is out of range"),
    ("32-ignore-unknown-check.yaml", 6, 7, "`Swapp` is not a preflight check name"),
    ("33-unquoted-arg-value.yaml", 8, 16, "quote it (\"30\")"),
    ("34-ecdsa-p384-old-version.yaml", 6, 24, "ECDSA-P384 needs Kubernetes v1.34"),
    ("35-alias-bomb.yaml", 5, 28, "alias bomb"), // the byte budget (issue 16) stops it 1 alias earlier
    ("36-deep-nesting.yaml", 1, 256, "nesting deeper"),
    ("37-invalid-utf8.yaml", 5, 12, "invalid UTF-8"),
    ("38-bom.yaml", 1, 1, "byte-order mark"),
    ("39-empty.yaml", 1, 1, "user-data is empty"),
    ("40-whitespace-only.yaml", 1, 1, "user-data is empty"),
    ("41-secret-in-wrong-type.yaml", 6, 10, "join.token: the value (a secret, not shown)"),
    ("42-control-plane-with-join.yaml", 4, 1, "only a joining node"),
    ("43-many-problems.yaml", 9, 1, "join.caCertHashes"),
    ("44-path-traversal.yaml", 5, 20, "must not contain `..`"),
    ("45-relative-host-path.yaml", 8, 19, "must be an absolute path"),
    ("46-skip-phase-all.yaml", 6, 3, "skip `certs` to skip every sub-phase"),
    ("47-kubeadm-skip-check-etcd.yaml", 10, 3, "`check-etcd` cannot be skipped on its own"),
    ("48-worker-taint-time-added.yaml", 8, 16, "remove timeAdded"),
    ("49-kubeadm-rootless-gate.yaml", 6, 25, "RootlessControlPlane is not implemented"),
    ("50-kubeadm-reset-unknown-field.yaml", 7, 1, "unknown key `cleanupTmpdir`; did you mean `cleanupTmpDir`?"),
];

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/bad-input")
}

/// Runs `kubeboot <cmd> --config FILE --root ROOT` and returns (exit code, stderr, files under root).
fn run(cmd: &str, file: &Path) -> (i32, String, usize) {
    let root = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubeboot"))
        .args([cmd, "--config"])
        .arg(file)
        .arg("--root")
        .arg(root.path())
        .output()
        .unwrap();
    let created = walk(root.path());
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stderr).into_owned(), created)
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).map(|p| if p.is_dir() { 1 + walk(&p) } else { 1 }).sum()
}

#[test]
fn corpus_is_complete() {
    let files = std::fs::read_dir(corpus_dir()).unwrap().count();
    assert_eq!(files, CORPUS.len(), "every file in tests/bad-input needs an expectation here");
    assert!(files >= 30);
}

#[test]
fn every_bad_input_is_refused_with_its_location_and_changes_nothing() {
    let mut failures = vec![];
    for (name, line, col, needle) in CORPUS {
        let path = corpus_dir().join(name);
        for cmd in ["init", "join"] {
            let (code, stderr, created) = run(cmd, &path);
            let location = format!("{}:{line}:{col}:", path.display());
            if code != 2 || !stderr.contains(&location) || !stderr.contains(needle) || created != 0 {
                failures.push(format!("{cmd} {name}: exit {code}, {created} files created, stderr:\n{stderr}"));
            }
        }
    }
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn all_problems_are_reported_at_once() {
    let (_, stderr, _) = run("join", &corpus_dir().join("43-many-problems.yaml"));
    assert!(stderr.contains("(4 problems)"), "{stderr}");
    for needle in ["5:9: node.name", "6:13: node.bindPort", "8:22: cluster.kubernetesVersion", "9:1: join.caCertHashes"]
    {
        assert!(stderr.contains(needle), "missing {needle} in:\n{stderr}");
    }
}

#[test]
fn secret_values_are_never_echoed() {
    let (_, stderr, _) = run("join", &corpus_dir().join("41-secret-in-wrong-type.yaml"));
    assert!(!stderr.contains("123456"), "the token value leaked into:\n{stderr}");
    let (_, stderr, _) = run("init", &corpus_dir().join("17-bad-token.yaml"));
    assert!(!stderr.contains("0123456789abcdef"), "the token secret leaked into:\n{stderr}");
}

#[test]
fn oversize_input_is_refused_before_parsing() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.yaml");
    let mut text = String::from("apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\n");
    while text.len() <= 1024 * 1024 {
        text.push_str("# padding padding padding padding padding padding padding padding\n");
    }
    std::fs::write(&big, text).unwrap();
    let (code, stderr, created) = run("init", &big);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("1 MiB") || stderr.contains("1048576"), "{stderr}");
    assert_eq!(created, 0);
}

/// UD-07: deep nesting is refused without exhausting a small stack (as in a constrained early-boot unit).
#[test]
fn deep_nesting_is_refused_on_a_one_mib_stack() {
    let text = "[".repeat(10_000) + &"]".repeat(10_000);
    let nested_maps: String = (0..1_200).map(|i| format!("{}k{i}:\n", " ".repeat(i))).collect();
    let handle = std::thread::Builder::new()
        .stack_size(1024 * 1024)
        .spawn(move || {
            let a = kubeboot::config::load("flow.yaml", text.as_bytes()).unwrap_err().to_string();
            let b = kubeboot::config::load("block.yaml", nested_maps.as_bytes()).unwrap_err().to_string();
            (a, b)
        })
        .unwrap();
    let (a, b) = handle.join().expect("parser overflowed a 1 MiB stack");
    assert!(a.contains("nesting deeper"), "{a}");
    assert!(b.contains("nesting deeper"), "{b}");
}
