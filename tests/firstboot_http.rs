//! HTTP datasources against a local server on 127.0.0.1 that speaks IMDSv2 and misbehaves on
//! demand. Each outcome is checked against the stated policy (source/http.rs) and inside time
//! bounds computed from it: with deadline D and backoff cap B, a run that never succeeds
//! gives up in [D − B, D + slack]; a permanent answer (403, 404, oversize) returns in < 1 s.

mod firstboot_common;

use std::time::{Duration, Instant};

use firstboot_common::*;
use kubeboot::source::ec2::{self, TOKEN_HEADER, TOKEN_TTL_HEADER};
use kubeboot::source::http::{self, Fetched, Policy, Request};

/// Short enough for tests, same shape as the boot policy.
const POLICY: Policy = Policy {
    attempt_timeout: Duration::from_millis(500),
    deadline: Duration::from_secs(2),
    max_bytes: 1024 * 1024,
    first_backoff: Duration::from_millis(100),
    max_backoff: Duration::from_millis(400),
};
const SLACK: Duration = Duration::from_millis(400);

const USER_DATA: &[u8] = b"apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: worker\n";
const TOKEN: &str = "AQAEAImdsSessionToken==";

fn assert_gave_up_in_window(start: Instant, err: &anyhow::Error, expect: &str) {
    let took = start.elapsed();
    let msg = format!("{err:#}");
    assert!(msg.contains("gave up after") && msg.contains(expect), "{msg}");
    assert!(
        took >= POLICY.deadline - POLICY.max_backoff && took <= POLICY.deadline + SLACK,
        "gave up after {took:?}, outside [{:?}, {:?}]: {msg}",
        POLICY.deadline - POLICY.max_backoff,
        POLICY.deadline + SLACK
    );
}

/// An IMDSv2 stand-in: a token only for a PUT with the TTL header, data only with that token.
fn imds(user_data: Option<&'static [u8]>) -> Server {
    Server::start(move |req, _| match (req.method.as_str(), req.path.as_str()) {
        ("PUT", "/latest/api/token") if req.header(TOKEN_TTL_HEADER).is_some() => Reply::Ok(TOKEN.into()),
        ("PUT", _) => Reply::Status(400),
        ("GET", _) if req.header(TOKEN_HEADER) != Some(TOKEN) => Reply::Status(401),
        ("GET", "/latest/user-data") => user_data.map(|u| Reply::Ok(u.to_vec())).unwrap_or(Reply::Status(404)),
        ("GET", "/latest/meta-data/instance-id") => Reply::Ok(b"i-0123456789abcdef0".to_vec()),
        _ => Reply::Status(404),
    })
}

#[test]
fn imdsv2_token_then_user_data_and_instance_id() {
    let srv = imds(Some(USER_DATA));
    let ud = ec2::fetch(&srv.url, &POLICY).unwrap().expect("user-data");
    assert_eq!(ud.bytes, USER_DATA);
    assert_eq!(ud.meta.instance_id.as_deref(), Some("i-0123456789abcdef0"));
    let reqs = srv.requests();
    assert_eq!(reqs[0].method, "PUT", "the token comes first");
    assert_eq!(reqs[0].header(TOKEN_TTL_HEADER), Some("21600"));
    assert!(reqs[1..].iter().all(|r| r.method == "GET" && r.header(TOKEN_HEADER) == Some(TOKEN)));
    assert_eq!(reqs.iter().filter(|r| r.method == "PUT").count(), 1, "one token serves every GET");
}

#[test]
fn imdsv2_expired_token_is_refreshed_once() {
    // The first GET is refused as if the token had expired; a second token works.
    let srv = Server::start(|req, i| match (req.method.as_str(), req.path.as_str(), i) {
        ("PUT", _, _) => Reply::Ok(TOKEN.into()),
        ("GET", _, 1) => Reply::Status(401),
        ("GET", "/latest/user-data", _) => Reply::Ok(USER_DATA.to_vec()),
        _ => Reply::Status(404),
    });
    let ud = ec2::fetch(&srv.url, &POLICY).unwrap().expect("user-data");
    assert_eq!(ud.bytes, USER_DATA);
    assert_eq!(ud.meta.instance_id, None, "404 instance-id is simply unknown");
    assert_eq!(srv.requests().iter().filter(|r| r.method == "PUT").count(), 2);
}

#[test]
fn imds_404_user_data_means_none_and_returns_fast() {
    let srv = imds(None);
    let start = Instant::now();
    assert!(ec2::fetch(&srv.url, &POLICY).unwrap().is_none());
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
}

