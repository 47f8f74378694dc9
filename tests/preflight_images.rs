//! ImagePull against a real containerd (Debian `containerd`), with images imported by `ctr`
//! from an OCI archive the test builds, and pulled from an in-process OCI distribution
//! registry on 127.0.0.1 (plain HTTP, as containerd's CRI uses for loopback registries).
//! kubeadm's behaviour: IfNotPresent pulls only what is missing, the check runs only after
//! every other check passed, a pull is tried five times; kubeboot's additions: check-only
//! mode in `kubeboot preflight` and `--dry-run`, and policy Never with a missing image is an
//! error.

mod firstboot_common;
mod preflight_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use firstboot_common::{Reply, Server};
use preflight_support::*;

const VERSION: &str = "v1.33.5";
/// kubeadm v1.33's `config images list` names, without the repository.
const NAMES: [&str; 7] = [
    "kube-apiserver:v1.33.5",
    "kube-controller-manager:v1.33.5",
    "kube-scheduler:v1.33.5",
    "kube-proxy:v1.33.5",
    "coredns:v1.12.0",
    "pause:3.10",
    "etcd:3.5.21-0",
];

fn sha256(data: &[u8]) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    format!("sha256:{}", d.as_ref().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// A one-layer linux/amd64 OCI image: (manifest, config, layer) bytes.
struct OciImage {
    manifest: Vec<u8>,
    config: Vec<u8>,
    layer: Vec<u8>,
}

impl OciImage {
    fn build(dir: &Path) -> OciImage {
        let content = dir.join("layer-content");
        std::fs::create_dir_all(&content).unwrap();
        std::fs::write(content.join("hello"), "kubeboot test image\n").unwrap();
        let tar = dir.join("layer.tar");
        let ok = Command::new("tar")
            .args(["--owner=0", "--group=0", "--mtime=@0", "-cf"])
            .arg(&tar)
            .arg("-C")
            .arg(&content)
            .arg("hello")
            .status()
            .unwrap();
        assert!(ok.success());
        let layer = std::fs::read(&tar).unwrap();
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","config":{{}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            sha256(&layer)
        )
        .into_bytes();
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{}","size":{}}},"layers":[{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{}","size":{}}}]}}"#,
            sha256(&config),
            config.len(),
            sha256(&layer),
            layer.len()
        )
        .into_bytes();
        OciImage { manifest, config, layer }
    }

    /// An OCI image-layout archive naming this image once per entry of `names`.
    fn archive(&self, dir: &Path, names: &[String]) -> std::path::PathBuf {
        let layout = dir.join("layout");
        let blobs = layout.join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        for blob in [&self.manifest, &self.config, &self.layer] {
            std::fs::write(blobs.join(sha256(blob).trim_start_matches("sha256:")), blob).unwrap();
        }
        std::fs::write(layout.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        let descriptors: Vec<String> = names
            .iter()
            .map(|n| {
                format!(
                    r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{},"annotations":{{"io.containerd.image.name":"{n}"}}}}"#,
                    sha256(&self.manifest),
                    self.manifest.len()
                )
            })
            .collect();
        std::fs::write(
            layout.join("index.json"),
            format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, descriptors.join(",")),
        )
        .unwrap();
        let archive = dir.join("images.tar");
        let ok = Command::new("tar").arg("-cf").arg(&archive).arg("-C").arg(&layout).arg(".").status().unwrap();
        assert!(ok.success());
        archive
    }
}

/// Imports `names` into containerd's CRI namespace with `ctr`.
fn import(ctr: &Containerd, image: &OciImage, dir: &Path, names: &[String]) {
    let archive = image.archive(dir, names);
    let out = Command::new("ctr")
        .arg("--address")
        .arg(&ctr.socket)
        .args(["-n", "k8s.io", "images", "import", "--no-unpack"])
        .arg(&archive)
        .output()
        .unwrap();
    assert!(out.status.success(), "ctr import: {}", String::from_utf8_lossy(&out.stderr));
}

