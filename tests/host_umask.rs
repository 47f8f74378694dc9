//! kubeboot.service runs with `UMask=0077`; the directories kubeboot creates must still get
//! kubeadm's modes (/etc/kubernetes and pki/ 0755), as the VM first-boot test checks on a real
//! node. Its own test binary because the umask is process-wide.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use kubeboot::host::Host;
use nix::sys::stat::{Mode, umask};

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

#[test]
fn created_directories_get_exact_modes_under_umask_0077() {
    umask(Mode::from_bits_truncate(0o077));
    let root = tempfile::tempdir().unwrap();
    let host = Host::new(root.path());

    host.write_atomic("/etc/kubernetes/pki/etcd/ca.crt", b"cert", 0o644).unwrap();
    host.ensure_dir("/var/lib/kubeboot/instances/iid-1", 0o700).unwrap();
    host.ensure_dir("/etc/kubernetes/manifests", 0o700).unwrap();

    let r = root.path();
    for dir in ["etc", "etc/kubernetes", "etc/kubernetes/pki", "etc/kubernetes/pki/etcd"] {
        assert_eq!(mode(&r.join(dir)), 0o755, "{dir}");
    }
    assert_eq!(mode(&r.join("etc/kubernetes/pki/etcd/ca.crt")), 0o644);
    for dir in ["var", "var/lib", "var/lib/kubeboot", "var/lib/kubeboot/instances/iid-1", "etc/kubernetes/manifests"] {
        assert_eq!(mode(&r.join(dir)), 0o700, "{dir}");
    }
}
