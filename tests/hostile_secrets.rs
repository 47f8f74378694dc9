//! Issue 16 item 4: secrets stay out of every output, whichever command, log level or format;
//! status.json and the failure sentinel are root-only and carry no proxy credentials; report
//! headers never travel in clear text over a network. Real runs of the binary on throw-away
//! roots; the cluster phases against the kube-apiserver stand-in.

mod firstboot_common;
mod support;

use std::os::unix::fs::PermissionsExt;

use firstboot_common::*;

const META: &str = "instance-id: iid-secrets\nlocal-hostname: cp-1\n";
const PROXY_PASSWORD: &str = "pr0xy-canary-pass";

fn mode(root: &std::path::Path, rel: &std::path::Path) -> u32 {
    std::fs::metadata(root.join(rel)).unwrap().permissions().mode() & 0o7777
}

/// Every file under the root: private keys and kubeboot's state are root-only, and no file
/// others can read holds a canary or a private key.
fn assert_file_modes(root: &Root, c: &Canaries) {
    for (path, bytes) in all_files(root.path()) {
        let p = path.to_string_lossy().to_string();
        if p.starts_with("var/lib/cloud/seed/") || p.starts_with("proc/") {
            continue; // the input itself
        }
        let m = mode(root.path(), &path);
        let text = String::from_utf8_lossy(&bytes);
        if p.ends_with(".key") || p.starts_with("var/lib/kubeboot/") || p == "run/kubeboot/status.json" {
            assert_eq!(m & 0o077, 0, "{p} must be root-only, is {m:04o}");
        }
        if m & 0o077 != 0 {
            assert!(!text.contains("PRIVATE KEY-----"), "{p} ({m:04o}) holds a private key");
            c.assert_absent(&format!("{p} ({m:04o})"), &bytes);
            assert!(!text.contains(PROXY_PASSWORD), "{p} ({m:04o}) holds the proxy password");
        }
        if !(p.ends_with("/user-data") && p.starts_with("var/lib/kubeboot/instances/")) {
            c.assert_absent(&p, &bytes);
        }
    }
}

