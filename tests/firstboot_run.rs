//! `kubeboot run` end to end on a throw-away root with a NoCloud seed directory: run-once,
//! crash and resume, changed user-data, concurrent runs, status exit codes, sentinels, the
//! completion report received by a local listener, and a canary scan over every output.

mod firstboot_common;

use std::time::{Duration, Instant};

use firstboot_common::*;

const META: &str = "instance-id: iid-run-1\nlocal-hostname: cp-1\n";
const INSTANCE_DIR: &str = "var/lib/kubeboot/instances/iid-run-1";

fn skip_all() -> String {
    skip_all_but(&[])
}

/// A root whose `certs` phase cannot succeed: /etc/kubernetes is a regular file.
fn break_certs(root: &Root) {
    root.file("/etc/kubernetes", "not a directory\n");
}

fn code(o: &std::process::Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn status_exit_codes_and_sentinels_through_failure_then_success() {
    let root = Root::new();
    let st = root.status(&[]);
    assert_eq!(code(&st), 2, "never started: {}", text(&st));
    assert!(String::from_utf8_lossy(&st.stdout).contains("not started"));

    root.seed(&control_plane_yaml(&Canaries::new(), None), META);
    break_certs(&root);
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["certs"])]);
    assert_ne!(code(&out), 0, "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let result = stdout.lines().find(|l| l.starts_with("KUBEBOOT-RESULT ")).expect("result line");
    let result: serde_json::Value = serde_json::from_str(&result["KUBEBOOT-RESULT ".len()..]).unwrap();
    assert_eq!((result["state"].as_str(), result["phase"].as_str()), (Some("failed"), Some("certs")));
    assert!(String::from_utf8_lossy(&out.stderr).contains("FIRST BOOT FAILED in phase `certs`"), "{}", text(&out));

    let st = root.status(&["--wait"]);
    assert_eq!(code(&st), 1, "failed: {}", text(&st));
    let json = root.status_json();
    assert_eq!(json["state"], "failed");
    assert_eq!(json["error"]["phase"], "certs");
    assert!(root.read("/run/kubeboot/failed").is_some());
    assert!(root.read("/run/kubeboot/complete").is_none());
    assert!(root.read("/run/cluster-api/bootstrap-success.complete").is_none());

    // The operator decides to skip the broken phase: the resumed run finishes.
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let st = root.status(&["--long"]);
    assert_eq!(code(&st), 0, "{}", text(&st));
    assert!(String::from_utf8_lossy(&st.stdout).contains("(resumed)"), "{}", text(&st));
    let st = root.status(&["--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!((code(&st), doc["status"].as_str(), doc["state"].as_str()), (0, Some("done"), Some("done")));
    let json = root.status_json();
    assert_eq!(json["state"], "done");
    assert_eq!(json["resumed"], true);
    assert_eq!(json["phases"].as_array().unwrap().len(), INIT_PHASES.len());
    assert!(root.read("/run/kubeboot/failed").is_none(), "the failure sentinel goes away on success");
    assert!(root.read("/run/kubeboot/complete").is_some());
    assert_eq!(root.read("/run/cluster-api/bootstrap-success.complete").as_deref(), Some(&b"success"[..]));
    assert_eq!(root.read("/var/lib/kubeboot/status.json"), root.read("/run/kubeboot/status.json"));

    // After a "reboot" (/run emptied) status comes from the persisted copy, and a run restores /run.
    std::fs::remove_dir_all(root.path().join("run")).unwrap();
    assert_eq!(code(&root.status(&[])), 0);
    assert_eq!(code(&root.run(&["--datasource", "nocloud-dir"])), 0);
    assert!(root.read("/run/cluster-api/bootstrap-success.complete").is_some());
}

#[test]
fn rerun_after_success_writes_nothing_and_is_quick() {
    let root = Root::new();
    root.seed(&control_plane_yaml(&Canaries::new(), None), META);
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let before = snapshot(root.path());
    let start = Instant::now();
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()]);
    let took = start.elapsed();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("nothing to do"), "{}", text(&out));
    assert_eq!(before, snapshot(root.path()), "a re-run of a finished instance changed the root");
    eprintln!("re-run of a finished instance took {took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
}