#[test]
fn imds_403_on_token_fails_fast_as_disabled() {
    let srv = Server::start(|_, _| Reply::Status(403));
    let start = Instant::now();
    let err = ec2::fetch(&srv.url, &POLICY).unwrap_err();
    assert!(start.elapsed() < Duration::from_secs(1), "{:?}", start.elapsed());
    assert!(format!("{err:#}").contains("IMDS is disabled"), "{err:#}");
    assert_eq!(srv.requests().len(), 1, "403 is not retried");
}

#[test]
fn connection_refused_retries_until_the_deadline() {
    let url = format!("{}/latest/api/token", refused_url());
    let start = Instant::now();
    let err = http::send(&Request::get(&url), &POLICY).unwrap_err();
    assert_gave_up_in_window(start, &err, "cannot connect");
}

#[test]
fn server_errors_are_retried_with_backoff_until_the_deadline() {
    let srv = Server::start(|_, _| Reply::Status(503));
    let start = Instant::now();
    let err = http::send(&Request::get(&format!("{}/x", srv.url)), &POLICY).unwrap_err();
    assert_gave_up_in_window(start, &err, "503");
    let reqs = srv.requests();
    assert!(reqs.len() >= 4, "only {} attempts in {:?}", reqs.len(), POLICY.deadline);
    // Pauses grow: each is at least half its nominal value (jitter is in [½, 1]).
    for (n, w) in reqs.windows(2).enumerate() {
        let nominal = (POLICY.first_backoff * (1 << n)).min(POLICY.max_backoff);
        let gap = w[1].at - w[0].at;
        assert!(gap >= nominal / 2, "pause {n} was {gap:?}, below half of {nominal:?}");
    }
}

#[test]
fn transient_errors_then_success() {
    let srv = Server::start(|_, i| if i < 2 { Reply::Status(500) } else { Reply::Ok(USER_DATA.to_vec()) });
    let start = Instant::now();
    let got = http::send(&Request::get(&format!("{}/user-data", srv.url)), &POLICY).unwrap();
    assert_eq!(got, Fetched::Body(USER_DATA.to_vec()));
    let took = start.elapsed();
    let min = POLICY.first_backoff / 2 + POLICY.first_backoff; // ½·100 ms + ½·200 ms
    assert!(took >= min && took < POLICY.deadline, "{took:?}");
}

#[test]
fn a_slow_server_is_cut_off_per_attempt_and_by_the_deadline() {
    let srv = Server::start(|_, _| Reply::Slow(Duration::from_secs(3), USER_DATA.to_vec()));
    let start = Instant::now();
    let err = http::send(&Request::get(&format!("{}/user-data", srv.url)), &POLICY).unwrap_err();
    assert_gave_up_in_window(start, &err, "");
    let reqs = srv.requests();
    assert!(reqs.len() >= 2, "an attempt must not wait for the 3 s answer: {} attempt(s)", reqs.len());
}

#[test]
fn a_truncated_body_is_retried_and_a_later_full_one_accepted() {
    let srv = Server::start(|_, i| {
        if i == 0 {
            Reply::Truncated { declared: USER_DATA.len() + 100, sent: USER_DATA[..10].to_vec() }
        } else {
            Reply::Ok(USER_DATA.to_vec())
        }
    });
    let got = http::send(&Request::get(&format!("{}/user-data", srv.url)), &POLICY).unwrap();
    assert_eq!(got, Fetched::Body(USER_DATA.to_vec()));
    assert_eq!(srv.requests().len(), 2);

    let always = Server::start(|_, _| Reply::Truncated { declared: 1000, sent: b"apiVersion".to_vec() });
    let start = Instant::now();
    let err = http::send(&Request::get(&format!("{}/user-data", always.url)), &POLICY).unwrap_err();
    assert_gave_up_in_window(start, &err, "cut short");
}

#[test]
fn a_huge_body_is_refused_at_once_without_reading_it_all() {
    for (name, reply) in [("declared", 0), ("chunked", 1)] {
        let srv = Server::start(move |_, _| if reply == 0 { Reply::Huge(512 << 20) } else { Reply::EndlessChunked });
        let start = Instant::now();
        let err = http::send(&Request::get(&format!("{}/user-data", srv.url)), &POLICY).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1), "{name}: {:?}", start.elapsed());
        assert!(format!("{err:#}").contains("larger than the 1048576-byte limit"), "{name}: {err:#}");
        assert_eq!(srv.requests().len(), 1, "{name}: an oversize body is not retried");
    }
}

#[test]
fn not_found_is_an_answer_not_an_error() {
    let srv = Server::start(|_, _| Reply::Status(404));
    let start = Instant::now();
    assert_eq!(http::send(&Request::get(&format!("{}/user-data", srv.url)), &POLICY).unwrap(), Fetched::NotFound);
    assert!(start.elapsed() < Duration::from_secs(1));
}

