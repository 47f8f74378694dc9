//! The completion report to a private collector over HTTPS: `report.caCert` is the only trust
//! for it (the system store is not consulted), so a collector with a private CA receives the
//! report, and without the CA nothing is sent. The collector is the TLS test server of
//! join_support serving a certificate from a kubeboot-made CA; bad `report.caCert` values are
//! validation errors with their location.

mod firstboot_common;
mod join_support;

use firstboot_common::{Root, skip_all_but};
use join_support::{StandInApiServer, cluster_pki};
use serde_json::json;

const BEARER: &str = "abcdef.0123456789abcdef";
const META: &str = "instance-id: iid-report-tls\nlocal-hostname: cp-1\n";

fn user_data(url: &str, ca_pem: Option<&str>) -> String {
    let ca = ca_pem
        .map(|pem| format!("  caCert: |\n{}", pem.lines().map(|l| format!("    {l}\n")).collect::<String>()))
        .unwrap_or_default();
    format!(
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\nnode:\n  name: cp-1\n  \
         advertiseAddress: 192.168.56.10\ncluster:\n  kubernetesVersion: v1.33.5\nreport:\n  url: {url}\n  \
         headers:\n    Authorization: \"Bearer {BEARER}\"\n{ca}"
    )
}

fn out_text(o: &std::process::Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

fn posts(api: &StandInApiServer) -> usize {
    api.seen().iter().filter(|r| r.method == "POST" && r.path == "/kubeboot/report").count()
}

#[test]
fn a_private_collector_is_trusted_through_report_ca_cert_only() {
    let pki = cluster_pki("127.0.0.1");
    let api = StandInApiServer::start(
        "127.0.0.1",
        &std::fs::read(pki.pki("apiserver.crt")).unwrap(),
        &std::fs::read(pki.pki("apiserver.key")).unwrap(),
    );
    api.accept_token(BEARER);
    api.put("/kubeboot/report", json!({"kind": "Status", "status": "Success"}));
    let url = format!("https://{}/kubeboot/report", api.endpoint());
    let ca = std::fs::read_to_string(pki.pki("ca.crt")).unwrap();
    let skip = skip_all_but(&[]);

    // Without the CA: the system store does not know the collector; nothing reaches it.
    let root = Root::new();
    root.seed(&user_data(&url, None), META);
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip]);
    assert_eq!(posts(&api), 0, "a report went to an unverified collector: {}", out_text(&out));
    assert!(out_text(&out).contains("completion report"), "the failed report is not mentioned: {}", out_text(&out));

    // With report.caCert: verified, sent once, with the configured header.
    let root = Root::new();
    root.seed(&user_data(&url, Some(&ca)), META);
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip]);
    assert!(out.status.success(), "{}", out_text(&out));
    assert_eq!(posts(&api), 1, "{}", out_text(&out));
    let post = api.seen().into_iter().find(|r| r.method == "POST").unwrap();
    assert!(post.headers.iter().any(|(k, v)| k == "authorization" && v == &format!("Bearer {BEARER}")));
    assert!(!out_text(&out).contains(BEARER), "the header value was logged");
}

#[test]
fn bad_report_ca_cert_values_are_validation_errors() {
    let dir = tempfile::tempdir().unwrap();
    for (name, text, want) in [
        (
            "garbage.yaml",
            user_data("https://collector.example.internal/r", Some("not a certificate")),
            "garbage.yaml:14:5: report.caCert: must be one or more PEM certificates",
        ),
        (
            "http.yaml",
            user_data(
                "http://collector.example.internal/r",
                Some(&std::fs::read_to_string(cluster_pki("127.0.0.1").pki("ca.crt")).unwrap()),
            ),
            "report.caCert: is only used for an https report.url",
        ),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_kubeboot"))
            .args(["config", "validate"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{name}: {}", out_text(&out));
        assert!(out_text(&out).contains(want), "{name}: want {want:?} in {}", out_text(&out));
    }
}
