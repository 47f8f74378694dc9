//! The real side of the rolling restart's `Pods` seam: `CriPods` asks a real containerd
//! (started by the test) for the READY sandboxes of a static Pod over CRI ListPodSandbox, and
//! probes health endpoints over HTTP. Without a kubelet no Pod runs, so the answer is "none";
//! with the runtime gone the question fails instead of answering "none".

mod preflight_support;

use std::io::{Read, Write};
use std::net::TcpListener;

use kubeboot::host::restart::{CriPods, Pods, Probe};
use preflight_support::*;

#[test]
fn cri_pods_asks_a_real_containerd() {
    let f = Fixture::healthy();
    let socket = f.dir.path().join("run/containerd.sock");
    let Some(mut ctr) = Containerd::start(f.dir.path(), &socket) else { return };
    let mut pods = CriPods::new(socket.clone()).unwrap();
    assert_eq!(pods.running("etcd").unwrap(), None);
    assert_eq!(pods.running("kube-apiserver").unwrap(), None);
    ctr.stop();
    assert!(pods.running("etcd").is_err(), "a stopped runtime must not look like a stopped Pod");
}

/// A one-shot HTTP server answering every request with `status`.
fn serve(status: &'static str) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut s in l.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = write!(s, "HTTP/1.1 {status}\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    port
}

#[test]
fn cri_pods_probes_like_the_kubelet() {
    let mut pods = CriPods::new("/nonexistent.sock".into()).unwrap();
    let ok = serve("200 OK");
    assert!(pods.healthy(&Probe { url: format!("http://127.0.0.1:{ok}/livez") }));
    let bad = serve("500 Internal Server Error");
    assert!(!pods.healthy(&Probe { url: format!("http://127.0.0.1:{bad}/livez") }));
    let closed = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    assert!(!pods.healthy(&Probe { url: format!("http://127.0.0.1:{closed}/livez") }));
}
