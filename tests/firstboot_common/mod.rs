//! Shared pieces of the first-boot tests: a misbehaving-on-demand HTTP server on 127.0.0.1,
//! user-data with canary secrets, a throw-away root, tree snapshots and the phase lists.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_kubeboot")
}

/// Every `kubeadm init` phase, for `--skip-phases`.
pub const INIT_PHASES: &[&str] = &[
    "preflight",
    "certs",
    "kubeconfig",
    "etcd",
    "control-plane",
    "kubelet-start",
    "wait-control-plane",
    "upload-config",
    "upload-certs",
    "mark-control-plane",
    "bootstrap-token",
    "kubelet-finalize",
    "addon",
    "show-join-command",
];

/// The init phases that only write files (no kubelet, no API server): they run for real here.
pub const FILE_PHASES: &[&str] = &["certs", "kubeconfig", "etcd", "control-plane"];

/// Appended to user-data: preflight runs for real but a bare test root cannot fail it.
pub const IGNORE_PREFLIGHT: &str = "preflight:\n  ignoreErrors: [all]\n";

pub fn skip_all_but(keep: &[&str]) -> String {
    INIT_PHASES.iter().filter(|p| !keep.contains(p)).copied().collect::<Vec<_>>().join(",")
}

/// Unique values planted in user-data; none may appear anywhere but the user-data itself.
pub struct Canaries {
    pub token: String,
    pub certificate_key: String,
    pub header: String,
}

impl Canaries {
    pub fn new() -> Self {
        let mut b = [0u8; 16];
        aws_lc_rs::rand::fill(&mut b).unwrap();
        let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
        Canaries {
            // a valid bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}
            token: format!("{}.{}", &hex[..6], &hex[6..22]),
            certificate_key: format!("{hex}{hex}"),
            header: format!("Bearer canary-{hex}"),
        }
    }

    pub fn all(&self) -> Vec<&str> {
        vec![&self.token, &self.certificate_key, &self.header]
    }

    /// Panics if any canary occurs in `haystack` (named `what` in the message).
    pub fn assert_absent(&self, what: &str, haystack: &[u8]) {
        let text = String::from_utf8_lossy(haystack);
        for c in self.all() {
            assert!(!text.contains(c), "secret canary `{c}` leaked into {what}:\n{text}");
        }
        // The certificate key's halves and the token secret alone must not appear either.
        assert!(!text.contains(&self.token[7..]), "token secret leaked into {what}");
    }
}

/// A control-plane NodeConfig carrying the canaries, reporting to `report_url` when given.
pub fn control_plane_yaml(c: &Canaries, report_url: Option<&str>) -> String {
    let report = match report_url {
        Some(u) => format!("report:\n  url: {u}\n  headers:\n    Authorization: \"{}\"\n", c.header),
        None => String::new(),
    };
    format!(
        "apiVersion: kubeboot.io/v1alpha1\nkind: NodeConfig\nrole: control-plane\nnode:\n  name: cp-1\n  \
         advertiseAddress: 192.168.56.10\ncluster:\n  kubernetesVersion: v1.33.5\nbootstrapTokens:\n  \
         - token: {}\nuploadCerts: true\ncertificateKey: {}\n{report}",
        c.token, c.certificate_key
    )
}

pub struct Root {
    pub dir: tempfile::TempDir,
}

impl Root {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(dir.path().join("etc/machine-id"), "0123456789abcdef0123456789abcdef\n").unwrap();
        Root { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn seed(&self, user_data: &str, meta_data: &str) {
        let d = self.path().join("var/lib/cloud/seed/nocloud");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("user-data"), user_data).unwrap();
        std::fs::write(d.join("meta-data"), meta_data).unwrap();
    }

    pub fn file(&self, node_path: &str, contents: &str) {
        let p = self.path().join(node_path.trim_start_matches('/'));
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, contents).unwrap();
    }

    pub fn kubeboot(&self) -> Command {
        let mut c = Command::new(bin());
        c.arg("--root").arg(self.path()).env_remove("KUBEBOOT_FAILPOINT").env_remove("NOTIFY_SOCKET");
        c
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.kubeboot().arg("run").args(args).output().unwrap()
    }

    pub fn status(&self, args: &[&str]) -> Output {
        self.kubeboot().arg("status").args(args).output().unwrap()
    }

    pub fn read(&self, node_path: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path().join(node_path.trim_start_matches('/'))).ok()
    }

    pub fn status_json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.read("/run/kubeboot/status.json").expect("status.json")).unwrap()
    }
}

