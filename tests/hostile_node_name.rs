//! Issue 16 item 1: a node name or kubelet flag value from input must never split into a second
//! kubelet flag in kubeadm-flags.env. `kubeboot run` on a throw-away root with a NoCloud seed
//! directory; the run must stop at config, naming where the bad value came from, and write no
//! kubelet file.

mod firstboot_common;

use firstboot_common::*;

const FLAGS: &str = "/var/lib/kubelet/kubeadm-flags.env";

/// A control-plane NodeConfig without node.name (so the name comes from meta-data or the host).
fn unnamed(extra: &str) -> String {
    format!(
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\nnode:\n  \
         advertiseAddress: 192.168.56.10\n{extra}cluster:\n  kubernetesVersion: v1.33.5\n{IGNORE_PREFLIGHT}"
    )
}

fn run_to_kubelet_start(root: &Root) -> std::process::Output {
    let skip = skip_all_but(&["kubelet-start"]);
    root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip])
}

fn assert_refused(root: &Root, out: &std::process::Output, source: &str) {
    let t = text(out);
    assert_eq!(out.status.code(), Some(2), "invalid input exits 2\n{t}");
    assert!(t.contains(source), "the error names the source `{source}`\n{t}");
    assert!(t.contains("not a valid node name") || t.contains("kubeadm-flags.env"), "{t}");
    assert!(root.read(FLAGS).is_none(), "kubeadm-flags.env must not be written\n{t}");
}

#[test]
fn meta_data_local_hostname_with_a_flag_is_refused() {
    let root = Root::new();
    root.seed(&unnamed(""), "instance-id: iid-1\nlocal-hostname: \"n1 --authorization-mode=AlwaysAllow\"\n");
    let out = run_to_kubelet_start(&root);
    assert_refused(&root, &out, "meta-data local-hostname");
    let st = root.status_json();
    assert_eq!(st["error"]["phase"], "config", "{st}");
}

#[test]
fn os_host_name_with_a_flag_is_refused() {
    let root = Root::new();
    root.file("/proc/sys/kernel/hostname", "n1 --authorization-mode=AlwaysAllow\n");
    root.seed(&unnamed(""), "instance-id: iid-2\n");
    let out = run_to_kubelet_start(&root);
    assert_refused(&root, &out, "the host name");
}

#[test]
fn kubelet_extra_arg_and_label_values_with_spaces_are_refused() {
    for (extra, path) in [
        (
            "  kubeletExtraArgs:\n    - name: node-ip\n      value: \"10.0.0.1 --authorization-mode=AlwaysAllow\"\n",
            "node.kubeletExtraArgs.0.value",
        ),
        ("  labels:\n    zone: \"a --authorization-mode=AlwaysAllow\"\n", "node.labels.zone"),
        ("  taints:\n    - key: k\n      value: \"v\\n--x=y\"\n      effect: NoSchedule\n", "node.taints.0.value"),
    ] {
        let root = Root::new();
        root.seed(&unnamed(&format!("  name: cp-1\n{extra}")), "instance-id: iid-3\n");
        let out = run_to_kubelet_start(&root);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(2), "{path}\n{t}");
        assert!(t.contains(path), "the error names {path}\n{t}");
        assert!(root.read(FLAGS).is_none(), "{path}: kubeadm-flags.env must not be written\n{t}");
    }
}

#[test]
fn a_valid_meta_data_name_still_becomes_the_node_name() {
    // First boot sets the host name to the node name, so the kubelet needs no override ...
    let root = Root::new();
    root.seed(&unnamed(""), "instance-id: iid-4\nlocal-hostname: Node-7.Example.com\n");
    root.file("/usr/bin/kubelet", "#!/bin/sh\n");
    let out = run_to_kubelet_start(&root);
    let flags = String::from_utf8(root.read(FLAGS).unwrap_or_else(|| panic!("no flags file\n{}", text(&out)))).unwrap();
    assert_eq!(root.read("/etc/hostname").as_deref(), Some(&b"node-7.example.com\n"[..]), "{}", text(&out));
    assert!(!flags.contains("--hostname-override"), "{flags}");
    // ... and when told to leave the host name alone, the name reaches the kubelet as a flag.
    let root = Root::new();
    root.seed(&unnamed("  setHostname: false\n"), "instance-id: iid-4\nlocal-hostname: Node-7.Example.com\n");
    root.file("/usr/bin/kubelet", "#!/bin/sh\n");
    let out = run_to_kubelet_start(&root);
    let flags = String::from_utf8(root.read(FLAGS).unwrap_or_else(|| panic!("no flags file\n{}", text(&out)))).unwrap();
    assert!(flags.contains("--hostname-override=node-7.example.com"), "{flags}");
    assert_eq!(flags.matches("--").count(), flags.matches(" --").count() + 1, "one flag per word: {flags}");
}
