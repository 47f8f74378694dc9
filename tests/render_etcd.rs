//! Real etcd (Debian's /usr/bin/etcd) started with exactly the command of the rendered
//! etcd.yaml, then probed with etcdctl over mTLS using the rendered client certificates.
//!
//! Mapping from the manifest to this host, and why:
//! - host paths (`/etc/kubernetes/pki/...`) are prefixed with the test root, the data dir
//!   points into a temp dir, and ports 2379/2380/2381 become free ports (tests run in parallel);
//! - the advertise address is 127.0.0.1, so `--listen-client-urls` names the loopback URL twice;
//!   the duplicate is dropped because etcd would try to bind it twice;
//! - Debian ships etcd 3.4, which predates etcd 3.6's un-prefixed flags: for the 1.34 manifest
//!   `--feature-gates=InitialCorruptCheck=true` runs as `--experimental-initial-corrupt-check=true`
//!   and `--watch-progress-notify-interval` as `--experimental-watch-progress-notify-interval`.

mod render_common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use render_common::*;

struct Etcd(Child);

impl Drop for Etcd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn manifest_command(node: &Node) -> Vec<String> {
    let yaml = std::fs::read_to_string(node.path("/etc/kubernetes/manifests/etcd.yaml")).unwrap();
    let pod: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
    let command = &pod["spec"]["containers"][0]["command"];
    command.as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect()
}

/// The manifest's flags, mapped onto this host as described at the top of the file.
fn host_args(node: &Node, command: &[String], data_dir: &str, ports: [u16; 3]) -> Vec<String> {
    assert_eq!(command[0], "etcd");
    let root = node.root().display().to_string();
    command[1..]
        .iter()
        .map(|flag| {
            let (name, value) = flag.trim_start_matches("--").split_once('=').unwrap();
            let mut value = value
                .replace(":2379", &format!(":{}", ports[0]))
                .replace(":2380", &format!(":{}", ports[1]))
                .replace(":2381", &format!(":{}", ports[2]));
            if value.starts_with("/etc/kubernetes/") {
                value = format!("{root}{value}");
            }
            match name {
                "data-dir" => format!("--data-dir={data_dir}"),
                "listen-client-urls" => {
                    let mut urls: Vec<&str> = value.split(',').collect();
                    urls.dedup();
                    format!("--listen-client-urls={}", urls.join(","))
                }
                "feature-gates" => {
                    assert_eq!(value, "InitialCorruptCheck=true");
                    "--experimental-initial-corrupt-check=true".to_string()
                }
                "watch-progress-notify-interval" => format!("--experimental-watch-progress-notify-interval={value}"),
                _ => format!("--{name}={value}"),
            }
        })
        .collect()
}

fn health(node_certs: &Node, ca: &Node, client: &str, port: u16) -> std::process::Output {
    Command::new("etcdctl")
        .env("ETCDCTL_API", "3")
        .arg(format!("--endpoints=https://127.0.0.1:{port}"))
        .arg(format!("--cacert={}", ca.pki("etcd/ca.crt").display()))
        .arg(format!("--cert={}", node_certs.pki(&format!("{client}.crt")).display()))
        .arg(format!("--key={}", node_certs.pki(&format!("{client}.key")).display()))
        .args(["--dial-timeout=2s", "--command-timeout=3s", "endpoint", "health"])
        .output()
        .unwrap()
}

fn etcd_accepts_rendered_clients(version: &str) {
    if !have("etcd") || !have("etcdctl") {
        return;
    }
    let node = Node::new(&config(version, "ECDSA-P256", "127.0.0.1", ""));
    node.render();
    let command = manifest_command(&node);
    let data = tempfile::tempdir().unwrap();
    let ports = [free_port(), free_port(), free_port()];
    let args = host_args(&node, &command, data.path().to_str().unwrap(), ports);
    let log = std::fs::File::create(node.dir.path().join("etcd.log")).unwrap();
    let _etcd = Etcd(
        Command::new("etcd").args(&args).stdout(Stdio::from(log.try_clone().unwrap())).stderr(log).spawn().unwrap(),
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = health(&node, &node, "etcd/healthcheck-client", ports[0]);
        if out.status.success() {
            assert!(text(&out).contains("is healthy"), "{}", text(&out));
            break;
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(node.dir.path().join("etcd.log")).unwrap_or_default();
            panic!("etcd never became healthy over mTLS:\n{}\nargs: {args:?}\netcd log:\n{log}", text(&out));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // The API server's client certificate is accepted too.
    let out = health(&node, &node, "apiserver-etcd-client", ports[0]);
    assert!(out.status.success(), "apiserver-etcd-client refused:\n{}", text(&out));

    // A client certificate from another etcd CA (another node's PKI) is refused.
    let stranger = Node::new(&config(version, "ECDSA-P256", "127.0.0.1", ""));
    assert!(stranger.run(&["init", "phase", "certs", "all"]).status.success());
    let out = health(&stranger, &node, "etcd/healthcheck-client", ports[0]);
    assert!(!out.status.success(), "etcd accepted a client certificate from another CA:\n{}", text(&out));
    let out = health(&stranger, &node, "apiserver-etcd-client", ports[0]);
    assert!(!out.status.success(), "etcd accepted a client certificate from another CA:\n{}", text(&out));
}

#[test]
fn real_etcd_runs_the_1_33_manifest_and_accepts_only_rendered_clients() {
    etcd_accepts_rendered_clients("v1.33.5");
}

#[test]
fn real_etcd_runs_the_1_34_manifest_and_accepts_only_rendered_clients() {
    etcd_accepts_rendered_clients("v1.34.1");
}