pub fn text(o: &Output) -> String {
    format!("--- stdout\n{}--- stderr\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// Every regular file under `dir` with mode, inode, mtime, ctime and contents: two equal
/// snapshots mean nothing was written (not even rewritten with the same bytes).
#[derive(Debug, PartialEq, Eq)]
pub struct Entry {
    pub mode: u32,
    pub ino: u64,
    pub mtime_ns: i128,
    pub ctime_ns: i128,
    pub contents: Vec<u8>,
}

pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Entry> {
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, Entry>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let m = std::fs::symlink_metadata(&p).unwrap();
        let rel = p.strip_prefix(base).unwrap().to_path_buf();
        if m.is_dir() {
            out.insert(
                rel.join(""),
                Entry {
                    mode: m.mode(),
                    ino: m.ino(),
                    mtime_ns: ns(m.mtime(), m.mtime_nsec()),
                    ctime_ns: 0,
                    contents: vec![],
                },
            );
            walk(base, &p, out);
        } else {
            let contents = if m.is_file() { std::fs::read(&p).unwrap() } else { vec![] };
            out.insert(
                rel,
                Entry {
                    mode: m.mode(),
                    ino: m.ino(),
                    mtime_ns: ns(m.mtime(), m.mtime_nsec()),
                    ctime_ns: ns(m.ctime(), m.ctime_nsec()),
                    contents,
                },
            );
        }
    }
}

fn ns(s: i64, n: i64) -> i128 {
    s as i128 * 1_000_000_000 + n as i128
}

/// Every file under `dir` with its bytes (for canary scans).
pub fn all_files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    snapshot(dir)
        .into_iter()
        .filter(|(p, _)| !p.as_os_str().to_string_lossy().ends_with('/'))
        .map(|(p, e)| (p, e.contents))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// A small HTTP/1.1 server that can misbehave on purpose. Raw TCP, so a test controls exactly
// what goes on the wire (a body cut short, a stalled response, an endless one).

#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: std::time::Instant,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

pub enum Reply {
    Ok(Vec<u8>),
    Status(u16),
    /// Waits, then answers 200 with the body.
    Slow(Duration, Vec<u8>),
    /// Declares `declared` bytes, sends `sent`, closes.
    Truncated {
        declared: usize,
        sent: Vec<u8>,
    },
    /// Declares and streams `len` bytes of `x` (stops when the client goes away).
    Huge(usize),
    /// Streams chunked data without a length until the client goes away.
    EndlessChunked,
    /// A status with extra headers; to a HEAD request the same head (Content-Length of `body`
    /// included) without the body.
    Full {
        code: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    },
}

type Handler = dyn Fn(&Seen, usize) -> Reply + Send + Sync;

pub struct Server {
    pub url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// `handler(request, index)` decides each reply; `index` counts requests from 0.
    pub fn start(handler: impl Fn(&Seen, usize) -> Reply + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (seen, handler) = (s2.clone(), handler.clone());
                std::thread::spawn(move || serve(conn, &seen, &*handler));
            }
        });
        Server { url, seen }
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }
}

/// A URL on which nothing listens: connections are refused.
pub fn refused_url() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    url
}

fn serve(conn: TcpStream, seen: &Mutex<Vec<Seen>>, handler: &Handler) {
    let mut reader = BufReader::new(conn.try_clone().unwrap());
    let mut out = conn;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (parts.next().unwrap_or("").to_string(), parts.next().unwrap_or("").to_string());
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h).unwrap_or(0) == 0 {
                return;
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        let len = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0; len];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let req = Seen { method, path, headers, body, at: std::time::Instant::now() };
        let index = {
            let mut s = seen.lock().unwrap();
            s.push(req.clone());
            s.len() - 1
        };
        let keep_going = match handler(&req, index) {
            Reply::Ok(b) => respond(&mut out, 200, &b),
            Reply::Full { code, headers, body } => respond_full(&mut out, code, &headers, &body, req.method != "HEAD"),
            Reply::Status(code) => respond(&mut out, code, format!("status {code}\n").as_bytes()),
            Reply::Slow(d, b) => {
                std::thread::sleep(d);
                respond(&mut out, 200, &b)
            }
            Reply::Truncated { declared, sent } => {
                let _ = write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\n");
                let _ = out.write_all(&sent);
                false
            }
            Reply::Huge(len) => {
                let _ = write!(out, "HTTP/1.1 200 OK\r\nContent-Length: {len}\r\n\r\n");
                let chunk = vec![b'x'; 64 * 1024];
                let mut left = len;
                while left > 0 {
                    let n = left.min(chunk.len());
                    if out.write_all(&chunk[..n]).is_err() {
                        break;
                    }
                    left -= n;
                }
                false
            }
            Reply::EndlessChunked => {
                let _ = write!(out, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
                let chunk = vec![b'x'; 64 * 1024];
                while write!(out, "{:x}\r\n", chunk.len()).is_ok()
                    && out.write_all(&chunk).is_ok()
                    && out.write_all(b"\r\n").is_ok()
                {}
                false
            }
        };
        if !keep_going {
            let _ = out.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
}

fn respond(out: &mut TcpStream, code: u16, body: &[u8]) -> bool {
    respond_full(out, code, &[], body, true)
}

fn respond_full(out: &mut TcpStream, code: u16, headers: &[(String, String)], body: &[u8], send_body: bool) -> bool {
    let reason = match code {
        200 => "OK",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    };
    let extra: String = headers.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(out, "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\n{extra}\r\n", body.len()).is_ok()
        && (!send_body || out.write_all(body).is_ok())
}
