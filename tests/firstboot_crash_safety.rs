//! Crash safety of `kubeboot run` (issue 16, item 9), with the real binary: a corrupt journal
//! is refused with a clear error and recorded as a failure (never a panic), and a panic — a bug
//! — is still recorded (status, persisted status, failed sentinel, console line, report POST)
//! before the process aborts, as the release build's `panic = "abort"` would.

mod firstboot_common;

use std::os::unix::process::ExitStatusExt;

use firstboot_common::*;

const META: &str = "instance-id: iid-crash\nlocal-hostname: cp-1\n";
const JOURNAL: &str = "/var/lib/kubeboot/instances/iid-crash/journal.json";

fn user_data() -> String {
    control_plane_yaml(&Canaries::new(), None) + IGNORE_PREFLIGHT
}

fn good_journal(sha: &str) -> String {
    format!(
        r#"{{"instanceId":"iid-crash","userDataSha256":"{sha}","origin":"nocloud-dir","createdAt":"2026-01-01T00:00:00Z","runs":1,"phases":[{{"name":"preflight","state":"done","startedAt":"2026-01-01T00:00:00Z"}}]}}"#
    )
}

#[test]
fn a_corrupt_journal_is_a_clear_recorded_failure_and_changes_nothing_else() {
    let sha = "0".repeat(64);
    let cases: Vec<(&str, String, &str)> = vec![
        ("short hash", good_journal("abc"), "userDataSha256 is not a SHA-256 digest"),
        ("empty hash", good_journal(""), "userDataSha256 is not a SHA-256 digest"),
        ("non-hex hash", good_journal(&"Z".repeat(64)), "userDataSha256 is not a SHA-256 digest"),
        ("multibyte hash", good_journal(&"é".repeat(6)), "userDataSha256 is not a SHA-256 digest"),
        ("truncated", good_journal(&sha)[..60].to_string(), "is not a kubeboot journal"),
        ("not JSON", "\u{0}\u{1}garbage".into(), "is not a kubeboot journal"),
        ("wrong type", good_journal(&sha).replace("\"runs\":1", "\"runs\":\"one\""), "is not a kubeboot journal"),
        ("other instance", good_journal(&sha).replace("\"iid-crash\"", "\"iid-other\""), "belongs to instance"),
        (
            "repeated phase",
            good_journal(&sha).replace("]}", r#",{"name":"preflight","state":"done","startedAt":"x"}]}"#),
            "repeated",
        ),
    ];
    for (what, journal, expect) in cases {
        let root = Root::new();
        root.seed(&user_data(), META);
        root.file(JOURNAL, &journal);
        let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["preflight"])]);
        let t = text(&out);
        assert_eq!(out.status.signal(), None, "{what}: kubeboot crashed: {t}");
        assert_eq!(out.status.code(), Some(1), "{what}: {t}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(JOURNAL) && stderr.contains(expect), "{what}: unclear error: {t}");
        assert!(stderr.contains("move it away"), "{what}: the error does not say what to do: {t}");
        let status = root.status_json();
        assert_eq!(status["state"], "failed", "{what}: {status}");
        assert_eq!(status["error"]["phase"], "journal", "{what}: {status}");
        assert!(root.read("/run/kubeboot/failed").is_some(), "{what}: no failed sentinel");
        assert_eq!(root.read(JOURNAL).unwrap(), journal.as_bytes(), "{what}: the journal was rewritten");
        assert!(!root.path().join("etc/kubernetes").exists(), "{what}: a phase ran on a corrupt journal");
    }
}

#[test]
fn a_panic_in_a_phase_is_recorded_before_the_process_aborts() {
    let root = Root::new();
    let report = Server::start(|_, _| Reply::Ok(b"ok".to_vec()));
    let c = Canaries::new();
    let ud = control_plane_yaml(&c, Some(&format!("{}/report", report.url))) + IGNORE_PREFLIGHT;
    root.seed(&ud, META);
    let out = root
        .kubeboot()
        .env("KUBEBOOT_TEST_PANIC", "certs")
        .args(["run", "--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["preflight", "certs"])])
        .output()
        .unwrap();
    let t = text(&out);
    assert_eq!(out.status.signal(), Some(6), "a panic must end in abort (SIGABRT): {t}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("internal error (panic") && stderr.contains("KUBEBOOT_TEST_PANIC=certs"), "{t}");

    let status = root.status_json();
    assert_eq!(status["state"], "failed", "{status}");
    assert_eq!(status["error"]["phase"], "certs", "{status}");
    assert!(status["error"]["message"].as_str().unwrap().contains("This is a bug in kubeboot"), "{status}");
    assert_eq!(status["phases"].as_array().unwrap().iter().find(|p| p["name"] == "certs").unwrap()["state"], "failed");
    let persisted: serde_json::Value =
        serde_json::from_slice(&root.read("/var/lib/kubeboot/status.json").expect("persisted status")).unwrap();
    assert_eq!(persisted["state"], "failed");
    let sentinel = String::from_utf8(root.read("/run/kubeboot/failed").expect("failed sentinel")).unwrap();
    assert!(sentinel.contains("phase certs: internal error"), "{sentinel}");
    assert!(root.read("/run/kubeboot/complete").is_none());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("KUBEBOOT-RESULT") && stdout.contains("failed"), "no console result line: {t}");

    let posted = report.requests();
    assert_eq!(posted.len(), 1, "the failure was not reported: {t}");
    let body: serde_json::Value = serde_json::from_slice(&posted[0].body).unwrap();
    assert_eq!(body["state"], "failed");
    assert_eq!(body["error"]["phase"], "certs");

    // The journal keeps certs as started: the next boot resumes there.
    let journal: serde_json::Value = serde_json::from_slice(&root.read(JOURNAL).unwrap()).unwrap();
    let certs = journal["phases"].as_array().unwrap().iter().find(|p| p["name"] == "certs").unwrap().clone();
    assert_eq!(certs["state"], "started", "{journal}");
    let again = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["preflight", "certs"])]);
    assert!(again.status.success(), "the resumed run failed: {}", text(&again));
    assert_eq!(root.status_json()["state"], "done");
}