#[test]
fn a_killed_run_shows_interrupted_and_resumes() {
    let root = Root::new();
    root.seed(&control_plane_yaml(&Canaries::new(), None), META);
    let out = root
        .kubeboot()
        .env("KUBEBOOT_FAILPOINT", "certs:before")
        .args(["run", "--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["certs"])])
        .output()
        .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "killed by the failpoint: {}", text(&out));
    let journal: serde_json::Value =
        serde_json::from_slice(&root.read(&format!("{INSTANCE_DIR}/journal.json")).unwrap()).unwrap();
    assert_eq!(journal["phases"][0]["name"], "certs");
    assert_eq!(journal["phases"][0]["state"], "started");
    assert!(journal.get("doneAt").is_none());

    let st = root.status(&["--wait"]);
    assert_eq!(code(&st), 1, "{}", text(&st));
    assert!(String::from_utf8_lossy(&st.stdout).contains("status: interrupted"), "{}", text(&st));

    // A write the kill interrupted leaves a dot-prefixed temp file; the resumed run clears it.
    root.file("/etc/kubernetes/pki/.ca.key.kubeboot-4242.tmp", "half a key");
    root.file("/etc/kubernetes/.notes.tmp", "not ours");
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(root.read("/etc/kubernetes/pki/.ca.key.kubeboot-4242.tmp").is_none(), "stale temp file kept");
    assert!(root.read("/etc/kubernetes/.notes.tmp").is_some(), "a file kubeboot did not write was removed");
    let journal: serde_json::Value =
        serde_json::from_slice(&root.read(&format!("{INSTANCE_DIR}/journal.json")).unwrap()).unwrap();
    assert_eq!(journal["runs"], 2);
    assert!(journal["doneAt"].is_string());
}

/// VM tests cannot set the environment of a systemd unit: the kernel parameter works too.
#[test]
fn the_failpoint_can_come_from_the_kernel_command_line() {
    let root = Root::new();
    root.seed(&control_plane_yaml(&Canaries::new(), None), META);
    root.file("/proc/cmdline", "ro quiet kubeboot.failpoint=certs:before\n");
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["certs"])]);
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(9), "{}", text(&out));
}

#[test]
fn changed_user_data_refuses_to_resume_unless_forced() {
    let root = Root::new();
    root.seed(&control_plane_yaml(&Canaries::new(), None), META);
    break_certs(&root);
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["certs"])]);
    assert_ne!(code(&out), 0);
    let instance = snapshot(&root.path().join(INSTANCE_DIR));

    root.seed(&control_plane_yaml(&Canaries::new(), None), META); // same instance-id, other user-data
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("different user-data"), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--force"), "{}", text(&out));
    assert_eq!(instance, snapshot(&root.path().join(INSTANCE_DIR)), "the refused run touched the journal");
    assert_eq!(root.status_json()["error"]["phase"], "journal");

    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all(), "--force"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let seeded = root.read("/var/lib/cloud/seed/nocloud/user-data").unwrap();
    assert_eq!(
        root.read(&format!("{INSTANCE_DIR}/user-data")).unwrap(),
        seeded,
        "the journal now holds the new user-data"
    );
}

/// The first run is held inside its preflight phase by a CRI socket that accepts and never
/// answers (the check's 5 s timeout); meanwhile a second run must exit busy without writing.
#[test]
fn a_concurrent_second_run_exits_busy_without_writing() {
    let stall_dir = tempfile::tempdir().unwrap();
    let socket = stall_dir.path().join("stalled-cri.sock");
    let _stalled = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let root = Root::new();
    let ud = control_plane_yaml(&Canaries::new(), None)
        .replace("  name: cp-1\n", &format!("  name: cp-1\n  criSocket: unix://{}\n", socket.display()));
    root.seed(&(ud + IGNORE_PREFLIGHT), META);
    let mut first = root
        .kubeboot()
        .args(["run", "--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["preflight"])])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while root.read("/run/kubeboot/status.json").is_none_or(|_| root.status_json()["currentPhase"] != "preflight") {
        assert!(start.elapsed() < Duration::from_secs(10), "the first run never reached preflight");
        std::thread::sleep(Duration::from_millis(20));
    }
    let before = snapshot(root.path());
    let second = root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()]);
    assert_eq!(code(&second), 75, "{}", text(&second));
    assert!(String::from_utf8_lossy(&second.stderr).contains("another kubeboot run"), "{}", text(&second));
    assert_eq!(before, snapshot(root.path()), "the busy run wrote something");

    // Meanwhile status says running (exit 2), and --wait returns when the first run is done.
    let st = root.status(&[]);
    assert_eq!((code(&st), String::from_utf8_lossy(&st.stdout).trim()), (2, "status: running"), "{}", text(&st));
    let st = root.status(&["--wait"]);
    assert_eq!(code(&st), 0, "{}", text(&st));
    assert!(first.wait().unwrap().success());
    let findings = root.status_json()["preflight"]["findings"].clone();
    assert!(findings.as_array().unwrap().iter().any(|f| f["name"] == "CRI"), "the stalled CRI check is reported");
}

