//! Crash consistency over the real phases that run without a kubelet or API server (preflight,
//! certs, kubeconfig, etcd, control-plane): SIGKILL at every phase boundary through the failpoint, re-run, and the
//! final root must match a clean run's — same paths and modes, identical static Pod manifests,
//! key material written before the crash reused (not regenerated), no temp files left.

mod firstboot_common;

use std::collections::BTreeMap;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;

use firstboot_common::*;

const META: &str = "instance-id: iid-crash\nlocal-hostname: cp-1\n";

fn phases() -> Vec<&'static str> {
    let mut p = vec!["preflight"];
    p.extend(FILE_PHASES);
    p
}

fn run_file_phases(root: &Root, failpoint: Option<&str>) -> std::process::Output {
    let mut cmd = root.kubeboot();
    if let Some(fp) = failpoint {
        cmd.env("KUBEBOOT_FAILPOINT", fp);
    }
    cmd.args(["run", "--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&phases())]).output().unwrap()
}

/// What must match between runs: every path with its mode, and contents where rendering is
/// deterministic (manifests). Status and journal carry timestamps: only their presence counts.
fn shape(root: &Root) -> BTreeMap<PathBuf, (u32, Option<Vec<u8>>)> {
    snapshot(root.path())
        .into_iter()
        .map(|(p, e)| {
            let deterministic = p.starts_with("etc/kubernetes/manifests");
            (p, (e.mode, deterministic.then_some(e.contents)))
        })
        .collect()
}

fn keys(root: &Root) -> BTreeMap<PathBuf, Vec<u8>> {
    all_files(root.path()).into_iter().filter(|(p, _)| p.extension().is_some_and(|x| x == "key")).collect()
}

#[test]
fn crash_at_every_phase_boundary_converges_to_a_clean_run() {
    // ECDSA keys: eleven crashed-and-resumed runs stay fast; RSA is covered by the render tests.
    let ud = control_plane_yaml(&Canaries::new(), None)
        .replace("  kubernetesVersion: v1.33.5\n", "  kubernetesVersion: v1.33.5\n  encryptionAlgorithm: ECDSA-P256\n")
        + IGNORE_PREFLIGHT;
    assert!(ud.contains("ECDSA-P256"));
    let clean = Root::new();
    clean.seed(&ud, META);
    let out = run_file_phases(&clean, None);
    if out.status.code() == Some(4) {
        eprintln!("SKIP: a file phase is not implemented on this branch yet:\n{}", text(&out));
        return;
    }
    assert!(out.status.success(), "clean run: {}", text(&out));
    let reference = shape(&clean);
    assert!(reference.keys().any(|p| p.starts_with("etc/kubernetes/manifests")), "the clean run wrote no manifests");

    for phase in phases() {
        for when in ["before", "after"] {
            let fp = format!("{phase}:{when}");
            let root = Root::new();
            root.seed(&ud, META);
            let out = run_file_phases(&root, Some(&fp));
            assert_eq!(out.status.signal(), Some(9), "{fp} did not fire: {}", text(&out));
            let keys_at_crash = keys(&root);

            let out = run_file_phases(&root, None);
            assert!(out.status.success(), "{fp}: resumed run failed: {}", text(&out));
            assert_eq!(shape(&root), reference, "{fp}: the resumed root differs from a clean run's");
            let keys_after = keys(&root);
            for (path, bytes) in &keys_at_crash {
                assert_eq!(keys_after.get(path), Some(bytes), "{fp}: {} was regenerated", path.display());
            }
            let temps: Vec<_> = all_files(root.path())
                .into_iter()
                .filter(|(p, _)| p.to_string_lossy().contains(".kubeboot-"))
                .collect();
            assert!(temps.is_empty(), "{fp}: temp files left: {:?}", temps.iter().map(|t| &t.0).collect::<Vec<_>>());

            let before = snapshot(root.path());
            assert!(run_file_phases(&root, None).status.success());
            assert_eq!(before, snapshot(root.path()), "{fp}: a re-run after success wrote something");
        }
    }
}
