//! Patches at first boot: the directory comes with the image (or cloud-init write_files); a
//! bad patch fails `kubeboot run` in its own step, `patches`, before any phase writes.

mod firstboot_common;

use firstboot_common::*;

const META: &str = "instance-id: iid-patch-1\nlocal-hostname: cp-1\n";

fn user_data() -> String {
    format!(
        "{}{IGNORE_PREFLIGHT}patches:\n  directory: /etc/kubeboot/patches\n",
        control_plane_yaml(&Canaries::new(), None)
    )
}

#[test]
fn first_boot_applies_patches_and_stops_on_a_bad_one() {
    let root = Root::new();
    root.seed(&user_data(), META);
    root.file("/etc/kubeboot/patches/kube-scheduler+merge.yaml", "metadata:\n  labels:\n    patched: at-boot\n");
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(FILE_PHASES)]);
    assert!(out.status.success(), "{}", text(&out));
    let m = String::from_utf8(root.read("/etc/kubernetes/manifests/kube-scheduler.yaml").unwrap()).unwrap();
    assert!(m.contains("patched: at-boot"), "{m}");

    let root = Root::new();
    root.seed(&user_data(), META);
    root.file("/etc/kubeboot/patches/kube-scheduler+json.yaml", "- op: remove\n  path: /spec/nothing\n");
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(FILE_PHASES)]);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(root.status_json()["error"]["phase"], "patches", "{}", text(&out));
    assert!(text(&out).contains("kube-scheduler+json.yaml"), "{}", text(&out));
    assert!(root.read("/etc/kubernetes/pki/ca.crt").is_none(), "nothing written before the patches step");
}