#[test]
fn reports_reach_the_listener_on_success_and_on_failure() {
    let canaries = Canaries::new();
    let listener = Server::start(|_, _| Reply::Ok(b"{}".to_vec()));
    let url = format!("{}/kubeboot/report", listener.url);

    let ok = Root::new();
    ok.seed(&control_plane_yaml(&canaries, Some(&url)), META);
    assert_eq!(code(&ok.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()])), 0);

    // Preflight runs for real (errors demoted to warnings), then certs fails.
    let bad = Root::new();
    bad.seed(&(control_plane_yaml(&canaries, Some(&url)) + IGNORE_PREFLIGHT), "instance-id: iid-run-2\n");
    break_certs(&bad);
    let out = bad.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["preflight", "certs"])]);
    assert_ne!(code(&out), 0, "{}", text(&out));

    let reqs = listener.requests();
    assert_eq!(reqs.len(), 2, "one report per run");
    for r in &reqs {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/kubeboot/report"));
        assert_eq!(r.header("authorization"), Some(canaries.header.as_str()), "configured headers are sent");
        assert_eq!(r.header("content-type"), Some("application/json"));
        canaries.assert_absent("the report body", &r.body);
    }
    let success: serde_json::Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(success["state"], "done");
    assert_eq!(success["instanceId"], "iid-run-1");
    assert_eq!(success["nodeName"], "cp-1");
    assert_eq!(success["role"], "control-plane");
    assert_eq!(success["kubernetesVersion"], "v1.33.5");
    assert_eq!(success["kubebootVersion"], env!("CARGO_PKG_VERSION"));
    let names: Vec<&str> = success["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, INIT_PHASES);
    assert!(success.get("error").is_none());

    let failure: serde_json::Value = serde_json::from_slice(&reqs[1].body).unwrap();
    assert_eq!(failure["state"], "failed");
    assert_eq!(failure["instanceId"], "iid-run-2");
    assert_eq!(failure["error"]["phase"], "certs");
    let phase = |name: &str| failure["phases"].as_array().unwrap().iter().find(|p| p["name"] == name).unwrap().clone();
    assert_eq!(phase("certs")["state"], "failed");
    assert!(phase("certs")["durationMs"].is_u64());
    assert_eq!(phase("preflight")["state"], "done");
    let findings = failure["preflight"]["findings"].as_array().expect("preflight findings in the report");
    assert!(findings.iter().any(|f| f["ignored"] == true && f["name"].is_string()), "{findings:?}");
    assert!(success.get("preflight").is_none(), "preflight was skipped in the successful run");
}

