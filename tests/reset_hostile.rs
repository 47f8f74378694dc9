//! `kubeboot reset` must not destroy data it does not own (issue 16, item 7), with the real
//! binary: Pod volumes mounted below /var/lib/kubelet (a bind mount standing in for NFS/CSI/
//! hostPath, and a tmpfs) keep their contents; a mount that will not unmount is never deleted
//! through; the Pod sandboxes are stopped and removed over CRI first; and a certificatesDir or
//! etcd dataDir outside kubeadm's paths is refused before anything is touched.
//!
//! The mount tests run the binary in a private mount namespace (`unshare -m`), so nothing they
//! mount is visible outside or outlives them. They need root (as the suite does).

mod firstboot_common;

use std::convert::Infallible;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use firstboot_common::*;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use kubeboot::host::cri::{ListPodSandboxResponse, PodSandbox, PodSandboxIdRequest, PodSandboxMetadata};
use prost::Message;

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A shell script run as root in a private mount namespace; its stdout+stderr.
fn in_private_mount_ns(script: &str, args: &[&Path]) -> String {
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", script, "sh"])
        .args(args)
        .output()
        .unwrap();
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

#[test]
fn pod_volumes_mounted_below_the_kubelet_dir_keep_their_contents() {
    if !is_root() {
        eprintln!("SKIP: needs root for mounts");
        return;
    }
    let root = Root::new();
    let outside = tempfile::tempdir().unwrap();
    root.file("/var/lib/kubelet/config.yaml", "kind: KubeletConfiguration\n");
    root.file("/etc/kubernetes/pki/ca.key", "key");
    // $1 root, $2 outside data, $3 kubeboot
    let script = r#"
set -e
R=$1; O=$2; KB=$3
V=$R/var/lib/kubelet/pods/0f1e/volumes
mkdir -p "$V/kubernetes.io~nfs/data" "$V/kubernetes.io~empty-dir/cache" "$V/kubernetes.io~csi/pvc-1/mount" \
         "$O/export/sub" "$O/disk"
# An "NFS export": data that lives elsewhere, bind-mounted into the Pod volume (same filesystem).
echo precious > "$O/export/db"; echo deep > "$O/export/sub/x"
mount --bind "$O/export" "$V/kubernetes.io~nfs/data"
# A "CSI disk": a tmpfs of its own, mounted outside and bind-mounted into the Pod volume.
mount -t tmpfs -o size=1m disk "$O/disk"; echo block > "$O/disk/f"
mount --bind "$O/disk" "$V/kubernetes.io~csi/pvc-1/mount"
# A tmpfs mounted right on the Pod volume and held busy by an open file: it cannot be unmounted.
mount -t tmpfs -o size=1m cache "$V/kubernetes.io~empty-dir/cache"; echo busy > "$V/kubernetes.io~empty-dir/cache/held"
exec 3<"$V/kubernetes.io~empty-dir/cache/held"
set +e
"$KB" --root "$R" reset --force; echo "reset-exit=$?"
echo "nfs=$(cat "$O/export/db") $(cat "$O/export/sub/x")"
echo "csi=$(cat "$O/disk/f")"
echo "cache=$(cat "$V/kubernetes.io~empty-dir/cache/held")"
grep -c " $R/var/lib/kubelet/" /proc/self/mountinfo | sed 's/^/mounts-left=/'
"#;
    let out = in_private_mount_ns(script, &[root.path(), outside.path(), Path::new(bin())]);
    assert!(out.contains("nfs=precious deep"), "the bind-mounted export was emptied through its mount:\n{out}");
    assert!(out.contains("csi=block"), "the bind-mounted tmpfs disk was emptied:\n{out}");
    assert!(out.contains("cache=busy"), "a busy tmpfs was deleted through:\n{out}");
    assert!(out.contains("mounts-left=1"), "only the busy tmpfs stays mounted:\n{out}");
    assert!(out.contains("reset-exit=1"), "a mount left in place makes the reset incomplete:\n{out}");
    assert!(out.contains("reset is incomplete") && out.contains("kubernetes.io~empty-dir/cache"), "{out}");
    assert!(out.contains("could not unmount") && out.contains("busy"), "{out}");
    // What reset owns is gone; the volume that stayed mounted, and the directories leading to it, stay.
    assert!(root.read("/var/lib/kubelet/config.yaml").is_none(), "{out}");
    assert!(root.read("/etc/kubernetes/pki/ca.key").is_none(), "{out}");
    assert!(!root.path().join("var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~nfs").exists(), "{out}");
    assert!(root.path().join("var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~empty-dir/cache").is_dir());
    // Outside the namespace nothing was ever mounted; the data is there as written.
    assert_eq!(std::fs::read(outside.path().join("export/db")).unwrap(), b"precious\n");
}

#[test]
fn a_second_reset_after_the_volume_is_free_finishes_the_job() {
    if !is_root() {
        eprintln!("SKIP: needs root for mounts");
        return;
    }
    let root = Root::new();
    let script = r#"
R=$1; KB=$2
V=$R/var/lib/kubelet/pods/0f1e/volumes/kubernetes.io~empty-dir/cache
mkdir -p "$V" && mount -t tmpfs -o size=1m cache "$V" && echo x > "$V/f"
exec 3<"$V/f"
"$KB" --root "$R" reset --force >/dev/null 2>&1; echo "first=$?"
exec 3<&-
"$KB" --root "$R" reset --force; echo "second=$?"
grep -c " $R/" /proc/self/mountinfo | sed 's/^/mounts-left=/'
"#;
    let out = in_private_mount_ns(script, &[root.path(), Path::new(bin())]);
    assert!(out.contains("first=1") && out.contains("second=0"), "{out}");
    assert!(out.contains("mounts-left=0"), "{out}");
    assert!(!root.path().join("var/lib/kubelet/pods").exists(), "{out}");
}

/// A CRI runtime service on a Unix socket that answers ListPodSandbox, StopPodSandbox and
/// RemovePodSandbox (gRPC over HTTP/2, as containerd does) and records each call.
fn fake_cri(socket: &Path, calls: Arc<Mutex<Vec<String>>>) -> tokio::runtime::Runtime {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
    std::fs::create_dir_all(socket.parent().unwrap()).unwrap();
    let listener = rt.block_on(async { tokio::net::UnixListener::bind(socket).unwrap() });
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let calls = calls.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let calls = calls.clone();
                    async move {
                        let method = req.uri().path().rsplit('/').next().unwrap_or("").to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let msg = body.get(5..).unwrap_or(&[]);
                        let reply = match method.as_str() {
                            "ListPodSandbox" => {
                                calls.lock().unwrap().push("list".into());
                                let pod = |id: &str, name: &str| PodSandbox {
                                    id: id.into(),
                                    metadata: Some(PodSandboxMetadata {
                                        name: name.into(),
                                        uid: "u".into(),
                                        namespace: "default".into(),
                                    }),
                                    ..Default::default()
                                };
                                ListPodSandboxResponse { items: vec![pod("sb1", "web"), pod("sb2", "db")] }
                                    .encode_to_vec()
                            }
                            "StopPodSandbox" | "RemovePodSandbox" => {
                                let id = PodSandboxIdRequest::decode(msg).unwrap().pod_sandbox_id;
                                calls.lock().unwrap().push(format!("{method} {id}"));
                                vec![]
                            }
                            _ => vec![],
                        };
                        let mut framed = vec![0u8];
                        framed.extend((reply.len() as u32).to_be_bytes());
                        framed.extend(reply);
                        let mut trailers = hyper::HeaderMap::new();
                        trailers.insert("grpc-status", "0".parse().unwrap());
                        let frames: Vec<Result<Frame<Bytes>, Infallible>> =
                            vec![Ok(Frame::data(Bytes::from(framed))), Ok(Frame::trailers(trailers))];
                        let body = StreamBody::new(futures::stream::iter(frames));
                        Ok::<_, Infallible>(
                            hyper::Response::builder().header("content-type", "application/grpc").body(body).unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new())
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    rt
}

#[test]
fn pod_sandboxes_are_stopped_and_removed_over_cri() {
    let root = Root::new();
    root.file("/var/lib/kubelet/config.yaml", "x");
    let calls = Arc::new(Mutex::new(Vec::new()));
    let _rt = fake_cri(&root.path().join("var/run/containerd/containerd.sock"), calls.clone());
    let out = root.kubeboot().args(["reset", "--force"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        *calls.lock().unwrap(),
        ["list", "StopPodSandbox sb1", "RemovePodSandbox sb1", "StopPodSandbox sb2", "RemovePodSandbox sb2"]
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 2 Pod sandbox(es) over CRI"), "{}", text(&out));

    // --dry-run lists them and changes nothing.
    calls.lock().unwrap().clear();
    root.file("/var/lib/kubelet/config.yaml", "x");
    let out = root.kubeboot().args(["reset", "--dry-run"]).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(*calls.lock().unwrap(), ["list"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("would remove 2 Pod sandbox(es)"), "{}", text(&out));
    assert!(root.read("/var/lib/kubelet/config.yaml").is_some());
}

#[test]
fn reset_targets_outside_kubeadms_paths_are_refused_and_nothing_changes() {
    let cases = [
        ("certificatesDir: /", "certificatesDir"),
        ("certificatesDir: /etc", "certificatesDir"),
        ("certificatesDir: /etc/kubernetes", "certificatesDir"),
        ("certificatesDir: /etc/kubernetes/manifests", "certificatesDir"),
        ("certificatesDir: /var/lib/pki", "certificatesDir"),
        ("certificatesDir: /etc/kubernetes/./../..", "certificatesDir"),
        ("etcd:\n    local:\n      dataDir: /", "etcd.local.dataDir"),
        ("etcd:\n    local:\n      dataDir: /var/lib", "etcd.local.dataDir"),
        ("etcd:\n    local:\n      dataDir: /var/lib/kubelet", "etcd.local.dataDir"),
        ("etcd:\n    local:\n      dataDir: /etc", "etcd.local.dataDir"),
        ("etcd:\n    local:\n      dataDir: /var/lib/postgresql", "etcd.local.dataDir"),
    ];
    for (setting, named) in cases {
        let root = Root::new();
        root.file("/etc/hostname", "n1\n");
        root.file("/etc/kubernetes/admin.conf", "x");
        root.file("/var/lib/postgresql/base/1", "rows");
        root.file("/var/lib/dpkg/status", "pkgs");
        let before = snapshot(root.path());
        let cfg = root.path().join("node.yaml");
        std::fs::write(
            &cfg,
            format!(
                "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\ncluster:\n  \
                 kubernetesVersion: v1.33.5\n  {setting}\n"
            ),
        )
        .unwrap();
        let out = root.kubeboot().args(["reset", "--force", "--config"]).arg(&cfg).output().unwrap();
        let t = text(&out);
        if out.status.code() == Some(2) && t.contains("must not contain") {
            continue; // the config itself is refused (`..`): also nothing touched
        }
        assert_eq!(out.status.code(), Some(2), "{setting}: {t}");
        assert!(t.contains("refusing to reset") && t.contains(named), "{setting}: {t}");
        let mut after = snapshot(root.path());
        after.remove(Path::new("node.yaml"));
        assert_eq!(after, before, "{setting}: reset changed the host before refusing");
    }

    // An etcd data directory elsewhere below /var/lib that holds only etcd's data is fine.
    let root = Root::new();
    root.file("/var/lib/etcd-main/member/snap/db", "etcd");
    let cfg = root.path().join("node.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\ncluster:\n  \
         kubernetesVersion: v1.33.5\n  etcd:\n    local:\n      dataDir: /var/lib/etcd-main\n",
    )
    .unwrap();
    let out = root.kubeboot().args(["reset", "--force", "--config"]).arg(&cfg).output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(root.read("/var/lib/etcd-main/member/snap/db").is_none());
}
