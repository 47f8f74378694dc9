//! Kubernetes versions kubeboot supports and what each one implies: component image
//! versions (kubeadm's constants.go) and kubeadm feature-gate defaults.

use std::fmt;

/// The Kubernetes minors kubeboot renders for.
pub const SUPPORTED_MINORS: std::ops::RangeInclusive<u32> = 31..=34;

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct KubeVersion {
    pub major: u32,
    pub minor: u32,
    pub patch: u32,
    /// Pre-release/build suffix without the leading `-` (e.g. `rc.1`), or empty.
    pub suffix: String,
}

impl KubeVersion {
    /// Accepts `v1.33.2`, `1.33.2`, `v1.34.0-rc.1`; kubeadm's labels like `stable-1` need
    /// the network and are not accepted.
    pub fn parse(s: &str) -> Result<Self, String> {
        let err = || format!("`{s}` is not a Kubernetes version (expected e.g. v1.33.5)");
        let body = s.strip_prefix('v').unwrap_or(s);
        let (core, suffix) = match body.split_once(['-', '+']) {
            Some((c, rest)) => (c, rest.to_string()),
            None => (body, String::new()),
        };
        let parts: Vec<&str> = core.split('.').collect();
        if parts.len() != 3 || parts.iter().any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit())) {
            return Err(err());
        }
        let n = |i: usize| parts[i].parse::<u32>().map_err(|_| err());
        Ok(KubeVersion { major: n(0)?, minor: n(1)?, patch: n(2)?, suffix })
    }

    pub fn is_supported(&self) -> bool {
        self.major == 1 && SUPPORTED_MINORS.contains(&self.minor)
    }

    /// Image tag: the version with `+` replaced by `_` (kubeadm `KubernetesVersionToImageTag`).
    pub fn image_tag(&self) -> String {
        self.to_string().replace('+', "_")
    }

    pub fn at_least(&self, minor: u32) -> bool {
        self.major > 1 || (self.major == 1 && self.minor >= minor)
    }

    pub fn components(&self) -> ComponentVersions {
        ComponentVersions::for_minor(self.minor)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "v{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.suffix.is_empty() {
            write!(f, "-{}", self.suffix)?;
        }
        Ok(())
    }
}

/// Image versions kubeadm pins per Kubernetes minor (constants.go `SupportedEtcdVersion`,
/// `CoreDNSVersion`, `PauseVersion`), as of each minor's .0 release.
///
/// Checked against kubeadm's constants.go snapshots: release-1.32 has DefaultEtcdVersion
/// 3.5.16-0, CoreDNS v1.11.3, pause 3.10; release-1.34 at 1.34.0 maps 31–33 → 3.5.21-0 and
/// 34 → 3.6.4-0. Later patch releases bump etcd inside the same minor (late release-1.32 and
/// release-1.34 snapshots map 29–33 → 3.5.24-0 and 34 → 3.6.5-0), so a node pinned to a late
/// patch should set `etcd.local.imageTag`; kubeadm picks `SupportedEtcdVersion[minor]` of its
/// own build.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ComponentVersions {
    pub etcd: &'static str,
    pub coredns: &'static str,
    pub pause: &'static str,
}

impl ComponentVersions {
    pub fn for_minor(minor: u32) -> Self {
        match minor {
            ..=31 => ComponentVersions { etcd: "3.5.15-0", coredns: "v1.11.3", pause: "3.10" },
            32 => ComponentVersions { etcd: "3.5.16-0", coredns: "v1.11.3", pause: "3.10" },
            33 => ComponentVersions { etcd: "3.5.21-0", coredns: "v1.12.0", pause: "3.10" },
            _ => ComponentVersions { etcd: "3.6.4-0", coredns: "v1.12.1", pause: "3.10.1" },
        }
    }
}

/// kubeadm feature gates that change what is written, with their per-version defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureGates {
    /// kubelet.conf on control-plane nodes points at the local API server (beta, on: 1.33).
    pub control_plane_kubelet_local_mode: bool,
    /// CRI socket in instance-config.yaml, not a kubelet flag nor a Node annotation (beta, on: 1.34).
    pub node_local_cri_socket: bool,
    /// wait-control-plane checks all components directly (beta, on: 1.33; GA 1.34).
    pub wait_for_all_control_plane_components: bool,
}

/// Gate names kubeadm knows in 1.31–1.34; others are a validation error.
pub const KNOWN_FEATURE_GATES: &[&str] = &[
    "ControlPlaneKubeletLocalMode",
    "NodeLocalCRISocket",
    "WaitForAllControlPlaneComponents",
    "EtcdLearnerMode",
    "PublicKeysECDSA",
    "RootlessControlPlane",
];

impl FeatureGates {
    pub fn defaults(v: &KubeVersion) -> Self {
        FeatureGates {
            control_plane_kubelet_local_mode: v.at_least(33),
            node_local_cri_socket: v.at_least(34),
            wait_for_all_control_plane_components: v.at_least(33),
        }
    }

    pub fn resolve(v: &KubeVersion, overrides: &std::collections::BTreeMap<String, bool>) -> Self {
        let mut g = FeatureGates::defaults(v);
        if let Some(&b) = overrides.get("ControlPlaneKubeletLocalMode") {
            g.control_plane_kubelet_local_mode = b;
        }
        if let Some(&b) = overrides.get("NodeLocalCRISocket") {
            g.node_local_cri_socket = b;
        }
        if let Some(&b) = overrides.get("WaitForAllControlPlaneComponents") {
            g.wait_for_all_control_plane_components = b;
        }
        g
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        let v = KubeVersion::parse("v1.33.5").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 33, 5));
        assert_eq!(v.to_string(), "v1.33.5");
        assert_eq!(KubeVersion::parse("1.34.0-rc.1").unwrap().to_string(), "v1.34.0-rc.1");
        for bad in ["stable-1", "v1.33", "1.x.0", "", "v1.33.5.1"] {
            assert!(KubeVersion::parse(bad).is_err(), "{bad}");
        }
        assert!(!KubeVersion::parse("v1.30.9").unwrap().is_supported());
        assert!(KubeVersion::parse("v1.31.0").unwrap().is_supported());
        assert!(!KubeVersion::parse("v1.35.0").unwrap().is_supported());
    }

    #[test]
    fn gates_follow_version() {
        let g = FeatureGates::defaults(&KubeVersion::parse("v1.32.1").unwrap());
        assert!(!g.control_plane_kubelet_local_mode && !g.node_local_cri_socket);
        let g = FeatureGates::defaults(&KubeVersion::parse("v1.34.1").unwrap());
        assert!(g.control_plane_kubelet_local_mode && g.node_local_cri_socket);
    }
}
