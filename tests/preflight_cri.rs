//! CRI against a real containerd (Debian `containerd` + `runc`), started by the test with its
//! own root, state dir, socket and a minimal config: the preflight gRPC client must get the
//! runtime's Version and a ready Status, and must fail once the runtime is gone.

mod preflight_support;

use std::os::unix::net::UnixListener;
use std::process::Command;

use preflight_support::*;

/// The version `containerd --version` prints (third field), which CRI Version must report.
fn installed_version() -> String {
    let out = Command::new("containerd").arg("--version").output().unwrap();
    String::from_utf8_lossy(&out.stdout).split_whitespace().nth(2).unwrap().to_string()
}

fn cri(r: &Run) -> Vec<(String, String, bool)> {
    r.findings().into_iter().filter(|(n, _, _)| n == "CRI").collect()
}

#[test]
fn real_containerd_passes_then_fails_when_stopped() {
    let f = Fixture::healthy();
    let socket = f.dir.path().join("run/containerd.sock");
    let Some(mut ctr) = Containerd::start(f.dir.path(), &socket) else { return };
    let cfg = f.control_plane(&socket.display().to_string(), free_port(), "");

    let r = preflight(&f, &cfg, &[]);
    assert_eq!(cri(&r), vec![("CRI".to_string(), "info".to_string(), false)], "{}", r.stdout);
    let msg = r.message("CRI");
    assert!(
        msg.starts_with(&format!("containerd {} (CRI v1) at unix://{}", installed_version(), socket.display())),
        "{msg}"
    );
    assert!(msg.ends_with("is ready"), "{msg}");

    ctr.stop();
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(cri(&r), vec![("CRI".to_string(), "error".to_string(), false)], "{}", r.stdout);
    assert!(r.message("CRI").starts_with("container runtime is not running"), "{}", r.stdout);
    assert_eq!(r.code, 3);
}

#[test]
fn a_socket_nobody_serves_is_an_error() {
    let f = Fixture::healthy();
    // A socket file left behind by a runtime that is gone: connection refused.
    let stale = f.dir.path().join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let r = preflight(&f, &f.control_plane(&stale.display().to_string(), free_port(), ""), &[]);
    assert_eq!(cri(&r), vec![("CRI".to_string(), "error".to_string(), false)]);
    assert!(r.message("CRI").contains("Connection refused"), "{}", r.stdout);
    // No socket file at all.
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), ""), &[]);
    assert!(r.message("CRI").contains("No such file or directory"), "{}", r.stdout);
}

#[test]
fn an_unconfigured_socket_is_detected_under_the_root_and_two_runtimes_are_an_error() {
    let f = Fixture::healthy();
    let socket = f.path("/var/run/containerd/containerd.sock");
    let Some(_ctr) = Containerd::start(f.dir.path(), &socket) else { return };
    // No criSocket in the config: kubeadm's detection finds the one runtime.
    let cfg = f.config(
        "control-plane",
        &format!("node:\n  name: node-1\n  advertiseAddress: 127.0.0.1\n  bindPort: {}\ncluster:\n  kubernetesVersion: v1.33.5\n", free_port()),
    );
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(cri(&r), vec![("CRI".to_string(), "info".to_string(), false)], "{}", r.stdout);
    assert!(r.message("CRI").contains("at unix:///var/run/containerd/containerd.sock is ready"), "{}", r.stdout);

    // A second runtime's socket appears: kubeadm refuses to guess.
    std::fs::create_dir_all(f.path("/var/run/crio")).unwrap();
    let _crio = UnixListener::bind(f.path("/var/run/crio/crio.sock")).unwrap();
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(cri(&r), vec![("CRI".to_string(), "error".to_string(), false)], "{}", r.stdout);
    let msg = r.message("CRI");
    assert!(msg.contains("found multiple CRI endpoints on the host"), "{msg}");
    assert!(msg.contains("unix:///var/run/containerd/containerd.sock, unix:///var/run/crio/crio.sock"), "{msg}");
    assert!(msg.contains("set node.criSocket"), "{msg}");
}

fn cgroup(r: &Run) -> Vec<(String, String, bool)> {
    r.findings().into_iter().filter(|(n, _, _)| n == "CgroupDriver").collect()
}

#[test]
fn a_cgroupfs_runtime_under_a_systemd_kubelet_is_an_error() {
    // Debian's containerd 1.6 answers no CRI RuntimeConfig, so the kubelet cannot learn the
    // runtime's driver: the two must agree by configuration.
    let f = Fixture::healthy();
    let socket = f.dir.path().join("run/containerd.sock");
    let Some(mut ctr) = Containerd::start_config(f.dir.path(), &socket, "", false) else { return };
    let cfg = f.control_plane(&socket.display().to_string(), free_port(), "");
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(cgroup(&r), vec![("CgroupDriver".to_string(), "error".to_string(), false)], "{}", r.stdout);
    let msg = r.message("CgroupDriver");
    assert!(msg.contains("uses the cgroupfs cgroup driver but the kubelet is configured for systemd"), "{msg}");
    assert!(msg.contains("SystemdCgroup = true"), "{msg}");
    assert_eq!(r.code, 3);

    // A joining worker takes the cluster's kubelet-config, unknown before discovery: a warning.
    let worker = f.config(
        "worker",
        &format!(
            "node:\n  name: node-1\n  criSocket: unix://{}\ncluster:\n  kubernetesVersion: v1.33.5\njoin:\n  apiServerEndpoint: 127.0.0.1:{}\n  token: abcdef.0123456789abcdef\n  caCertHashes: [\"sha256:{}\"]\n",
            socket.display(),
            free_port(),
            "0".repeat(64)
        ),
    );
    let r = preflight(&f, &worker, &[]);
    assert_eq!(cgroup(&r), vec![("CgroupDriver".to_string(), "warning".to_string(), false)], "{}", r.stdout);
    assert!(r.message("CgroupDriver").contains("will most likely use systemd"), "{}", r.stdout);

    // A kubelet configured for cgroupfs agrees with it.
    let agree = f.control_plane(
        &socket.display().to_string(),
        free_port(),
        "kubeletConfiguration:\n  apiVersion: kubelet.config.k8s.io/v1beta1\n  kind: KubeletConfiguration\n  cgroupDriver: cgroupfs\n",
    );
    let r = preflight(&f, &agree, &[]);
    assert_eq!(cgroup(&r), vec![("CgroupDriver".to_string(), "info".to_string(), false)], "{}", r.stdout);
    assert!(r.message("CgroupDriver").contains("both use the cgroupfs cgroup driver"));

    // containerd as a kubeadm node runs it (SystemdCgroup = true) agrees with the default kubelet.
    ctr.stop();
    let Some(_ctr) = Containerd::start(f.dir.path(), &socket) else { return };
    let cfg = f.control_plane(&socket.display().to_string(), free_port(), ""); // same file as `agree`
    let r = preflight(&f, &cfg, &[]);
    assert_eq!(cgroup(&r), vec![("CgroupDriver".to_string(), "info".to_string(), false)], "{}", r.stdout);
    assert!(r.message("CgroupDriver").contains("both use the systemd cgroup driver"), "{}", r.stdout);

    // No runtime: nothing to compare (the CRI check reports it).
    let r = preflight(&f, &f.control_plane(&f.dead_socket(), free_port(), ""), &[]);
    assert!(cgroup(&r).is_empty(), "{}", r.stdout);
}