/// Unique secrets planted in user-data must not appear in any output or file, on any path:
/// success, phase failure, invalid config, a crash, a busy run, a refused resume.
#[test]
fn canary_secrets_never_leave_the_user_data() {
    let c = Canaries::new();
    let listener = Server::start(|_, _| Reply::Ok(b"{}".to_vec()));
    let url = format!("{}/report", listener.url);
    let ud = control_plane_yaml(&c, Some(&url));
    let mut outputs = Vec::new();

    // Success through the real preflight and file phases: keys, kubeconfigs, manifests are scanned too.
    let success = Root::new();
    success.seed(&(ud.clone() + IGNORE_PREFLIGHT), META);
    let mut keep = vec!["preflight"];
    keep.extend(FILE_PHASES);
    let out = success.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&keep), "-vv"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(success.read("/etc/kubernetes/admin.conf").is_some(), "the file phases ran");
    outputs.push(out);
    outputs.push(success.run(&["--datasource", "nocloud-dir", "-vv"])); // already done
    outputs.push(success.status(&["--long"]));
    outputs.push(success.status(&["--json"]));

    let failure = Root::new();
    failure.seed(&ud, META);
    break_certs(&failure);
    outputs.push(failure.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["certs"]), "-vv"]));
    outputs.push(failure.status(&["--long"]));
    // A different canary in the same unfinished instance: refused, and neither value is echoed.
    let other = Canaries::new();
    failure.seed(&control_plane_yaml(&other, Some(&url)), META);
    let refused = failure.run(&["--datasource", "nocloud-dir", "-vv"]);
    other.assert_absent("a refused run's output", &refused.stdout);
    other.assert_absent("a refused run's output", &refused.stderr);
    outputs.push(refused);
    failure.seed(&ud, META);

    let invalid = Root::new();
    // Invalid on purpose: a canary-bearing token with the wrong shape, and an unknown key.
    let bad = ud.replace(&c.token, &format!("{}-X", c.token)).replace("uploadCerts: true", "uploadCert: true");
    invalid.seed(&bad, META);
    let out = invalid.run(&["--datasource", "nocloud-dir", "-vv"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    outputs.push(out);

    let crashed = Root::new();
    crashed.seed(&ud, META);
    outputs.push(
        crashed
            .kubeboot()
            .env("KUBEBOOT_FAILPOINT", "certs:after")
            .args(["run", "--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["certs"]), "-vv"])
            .output()
            .unwrap(),
    );
    outputs.push(crashed.status(&["--long"]));

    for (i, o) in outputs.iter().enumerate() {
        c.assert_absent(&format!("stdout of command {i}"), &o.stdout);
        c.assert_absent(&format!("stderr of command {i}"), &o.stderr);
    }
    for r in listener.requests() {
        c.assert_absent("a report body", &r.body);
    }
    for root in [&success, &failure, &invalid, &crashed] {
        for (path, bytes) in all_files(root.path()) {
            let p = path.to_string_lossy();
            if p.starts_with("var/lib/cloud/seed/") {
                continue; // the input itself
            }
            if p.ends_with("/user-data") && p.starts_with("var/lib/kubeboot/instances/") {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(root.path().join(&path)).unwrap().permissions().mode() & 0o777;
                assert_eq!(mode, 0o600, "{p}: the kept user-data copy must be root-only");
                continue;
            }
            c.assert_absent(&p, &bytes);
        }
    }
}

#[test]
fn no_user_data_anywhere_is_a_reported_failure() {
    let root = Root::new();
    let out = root.run(&["--datasource", "cmdline,nocloud-dir"]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user-data found (looked at: cmdline, nocloud-dir)"));
    assert_eq!(root.status_json()["error"]["phase"], "datasource");
    assert_eq!(root.status_json()["phases"], serde_json::json!([]), "no phase ran");
    assert!(root.read("/run/kubeboot/failed").is_some());
    assert!(root.read("/var/lib/kubeboot/instances").is_none(), "no instance without user-data");
}

#[test]
fn kernel_cmdline_config_path() {
    let root = Root::new();
    root.file("/etc/kubeboot/node.yaml", &control_plane_yaml(&Canaries::new(), None));
    root.file("/proc/cmdline", "BOOT_IMAGE=/vmlinuz ro kubeboot.config=/etc/kubeboot/node.yaml\n");
    let out = root.run(&["--skip-phases", &skip_all()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let st = root.status_json();
    assert_eq!(st["source"], "cmdline:kubeboot.config=/etc/kubeboot/node.yaml");
    assert_eq!(st["instanceId"], "0123456789abcdef0123456789abcdef", "no meta-data: /etc/machine-id");
}

/// A gzip-compressed multipart MIME message from `--user-data FILE`; the instance is named
/// by /etc/machine-id since a plain file has no meta-data.
#[test]
fn user_data_file_gzip_multipart_and_machine_id() {
    use std::io::Write;
    let c = Canaries::new();
    let cloud_config = format!(
        "#cloud-config\nkubeboot:\n{}",
        control_plane_yaml(&c, None).lines().map(|l| format!("  {l}\n")).collect::<String>()
    );
    let mime = format!(
        "Content-Type: multipart/mixed; boundary=\"==BOUNDARY==\"\nMIME-Version: 1.0\n\n--==BOUNDARY==\n\
         Content-Type: text/x-shellscript\n\n#!/bin/sh\necho unrelated\n--==BOUNDARY==\n\
         Content-Type: text/cloud-config\n\n{cloud_config}\n--==BOUNDARY==--\n"
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(mime.as_bytes()).unwrap();
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), gz.finish().unwrap()).unwrap();

    let root = Root::new();
    let out = root.run(&["--user-data", file.path().to_str().unwrap(), "--skip-phases", &skip_all()]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let st = root.status_json();
    assert_eq!(st["instanceId"], "0123456789abcdef0123456789abcdef");
    assert_eq!(st["nodeName"], "cp-1");
    let kept = root.read("/var/lib/kubeboot/instances/0123456789abcdef0123456789abcdef/user-data").unwrap();
    assert_eq!(String::from_utf8(kept).unwrap(), cloud_config, "the unwrapped cloud-config part is what is kept");
}

/// Under systemd (NOTIFY_SOCKET set) each phase boundary is announced as STATUS=, the end as READY=1.
#[test]
fn sd_notify_status_and_ready() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(200))).unwrap();
    let root = Root::new();
    root.seed(&(control_plane_yaml(&Canaries::new(), None) + IGNORE_PREFLIGHT), META);
    let out = root
        .kubeboot()
        .env("NOTIFY_SOCKET", &sock_path)
        .args(["run", "--datasource", "nocloud-dir", "--skip-phases", &skip_all_but(&["preflight"])])
        .output()
        .unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let mut msgs = Vec::new();
    let mut buf = [0u8; 4096];
    while let Ok(n) = sock.recv(&mut buf) {
        msgs.push(String::from_utf8_lossy(&buf[..n]).into_owned());
    }
    assert!(msgs.iter().any(|m| m.contains("STATUS=kubeboot: phase preflight")), "{msgs:?}");
    let last = msgs.last().expect("no sd_notify message");
    assert!(last.contains("READY=1") && last.contains("STATUS=kubeboot: done"), "{msgs:?}");
}

/// A crash after the journal's done mark but before the final status was written: the journal
/// is the truth, the next run rebuilds a done status and the success sentinels from it.
#[test]
fn a_lost_final_status_is_rebuilt_from_the_finished_journal() {
    let root = Root::new();
    root.seed(&control_plane_yaml(&Canaries::new(), None), META);
    assert_eq!(code(&root.run(&["--datasource", "nocloud-dir", "--skip-phases", &skip_all()])), 0);
    std::fs::remove_dir_all(root.path().join("run")).unwrap();
    std::fs::remove_file(root.path().join("var/lib/kubeboot/status.json")).unwrap();
    let out = root.run(&["--datasource", "nocloud-dir"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let st = root.status_json();
    assert_eq!((st["state"].as_str(), st["instanceId"].as_str()), (Some("done"), Some("iid-run-1")));
    assert!(root.read("/run/cluster-api/bootstrap-success.complete").is_some());
    assert_eq!(code(&root.status(&[])), 0);
}

/// A worker runs the join phase table; the status lists those phases and the role.
#[test]
fn a_worker_runs_the_join_phases() {
    let root = Root::new();
    let worker = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/examples/worker.yaml")).unwrap();
    let worker = &worker[..worker.find("report:").unwrap()]; // no report to example.internal
    root.seed(worker, "instance-id: iid-worker-1\n");
    let join = "preflight,discovery,control-plane-prepare,kubelet-start,etcd-join,kubelet-wait-bootstrap,\
                mark-control-plane,wait-control-plane";
    let out = root.run(&["--datasource", "nocloud-dir", "--skip-phases", join]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let st = root.status_json();
    assert_eq!((st["role"].as_str(), st["nodeName"].as_str()), (Some("worker"), Some("worker-1")));
    let names: Vec<&str> = st["phases"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names.join(","), join);
    assert!(st["phases"].as_array().unwrap().iter().all(|p| p["state"] == "skipped"));
}