/// The image names containerd's CRI namespace holds.
fn listed(ctr: &Containerd) -> BTreeSet<String> {
    let out = Command::new("ctr")
        .arg("--address")
        .arg(&ctr.socket)
        .args(["-n", "k8s.io", "images", "ls", "-q"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).lines().map(str::to_string).collect()
}

/// A read-only OCI distribution registry serving one image under every repository and tag
/// (`GET /v2/`, `HEAD|GET /v2/<name>/manifests/<tag|digest>`, `GET /v2/<name>/blobs/<digest>`),
/// on the first-boot tests' HTTP test server, which records every request.
struct Registry {
    server: Server,
    _image_dir: tempfile::TempDir,
}

impl Registry {
    fn start() -> Registry {
        let image_dir = tempfile::tempdir().unwrap();
        let image = OciImage::build(image_dir.path());
        let server = Server::start(move |req, _| {
            let json = |code: u16, body: &[u8]| Reply::Full {
                code,
                headers: vec![("Content-Type".into(), "application/json".into())],
                body: body.to_vec(),
            };
            let path = req.path.as_str();
            if path == "/v2/" {
                return json(200, b"{}");
            }
            if path.strip_prefix("/v2/").is_some_and(|p| p.contains("/manifests/")) {
                return Reply::Full {
                    code: 200,
                    headers: vec![
                        ("Content-Type".into(), "application/vnd.oci.image.manifest.v1+json".into()),
                        ("Docker-Content-Digest".into(), sha256(&image.manifest)),
                    ],
                    body: image.manifest.clone(),
                };
            }
            let blob = path
                .strip_prefix("/v2/")
                .and_then(|p| p.split_once("/blobs/"))
                .and_then(|(_, digest)| [&image.config, &image.layer].into_iter().find(|b| sha256(b) == digest));
            match blob {
                Some(b) => Reply::Full {
                    code: 200,
                    headers: vec![("Content-Type".into(), "application/octet-stream".into())],
                    body: b.clone(),
                },
                None => json(404, br#"{"errors":[{"code":"NAME_UNKNOWN"}]}"#),
            }
        });
        Registry { server, _image_dir: image_dir }
    }

    fn repository(&self) -> String {
        format!("{}/k8s", self.server.url.trim_start_matches("http://"))
    }

    /// The repositories whose manifest was asked for by tag: the images pulled.
    fn pulled(&self) -> BTreeSet<String> {
        self.server
            .requests()
            .iter()
            .filter_map(|r| r.path.strip_prefix("/v2/")?.split_once("/manifests/"))
            .filter(|(_, reference)| !reference.starts_with("sha256:"))
            .map(|(repo, tag)| format!("{repo}:{tag}"))
            .collect()
    }
}

struct Setup {
    f: Fixture,
    ctr: Containerd,
    image: OciImage,
}

/// A healthy fixture root and a real containerd whose sandbox image is kubeadm's pause image
/// under `repo` (so no sandbox warning unless a test wants one).
fn setup(repo: &str) -> Option<Setup> {
    let f = Fixture::healthy();
    let socket = f.dir.path().join("run/containerd.sock");
    let ctr = Containerd::start_with(f.dir.path(), &socket, &format!("  sandbox_image = \"{repo}/pause:3.10\""))?;
    let image = OciImage::build(f.dir.path());
    Some(Setup { f, ctr, image })
}

fn names_in(repo: &str, names: &[&str]) -> Vec<String> {
    names.iter().map(|n| format!("{repo}/{n}")).collect()
}

fn config(s: &Setup, repo: &str, node_extra: &str) -> std::path::PathBuf {
    s.f.config(
        "control-plane",
        &format!(
            "node:\n  name: node-1\n  advertiseAddress: 127.0.0.1\n  bindPort: {}\n  criSocket: unix://{}\n{node_extra}cluster:\n  kubernetesVersion: {VERSION}\n  imageRepository: {repo}\n",
            free_port(),
            s.ctr.socket.display()
        ),
    )
}

/// `kubeboot --root R init phase preflight --config C`: the preflight of `kubeboot init`,
/// which pulls.
fn init_preflight(f: &Fixture, config: &Path, extra: &[&str]) -> Run {
    let mut c = kubeboot();
    c.arg("--root").arg(f.root()).args(["init", "phase", "preflight", "--config"]).arg(config).args(extra);
    run(c)
}

fn image_pull_lines(r: &Run) -> Vec<String> {
    r.stderr.lines().chain(r.stdout.lines()).filter(|l| l.contains("ImagePull")).map(|l| l.trim().to_string()).collect()
}

#[test]
fn check_only_preflight_reports_missing_images_and_pulls_nothing() {
    let repo = format!("{NO_REGISTRY}/k8s");
    let Some(s) = setup(&repo) else { return };
    import(&s.ctr, &s.image, s.f.dir.path(), &names_in(&repo, &NAMES[..3]));
    let cfg = config(&s, &repo, "");
    let before = listed(&s.ctr);

    let r = preflight(&s.f, &cfg, &[]);
    assert_eq!(r.findings().iter().filter(|(_, sev, _)| sev == "error").count(), 0, "{}", r.stdout);
    assert!(r.findings().contains(&("ImagePull".into(), "info".into(), false)), "{}", r.stdout);
    let msg = r.message("ImagePull");
    assert!(msg.starts_with("3 of 7 control-plane images are present; init will pull "), "{msg}");
    for missing in names_in(&repo, &NAMES[3..]) {
        assert!(msg.contains(&missing), "{missing} not named: {msg}");
    }
    assert_eq!(listed(&s.ctr), before, "kubeboot preflight changed the runtime's images");

    // With every image present, the check says so.
    import(&s.ctr, &s.image, s.f.dir.path(), &names_in(&repo, &NAMES));
    let r = preflight(&s.f, &cfg, &[]);
    assert_eq!(r.message("ImagePull"), "all 7 control-plane images are present", "{}", r.stdout);
}

#[test]
fn policy_never_with_a_missing_image_is_an_error() {
    let repo = format!("{NO_REGISTRY}/k8s");
    let Some(s) = setup(&repo) else { return };
    import(&s.ctr, &s.image, s.f.dir.path(), &names_in(&repo, &NAMES[..6]));
    let cfg = config(&s, &repo, "  imagePullPolicy: Never\n");
    let r = preflight(&s.f, &cfg, &[]);
    assert!(r.findings().contains(&("ImagePull".into(), "error".into(), false)), "{}", r.stdout);
    assert!(
        r.message("ImagePull")
            .contains(&format!("imagePullPolicy is Never but the runtime lacks {repo}/etcd:3.5.21-0"))
    );
    assert_eq!(r.code, 3);
    // The same in init's preflight: Never never pulls, so it fails there too, with the fix.
    let r = init_preflight(&s.f, &cfg, &[]);
    assert_ne!(r.code, 0);
    assert!(
        image_pull_lines(&r).iter().any(|l| l.starts_with("[ERROR ImagePull]") && l.contains("pre-load")),
        "{}",
        r.stderr
    );
}

#[test]
fn init_pulls_only_the_missing_images_from_a_local_registry() {
    let registry = Registry::start();
    let repo = registry.repository();
    let Some(s) = setup(&repo) else { return };
    import(&s.ctr, &s.image, s.f.dir.path(), &names_in(&repo, &NAMES[..2]));
    let cfg = config(&s, &repo, "");
    let snapshot = s.f.snapshot();

    let r = init_preflight(&s.f, &cfg, &[]);
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("[preflight] Pulling images required for setting up a Kubernetes cluster"),
        "{}",
        r.stdout
    );
    let lines = image_pull_lines(&r);
    assert!(
        lines.iter().any(|l| l.starts_with("[preflight] ImagePull: 7 control-plane images present, 5 pulled in")),
        "{lines:?}\n{}",
        r.stderr
    );
    // Exactly the five missing images came from the registry, by tag.
    let want: BTreeSet<String> = NAMES[2..].iter().map(|n| format!("k8s/{n}")).collect();
    assert_eq!(registry.pulled(), want);
    let have = listed(&s.ctr);
    for name in names_in(&repo, &NAMES) {
        assert!(have.contains(&name), "{name} missing from {have:?}");
    }
    assert_eq!(s.f.snapshot(), snapshot, "preflight wrote under the root");

    // A second run finds everything and pulls nothing.
    let r = init_preflight(&s.f, &cfg, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        image_pull_lines(&r).iter().any(|l| l.contains("7 control-plane images present, 0 pulled")),
        "{}",
        r.stderr
    );
    assert_eq!(registry.pulled(), want, "pulled again although present");

    // --dry-run looks but does not pull, even with policy Always.
    let always = config(&s, &repo, "  imagePullPolicy: Always\n");
    let r = init_preflight(&s.f, &always, &["--dry-run"]);
    assert!(image_pull_lines(&r).iter().any(|l| l.contains("all 7 control-plane images are present")), "{}", r.stderr);
    assert_eq!(registry.pulled(), want);
    // Always pulls every image again, here all at once (imagePullSerial: false).
    let parallel = config(&s, &repo, "  imagePullPolicy: Always\n  imagePullSerial: false\n");
    let r = init_preflight(&s.f, &parallel, &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        image_pull_lines(&r).iter().any(|l| l.contains("7 control-plane images present, 7 pulled")),
        "{}",
        r.stderr
    );
}

#[test]
fn an_unreachable_registry_fails_init_naming_each_image() {
    let repo = format!("{NO_REGISTRY}/k8s");
    let Some(s) = setup(&repo) else { return };
    import(&s.ctr, &s.image, s.f.dir.path(), &names_in(&repo, &NAMES[..5]));
    let cfg = config(&s, &repo, "");
    let snapshot = s.f.snapshot();
    let r = init_preflight(&s.f, &cfg, &[]);
    assert_eq!(r.code, 3, "{}", r.stderr);
    let errors: Vec<String> = image_pull_lines(&r).into_iter().filter(|l| l.starts_with("[ERROR ImagePull]")).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    for (line, image) in errors.iter().zip(names_in(&repo, &NAMES[5..])) {
        assert!(line.contains(&format!("failed to pull image {image} (5 attempts)")), "{line}");
        assert!(line.contains("kubeboot config images list"), "{line}");
    }
    assert_eq!(s.f.snapshot(), snapshot);
    // Ignored, the same failures are warnings and init's preflight passes.
    let r = init_preflight(&s.f, &cfg, &["--ignore-preflight-errors=ImagePull"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(image_pull_lines(&r).iter().filter(|l| l.starts_with("[WARNING ImagePull]")).count(), 2);
}

#[test]
fn no_pull_is_attempted_while_another_check_fails() {
    let registry = Registry::start();
    let repo = registry.repository();
    let Some(s) = setup(&repo) else { return };
    s.f.write("/proc/swaps", "Filename\tType\tSize\tUsed\tPriority\n/swapfile file 1048572 0 -2\n");
    let r = init_preflight(&s.f, &config(&s, &repo, ""), &[]);
    assert_eq!(r.code, 3);
    assert!(r.stderr.contains("[ERROR Swap]"), "{}", r.stderr);
    assert!(image_pull_lines(&r).is_empty(), "{}", r.stderr);
    assert!(registry.pulled().is_empty());
}

#[test]
fn a_runtime_sandbox_image_other_than_kubeadms_pause_is_a_warning() {
    let repo = format!("{NO_REGISTRY}/k8s");
    let f = Fixture::healthy();
    let socket = f.dir.path().join("run/containerd.sock");
    let Some(ctr) = Containerd::start_with(f.dir.path(), &socket, "  sandbox_image = \"registry.example/pause:3.6\"")
    else {
        return;
    };
    let s = Setup { image: OciImage::build(f.dir.path()), f, ctr };
    import(&s.ctr, &s.image, s.f.dir.path(), &names_in(&repo, &NAMES));
    let r = preflight(&s.f, &config(&s, &repo, ""), &[]);
    assert!(r.findings().contains(&("ImagePull".into(), "warning".into(), false)), "{}", r.stdout);
    let msg = r.message("ImagePull");
    assert!(msg.contains(&format!("sandbox image registry.example/pause:3.6 is not {repo}/pause:3.10")), "{msg}");
}

#[test]
fn config_images_list_prints_kubeadms_list() {
    let out = kubeboot().args(["config", "images", "list", "--kubernetes-version", "v1.33.5"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<String> = names_in("registry.k8s.io", &NAMES)
        .into_iter()
        .map(|n| n.replace("registry.k8s.io/coredns:", "registry.k8s.io/coredns/coredns:"))
        .collect();
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().collect::<Vec<_>>(), want);
    let bad = kubeboot().args(["config", "images", "list", "--kubernetes-version", "v1.20.0"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("kubernetesVersion"));
}

#[test]
fn config_images_pull_fetches_what_the_runtime_lacks() {
    let registry = Registry::start();
    let repo = registry.repository();
    let Some(s) = setup(&repo) else { return };
    import(&s.ctr, &s.image, s.f.dir.path(), &names_in(&repo, &NAMES[..4]));
    let cfg = config(&s, &repo, "");
    let out = kubeboot().args(["config", "images", "pull", "--config"]).arg(&cfg).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let want: Vec<String> = names_in(&repo, &NAMES)
        .into_iter()
        .enumerate()
        .map(|(i, n)| format!("[config/images] {} {n}", if i < 4 { "Present" } else { "Pulled" }))
        .collect();
    assert_eq!(stdout.lines().collect::<Vec<_>>(), want);
    assert_eq!(registry.pulled(), NAMES[4..].iter().map(|n| format!("k8s/{n}")).collect());

    // An unreachable registry: each missing image is named and the exit code is non-zero.
    let repo = format!("{NO_REGISTRY}/k8s");
    let cfg = config(&s, &repo, "");
    let out = kubeboot().args(["config", "images", "pull", "--config"]).arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().filter(|l| l.contains("failed to pull image")).count(), 7, "{stderr}");
}
