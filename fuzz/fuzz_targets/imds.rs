//! EC2 IMDS answers, byte for byte: a loopback server answers kubeboot's IMDSv2 exchange (token
//! PUT, user-data GET, instance-id GET) with the fuzzer's raw HTTP responses, split on
//! `\0\0` and used in order (the last repeats). Exercises the HTTP client policy (status
//! handling, size cap, truncated bodies), the token handling and user-data unwrapping.
#![no_main]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use kubeboot::source::http::Policy;
use libfuzzer_sys::fuzz_target;

static ANSWERS: Mutex<Vec<Vec<u8>>> = Mutex::new(Vec::new());
static ENDPOINT: OnceLock<String> = OnceLock::new();

fn endpoint() -> &'static str {
    ENDPOINT.get_or_init(|| {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_millis(500)));
                // Read the request head (kubeboot's requests have no body).
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match conn.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = {
                    let mut q = ANSWERS.lock().unwrap();
                    if q.len() > 1 { q.remove(0) } else { q.first().cloned().unwrap_or_default() }
                };
                let _ = conn.write_all(&answer);
                // Closing ends a body without a length; the client must not wait for more.
            }
        });
        format!("http://{addr}")
    })
}

fuzz_target!(|data: &[u8]| {
    let endpoint = endpoint();
    let mut answers: Vec<Vec<u8>> = Vec::new();
    let mut rest = data;
    while let Some(i) = rest.windows(2).position(|w| w == b"\0\0") {
        answers.push(rest[..i].to_vec());
        rest = &rest[i + 2..];
    }
    answers.push(rest.to_vec());
    *ANSWERS.lock().unwrap() = answers;
    let policy = Policy {
        attempt_timeout: Duration::from_secs(2),
        deadline: Duration::from_secs(2),
        max_bytes: 64 * 1024,
        first_backoff: Duration::from_secs(5),
        max_backoff: Duration::from_secs(5),
    };
    if let Ok(Some(ud)) = kubeboot::source::ec2::fetch(endpoint, &policy) {
        assert!(ud.bytes.len() <= policy.max_bytes, "IMDS body over the cap");
        let _ = kubeboot::source::userdata::unwrap(ud.bytes);
    }
});
