//! kubeadm fields that kubeboot used to drop or accept unchecked: `bootstrapTokens[].expires`,
//! `nodeRegistration.taints[].timeAdded`, feature gates kubeboot does not implement, and the
//! ResetConfiguration / UpgradeConfiguration documents. Each is honoured or refused.

use kubeboot::cluster::bootstraptoken::{Token, token_secret};
use kubeboot::cluster::markcontrolplane::control_plane_patch;
use kubeboot::config;

const CLUSTER: &str = "---
apiVersion: kubeadm.k8s.io/v1beta4
kind: ClusterConfiguration
kubernetesVersion: v1.33.5
";

fn init(extra_init: &str, extra_docs: &str) -> Result<config::NodeConfig, String> {
    let text = format!(
        "apiVersion: kubeadm.k8s.io/v1beta4\nkind: InitConfiguration\nnodeRegistration:\n  name: cp-1\n{extra_init}{CLUSTER}{extra_docs}"
    );
    config::load("kubeadm.yaml", text.as_bytes()).map_err(|d| d.to_string())
}

#[test]
fn token_expires_is_the_secrets_expiration_and_wins_over_ttl() {
    let cfg = init(
        "bootstrapTokens:\n- token: abcdef.0123456789abcdef\n  ttl: 1h\n  expires: \"2030-01-02T03:04:05+02:00\"\n",
        "",
    )
    .unwrap();
    let spec = &cfg.bootstrap_tokens[0];
    assert_eq!(spec.expires.as_deref(), Some("2030-01-02T03:04:05+02:00"));
    let token = Token::parse("abcdef.0123456789abcdef").unwrap();
    let secret = token_secret(spec, &token, jiff::Timestamp::UNIX_EPOCH);
    let exp = &secret.data.unwrap()["expiration"];
    assert_eq!(std::str::from_utf8(&exp.0).unwrap(), "2030-01-02T01:04:05Z", "kubeadm writes it in UTC");

    let err = init("bootstrapTokens:\n- expires: next tuesday\n", "").unwrap_err();
    assert!(err.contains("bootstrapTokens.0.expires") && err.contains("not an RFC 3339 time"), "{err}");
}

#[test]
fn taint_time_added_reaches_the_node_on_a_control_plane() {
    let cfg = init(
        "  taints:\n  - key: example.com/maintenance\n    effect: NoExecute\n    timeAdded: \"2030-01-02T03:04:05Z\"\n",
        "",
    )
    .unwrap();
    let taints = cfg.node.taints.clone().unwrap();
    assert_eq!(taints[0].time_added.as_deref(), Some("2030-01-02T03:04:05Z"));
    let patch = control_plane_patch(&Default::default(), &taints).unwrap();
    assert_eq!(patch["spec"]["taints"][0]["timeAdded"], "2030-01-02T03:04:05Z", "{patch}");

    let err = init("  taints:\n  - key: a\n    effect: NoExecute\n    timeAdded: yesterday\n", "").unwrap_err();
    assert!(err.contains("timeAdded") && err.contains("not an RFC 3339 time"), "{err}");
}

#[test]
fn feature_gates_kubeboot_does_not_implement_are_refused_unless_at_their_default() {
    let with_gates = |gates: &str| {
        let text = format!(
            "apiVersion: kubeadm.k8s.io/v1beta4\nkind: ClusterConfiguration\nkubernetesVersion: v1.33.5\nfeatureGates:\n{gates}"
        );
        config::load("kubeadm.yaml", text.as_bytes()).map_err(|d| d.to_string())
    };
    with_gates("  RootlessControlPlane: false\n  EtcdLearnerMode: true\n  PublicKeysECDSA: false\n").unwrap();
    for (gate, wants) in [
        ("RootlessControlPlane: true", "RootlessControlPlane is not implemented"),
        ("EtcdLearnerMode: false", "always adds a joining etcd member as a learner"),
        ("PublicKeysECDSA: true", "set encryptionAlgorithm: ECDSA-P256"),
    ] {
        let err = with_gates(&format!("  {gate}\n")).unwrap_err();
        assert!(err.contains(wants) && err.contains("featureGates."), "{gate}: {err}");
    }
}

#[test]
fn reset_and_upgrade_documents_are_checked() {
    let reset = "---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\ncleanupTmpDir: true\nunmountFlags: [MNT_FORCE]\n";
    let upgrade = "---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\napply:\n  certificateRenewal: false\nnode:\n  etcdUpgrade: true\n";
    init("", &format!("{reset}{upgrade}")).unwrap();
    let err = init("", "---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: ResetConfiguration\ncleanupTmpdir: true\n")
        .unwrap_err();
    assert!(err.contains("cleanupTmpdir") && err.contains("unknown key"), "{err}");
    let err = init(
        "",
        "---\napiVersion: kubeadm.k8s.io/v1beta4\nkind: UpgradeConfiguration\napply:\n  forceUpgrade: maybe\n",
    )
    .unwrap_err();
    assert!(err.contains("forceUpgrade"), "{err}");
}

#[test]
fn a_patches_directory_must_be_absolute() {
    init("patches:\n  directory: /etc/kubeboot/patches\n", "").unwrap();
    let err = init("patches:\n  directory: patches\n", "").unwrap_err();
    assert!(err.contains("patches.directory") && err.contains("absolute path"), "{err}");
}
