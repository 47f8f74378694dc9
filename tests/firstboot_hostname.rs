//! First boot sets the system host name to the node name (meta-data local-hostname when the
//! config names no node), as cloud-init and Afterburn do, unless `node.setHostname: false` or
//! the image's `/etc/kubeboot/preserve-hostname` says not to. Only /etc/hostname under the
//! test root is written: `sethostname` runs only with --root /.

mod firstboot_common;

use firstboot_common::*;

const META: &str = "instance-id: iid-host-1\nlocal-hostname: node-7\n";

fn user_data(extra_node: &str) -> String {
    // control_plane_yaml names the node cp-1; drop the name so local-hostname decides it.
    control_plane_yaml(&Canaries::new(), None).replace("  name: cp-1\n", extra_node)
}

fn hostname(root: &Root) -> String {
    String::from_utf8(root.read("/etc/hostname").unwrap_or_default()).unwrap()
}

fn run(root: &Root) -> String {
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&[])]);
    assert!(out.status.success(), "{}", text(&out));
    text(&out)
}

#[test]
fn set_from_local_hostname_at_first_boot() {
    let root = Root::new();
    root.file("/etc/hostname", "localhost\n");
    root.seed(&user_data(""), META);
    let log = run(&root);
    assert_eq!(hostname(&root), "node-7\n", "{log}");
    assert!(log.contains("[hostname] Set the host name to \"node-7\""), "{log}");
    // A finished instance writes nothing, the host name included.
    root.file("/etc/hostname", "changed-by-admin\n");
    run(&root);
    assert_eq!(hostname(&root), "changed-by-admin\n");
}

#[test]
fn the_configured_node_name_wins() {
    let root = Root::new();
    root.seed(&user_data("  name: cp-9\n"), META);
    run(&root);
    assert_eq!(hostname(&root), "cp-9\n");
}

#[test]
fn config_key_and_image_marker_leave_it_alone() {
    let root = Root::new();
    root.file("/etc/hostname", "localhost\n");
    root.seed(&user_data("  setHostname: false\n"), META);
    let log = run(&root);
    assert_eq!(hostname(&root), "localhost\n");
    assert!(log.contains("node.setHostname: false"), "{log}");

    let root = Root::new();
    root.file("/etc/hostname", "localhost\n");
    root.file("/etc/kubeboot/preserve-hostname", "");
    root.seed(&user_data(""), META);
    let log = run(&root);
    assert_eq!(hostname(&root), "localhost\n");
    assert!(log.contains("/etc/kubeboot/preserve-hostname is present"), "{log}");
}

#[test]
fn dry_run_only_says_so() {
    let root = Root::new();
    root.file("/etc/hostname", "localhost\n");
    root.seed(&user_data(""), META);
    let out = root
        .kubeboot()
        .args(["--dry-run", "run", "--datasource", "nocloud-dir", "--skip-phases"])
        .arg(skip_all_but(&[]))
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("Would set the host name to \"node-7\""), "{}", text(&out));
    assert_eq!(hostname(&root), "localhost\n");
}