/// A run through the real preflight and file phases with -vvv and JSON logs, an HTTPS proxy
/// with a password in the environment, and a report to a local listener: no canary and no
/// proxy password in stdout, stderr, status.json, the report body or any file, and
/// status.json is 0600.
#[test]
fn run_with_vvv_json_logs_and_a_proxy_leaks_nothing() {
    let c = Canaries::new();
    let listener = Server::start(|_, _| Reply::Ok(b"{}".to_vec()));
    let url = format!("{}/report", listener.url);
    let root = Root::new();
    root.seed(&(control_plane_yaml(&c, Some(&url)) + IGNORE_PREFLIGHT), META);
    let mut keep = vec!["preflight"];
    keep.extend(FILE_PHASES);
    let out = root
        .kubeboot()
        .env("HTTPS_PROXY", format!("http://proxyuser:{PROXY_PASSWORD}@proxy.invalid:3128"))
        .env_remove("NO_PROXY")
        .env_remove("no_proxy")
        .args(["run", "--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&keep), "-vvv"])
        .args(["--log-format", "json"])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("{\""), "JSON log lines were written\n{t}");
    let status = root.read("/run/kubeboot/status.json").unwrap();
    let st = String::from_utf8_lossy(&status);
    assert!(st.contains("HTTPProxy"), "the proxy finding is in status.json (else this proves nothing)\n{st}");
    assert!(st.contains("proxy.invalid"), "{st}");
    for (what, bytes) in [("stdout", &out.stdout), ("stderr", &out.stderr), ("status.json", &status)] {
        c.assert_absent(what, bytes);
        assert!(!String::from_utf8_lossy(bytes).contains(PROXY_PASSWORD), "proxy password in {what}:\n{t}\n{st}");
    }
    let reports = listener.requests();
    assert!(!reports.is_empty(), "the report was sent");
    for r in reports {
        c.assert_absent("the report body", &r.body);
        assert!(!String::from_utf8_lossy(&r.body).contains(PROXY_PASSWORD), "proxy password in the report body");
    }
    assert_eq!(mode(root.path(), "run/kubeboot/status.json".as_ref()), 0o600);
    assert_file_modes(&root, &c);
}

/// Errors of commands other than `run` go through the same redaction: a config whose token has
/// the wrong shape is reported without echoing it, by every command that reads a config.
#[test]
fn errors_of_every_command_are_redacted() {
    let c = Canaries::new();
    let root = Root::new();
    let bad = control_plane_yaml(&c, None)
        .replace(&c.token, &format!("{}-X", c.token))
        .replace("uploadCerts: true", "uploadCert: true");
    let cfg = root.path().join("bad.yaml");
    std::fs::write(&cfg, &bad).unwrap();
    let cfg = cfg.to_str().unwrap();
    for args in [
        vec!["init", "--config", cfg, "-vvv"],
        vec!["init", "phase", "certs", "--config", cfg, "-vvv", "--log-format", "json"],
        vec!["join", "--config", cfg, "-vvv"],
        vec!["preflight", "--config", cfg, "-vvv"],
        vec!["render", "--config", cfg, "-vvv"],
        vec!["reset", "--force", "--config", cfg, "-vvv"],
        vec!["config", "validate", cfg, "-vvv"],
    ] {
        let out = root.kubeboot().args(&args).output().unwrap();
        let t = text(&out);
        assert_ne!(out.status.code(), Some(0), "`{}` accepted a bad config\n{t}", args.join(" "));
        c.assert_absent(&format!("stdout of `{}`", args.join(" ")), &out.stdout);
        c.assert_absent(&format!("stderr of `{}`", args.join(" ")), &out.stderr);
    }
}

/// A discovery URL with a password, refused by the server: neither `join`'s progress line nor
/// its error shows the password.
#[test]
fn a_join_discovery_url_password_is_not_echoed() {
    let root = Root::new();
    let cfg = root.path().join("w.yaml");
    std::fs::write(
        &cfg,
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\nnode:\n  name: worker-1\ncluster:\n  \
         kubernetesVersion: v1.33.5\njoin:\n  apiServerEndpoint: 127.0.0.1:1\n  token: abcdef.0123456789abcdef\n  \
         discoveryFile: https://bob:S3cretPassw0rd@127.0.0.1:1/cluster-info.yaml\ntimeouts:\n  discovery: 2s\n",
    )
    .unwrap();
    for format in ["text", "json"] {
        let out = root
            .kubeboot()
            .args(["join", "phase", "discovery", "--config"])
            .arg(&cfg)
            .args(["-vvv", "--log-format", format])
            .output()
            .unwrap();
        let t = text(&out);
        assert_ne!(out.status.code(), Some(0), "{t}");
        assert!(t.contains("127.0.0.1:1/cluster-info.yaml"), "the URL is still named\n{t}");
        assert!(!t.contains("S3cretPassw0rd"), "the password is echoed\n{t}");
    }
}

/// The cluster phases of init (bootstrap token, upload-certs with a generated certificate key,
/// kubelet-finalize, addons) against the API server stand-in, at -vvv in both log formats: no
/// canary token, no generated certificate key and no private key in any log line or error.
#[test]
fn cluster_phases_at_vvv_leak_no_secret_into_logs() {
    let c = Canaries::new();
    let extra = format!("bootstrapTokens:\n  - token: {}\nuploadCerts: true\n", c.token);
    let node = support::Node::new("v1.34.1", &extra);
    node.server.register_node_after(support::NODE_NAME, std::time::Duration::from_secs(1));
    node.write("/var/lib/kubelet/pki/kubelet-client-current.pem", b"rotated");
    let mut outs = Vec::new();
    for format in ["text", "json"] {
        outs.push(node.kubeboot(&["init", "--skip-phases", "preflight", "-vvv", "--log-format", format]));
    }
    let key = std::fs::read_to_string(node.path("/var/lib/kubeboot/certificate-key")).expect("a generated key");
    let key = key.trim();
    assert_eq!(key.len(), 64);
    for (i, out) in outs.iter().enumerate() {
        let t = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "init {i} failed\n{t}");
        assert!(!t.contains(key), "the generated certificate key is in the log of init {i}");
        assert!(!t.contains(&c.token[7..]), "the token secret is in the log of init {i}");
        assert!(!t.contains("PRIVATE KEY-----\n"), "a private key is in the log of init {i}");
        assert!(!String::from_utf8_lossy(&out.stdout).contains(key), "the generated key printed by init {i}");
    }
}

/// `report.headers` carry credentials: refused over plain http to another host, allowed over
/// https and to a collector on this host.
#[test]
fn report_headers_over_plain_http_are_refused() {
    let root = Root::new();
    let c = Canaries::new();
    for (url, ok) in [
        ("http://collector.example.com/r", false),
        ("http://10.0.0.1:8080/r", false),
        ("https://collector.example.com/r", true),
        ("http://127.0.0.1:8080/r", true),
    ] {
        let cfg = root.path().join("report.yaml");
        std::fs::write(&cfg, control_plane_yaml(&c, Some(url))).unwrap();
        let out = root.kubeboot().args(["config", "validate"]).arg(&cfg).output().unwrap();
        let t = text(&out);
        assert_eq!(out.status.success(), ok, "{url}\n{t}");
        if !ok {
            assert!(t.contains("report.headers") && t.contains("https://"), "{url}: says what to do\n{t}");
        }
        c.assert_absent("config validate", &out.stdout);
        c.assert_absent("config validate", &out.stderr);
    }
}
