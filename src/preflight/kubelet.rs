//! KubeletVersion, Service-Kubelet and KubernetesVersion: the installed kubelet fits the
//! Kubernetes version being set up, and kubeboot supports that version.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Check, Problem};
use crate::config::versions::{KubeVersion, SUPPORTED_MINORS};
use crate::host::facts;

/// The kubelet may be up to three minors older than the control plane, never newer.
const KUBELET_SKEW: u32 = 3;

/// `kubelet --version` against the node's version. `check_newer` is off for joins, where
/// kubeadm does not know the control-plane version yet.
pub fn kubelet_version(check_newer: bool) -> Check {
    Check::new("KubeletVersion", move |env| {
        let target = &env.node.version;
        let fix_install = format!("install the kubelet package for Kubernetes {target}");
        let Some(path) = facts::find_executable(env.host, "kubelet", &env.path) else {
            return vec![Problem::error("couldn't get kubelet version: kubelet not found in system path", fix_install)];
        };
        let kubelet = match installed_version(&env.host.path(&path)) {
            Ok(v) => v,
            Err(e) => {
                return vec![Problem::error(format!("couldn't get kubelet version from {path}: {e}"), fix_install)];
            }
        };
        let min_minor = target.minor.saturating_sub(KUBELET_SKEW);
        if kubelet.major < target.major || (kubelet.major == target.major && kubelet.minor < min_minor) {
            return vec![Problem::error(
                format!(
                    "Kubelet version \"{kubelet}\" is lower than kubeboot can support for {target} (minimum v1.{min_minor}.0)"
                ),
                fix_install,
            )];
        }
        if check_newer && (kubelet.major > target.major || kubelet.minor > target.minor) {
            return vec![Problem::error(
                format!(
                    "the kubelet version is higher than the control plane version. This is not a supported version skew and may lead to a malfunctional cluster. Kubelet version: \"{kubelet}\" Control plane version: \"{target}\""
                ),
                fix_install,
            )];
        }
        vec![]
    })
}

/// Runs `<kubelet> --version` (at most 10 s) and parses `Kubernetes v1.33.5`.
fn installed_version(kubelet: &std::path::Path) -> Result<KubeVersion, String> {
    let mut child = Command::new(kubelet)
        .arg("--version")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().map_err(|e| e.to_string())?.is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err("`kubelet --version` did not finish within 10s".into());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    let word = text.split_whitespace().find(|w| w.starts_with('v')).unwrap_or_default();
    KubeVersion::parse(word).map_err(|_| format!("unexpected `kubelet --version` output {:?}", text.trim()))
}

/// kubeadm warns when the kubelet unit is missing; kubeboot enables the unit itself in
/// kubelet-start, so "installed but not enabled" is not a finding here.
pub fn service_kubelet() -> Check {
    Check::new("Service-Kubelet", |env| {
        if facts::unit_file(env.host, "kubelet.service").is_some() {
            return vec![];
        }
        vec![Problem::warning(
            "kubelet service does not exist (no kubelet.service unit file)",
            "install the kubelet package, which ships kubelet.service",
        )]
    })
}

/// A version newer than the newest minor kubeboot knows would be rendered with stale rules.
pub fn kubernetes_version() -> Check {
    Check::new("KubernetesVersion", |env| {
        let v = &env.node.version;
        let newest = *SUPPORTED_MINORS.end();
        if v.major == 1 && v.minor <= newest {
            return vec![];
        }
        vec![Problem::warning(
            format!(
                "Kubernetes version is greater than kubeboot's: Kubernetes version: {v}. kubeboot knows up to v1.{newest}.x"
            ),
            "upgrade kubeboot, or choose a version it supports",
        )]
    })
}
