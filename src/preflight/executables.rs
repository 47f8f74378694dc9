//! FileExisting-<exe>: the tools the kubelet and kube-proxy call, per Kubernetes version
//! (kubeadm `addExecChecks`). Looked up in PATH under the root.

use super::{Check, Problem};
use crate::config::versions::KubeVersion;
use crate::host::facts;

/// (executable, required, Debian package) for a Kubernetes version.
pub fn required_tools(v: &KubeVersion) -> Vec<(&'static str, bool, &'static str)> {
    let mut tools = vec![];
    // kube-proxy stopped needing conntrack in PATH in 1.32 (PR #126952).
    if !v.at_least(32) {
        tools.push(("conntrack", true, "conntrack"));
    }
    // ip, iptables, ethtool and tc were dropped in 1.33 (PR #129131).
    if !v.at_least(33) {
        tools.extend([("ip", true, "iproute2"), ("iptables", true, "iptables")]);
    }
    tools.extend([("mount", true, "mount"), ("nsenter", true, "util-linux")]);
    if !v.at_least(33) {
        tools.extend([("ethtool", false, "ethtool"), ("tc", false, "iproute2")]);
    }
    tools.push(("touch", false, "coreutils"));
    tools
}

pub fn file_existing(exe: &'static str, required: bool, package: &'static str) -> Check {
    Check::new(format!("FileExisting-{exe}"), move |env| {
        if facts::find_executable(env.host, exe, &env.path).is_some() {
            return vec![];
        }
        let what = format!("{exe} not found in system path");
        let fix = format!("install it (Debian/Ubuntu: apt-get install {package})");
        vec![if required { Problem::error(what, fix) } else { Problem::warning(what, fix) }]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &str) -> Vec<(&'static str, bool)> {
        required_tools(&KubeVersion::parse(v).unwrap()).into_iter().map(|(e, r, _)| (e, r)).collect()
    }

    #[test]
    fn tool_list_follows_kubeadm_per_version() {
        assert_eq!(
            names("v1.31.4"),
            [
                ("conntrack", true),
                ("ip", true),
                ("iptables", true),
                ("mount", true),
                ("nsenter", true),
                ("ethtool", false),
                ("tc", false),
                ("touch", false)
            ]
        );
        assert_eq!(names("v1.32.0")[0], ("ip", true));
        assert_eq!(names("v1.33.5"), [("mount", true), ("nsenter", true), ("touch", false)]);
        assert_eq!(names("v1.34.1"), names("v1.33.0"));
    }
}