/// PXE style: one kernel command line for a fleet, the seed URL personalised by DMI.
#[test]
fn kernel_cmdline_nocloud_url_with_dmi_substitution_end_to_end() {
    let uuid = "4c4c4544-0042-3510-8052-b4c04f384d32";
    let srv = Server::start(move |req, _| match req.path.as_str() {
        p if p == format!("/seed/{uuid}/user-data") => {
            Reply::Ok(control_plane_yaml(&Canaries::new(), None).into_bytes())
        }
        p if p == format!("/seed/{uuid}/meta-data") => {
            Reply::Ok(b"instance-id: pxe-node-42\nlocal-hostname: cp-1\n".to_vec())
        }
        _ => Reply::Status(404),
    });
    let root = Root::new();
    root.file("/proc/cmdline", &format!("BOOT_IMAGE=/vmlinuz ro \"ds=nocloud;s={}/seed/${{uuid}}/\"\n", srv.url));
    root.file("/sys/class/dmi/id/product_uuid", &format!("{}\n", uuid.to_uppercase()));
    let out = root.run(&["--datasource", "cmdline", "--skip-phases", &skip_all_but(&[])]);
    assert!(out.status.success(), "{}", text(&out));
    let st = root.status_json();
    assert_eq!(st["state"], "done");
    assert_eq!(st["instanceId"], "pxe-node-42");
    assert_eq!(st["source"], format!("nocloud:{}/seed/{uuid}/", srv.url));
    assert!(root.read("/var/lib/kubeboot/instances/pxe-node-42/journal.json").is_some());
}

/// A server whose certificate rustls does not trust is "permanently wrong": one attempt, no
/// retries until the deadline. The TLS server is `openssl s_server` with a fresh self-signed cert.
#[test]
fn an_untrusted_https_certificate_fails_at_once() {
    use std::process::{Command, Stdio};
    let dir = tempfile::tempdir().unwrap();
    let (key, cert) = (dir.path().join("k.pem"), dir.path().join("c.pem"));
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1"])
        .args(["-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output();
    let Ok(made) = made else {
        eprintln!("SKIP: openssl is not installed");
        return;
    };
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut server = Command::new("openssl")
        .args(["s_server", "-www", "-accept", &port.to_string(), "-cert"])
        .arg(&cert)
        .arg("-key")
        .arg(&key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(up.elapsed() < Duration::from_secs(5), "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let start = Instant::now();
    let err = http::send(&Request::get(&format!("https://127.0.0.1:{port}/user-data")), &POLICY).unwrap_err();
    let took = start.elapsed();
    let _ = server.kill();
    let _ = server.wait();
    assert!(format!("{err:#}").contains("invalid peer certificate"), "{err:#}");
    assert!(!format!("{err:#}").contains("gave up after"), "a certificate rejection must not be retried: {err:#}");
    assert!(took < Duration::from_secs(1), "{took:?}");
}

/// Off EC2 the IMDS is never contacted (no stall on other platforms); DMI saying EC2, or
/// `kubeboot.datasource=ec2` on the kernel command line, turns the probe on.
#[test]
fn ec2_is_probed_only_when_dmi_or_the_command_line_says_so() {
    use kubeboot::source::{Cmdline, Datasource, Dmi, Env};
    let srv = imds(Some(USER_DATA));
    let env = |dmi: Dmi, cmdline: &str| Env {
        host: kubeboot::host::Host::new("/nonexistent"),
        cmdline: Cmdline::parse(cmdline),
        dmi,
        http: POLICY,
        imds_endpoint: srv.url.clone(),
    };
    let kvm = Dmi { sys_vendor: "QEMU".into(), product_uuid: "4c4c4544-0042".into(), ..Dmi::default() };
    assert!(ec2::Ec2.probe(&env(kvm.clone(), "ro quiet")).unwrap().is_none());
    assert!(srv.requests().is_empty(), "the IMDS was contacted off EC2");

    let nitro = Dmi { sys_vendor: "Amazon EC2".into(), ..Dmi::default() };
    let xen = Dmi { product_uuid: "ec2e1916-9099-7caf-fd21-012345abcdef".into(), ..Dmi::default() };
    for (dmi, cmdline) in [(nitro, ""), (xen, ""), (kvm, "kubeboot.datasource=ec2")] {
        let ud = ec2::Ec2.probe(&env(dmi, cmdline)).unwrap().expect("user-data");
        assert_eq!(ud.bytes, USER_DATA);
    }
}
