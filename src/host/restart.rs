//! Rolling restart of control-plane static Pods after their certificates were renewed, one
//! component at a time, each back and healthy before the next is touched.
//!
//! A static Pod is restarted the way an operator does it by hand (and as `kubeadm upgrade`
//! swaps manifests): its manifest is moved out of /etc/kubernetes/manifests into a parking
//! directory, kubeboot waits until the kubelet has stopped the Pod, moves the manifest back,
//! and waits until the kubelet has started a **new** Pod sandbox and the Pod's own probe
//! endpoint (readinessProbe, else livenessProbe, read from the manifest) answers.
//! A manifest left parked by a crash is put back by `recover_parked`, which every restart and
//! every boot calls first.
//!
//! What "the Pod is running" means is behind the `Pods` trait: `CriPods` asks the container
//! runtime over CRI (READY sandboxes labelled `component=<name>` in kube-system) and probes
//! over HTTP(S) without verifying the serving certificate, as the kubelet's probes do. Tests
//! drive the same sequence with a fake kubelet.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::Host;
use crate::config::resolve::{KUBERNETES_DIR, MANIFESTS_DIR};

/// Where a manifest waits while its Pod is stopped. Outside the manifests directory (the
/// kubelet reads every non-dot file there), on the same filesystem (renames are atomic).
pub const PARKING_DIR: &str = "/etc/kubernetes/tmp/kubeboot-restart";

/// The components in restart order: the datastore first, then its clients.
pub const ORDER: &[&str] = &["etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler"];

/// Which component reads a renewed certificate (by `certs renew` name). admin.conf and
/// super-admin.conf belong to people, etcd-healthcheck-client to probes run by hand: nothing
/// to restart for them.
pub fn component_of(renewed: &str) -> Option<&'static str> {
    match renewed {
        "apiserver" | "apiserver-kubelet-client" | "apiserver-etcd-client" | "front-proxy-client" => {
            Some("kube-apiserver")
        }
        "etcd-server" | "etcd-peer" => Some("etcd"),
        "controller-manager.conf" => Some("kube-controller-manager"),
        "scheduler.conf" => Some("kube-scheduler"),
        _ => None,
    }
}

/// The components to restart for a set of renewed names, in `ORDER`.
pub fn components_for<'a>(renewed: impl IntoIterator<Item = &'a str>) -> Vec<&'static str> {
    let wanted: Vec<&'static str> = renewed.into_iter().filter_map(component_of).collect();
    ORDER.iter().copied().filter(|c| wanted.contains(c)).collect()
}

/// An HTTP(S) probe of a static Pod, from its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    pub url: String,
}

/// The readinessProbe (else livenessProbe) `httpGet` of the first container of a static Pod
/// manifest; a named port is resolved through the container's ports.
pub fn probe_of(manifest: &str) -> Result<Probe> {
    let pod: serde_json::Value = serde_saphyr::from_str(manifest).context("the manifest is not YAML")?;
    let c = &pod["spec"]["containers"][0];
    let get = ["readinessProbe", "livenessProbe", "startupProbe"]
        .iter()
        .map(|p| &c[*p]["httpGet"])
        .find(|g| g.is_object())
        .context("the manifest's first container has no httpGet probe")?;
    let port = match &get["port"] {
        serde_json::Value::Number(n) => n.as_u64().context("bad probe port")?,
        serde_json::Value::String(name) => c["ports"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name.as_str()))
            .and_then(|p| p["containerPort"].as_u64())
            .with_context(|| format!("probe port `{name}` is not a named port of the container"))?,
        _ => bail!("the probe has no port"),
    };
    let host = get["host"].as_str().filter(|h| !h.is_empty()).unwrap_or("127.0.0.1");
    let host = if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
    let scheme = get["scheme"].as_str().unwrap_or("HTTP").to_ascii_lowercase();
    let path = get["path"].as_str().unwrap_or("/");
    Ok(Probe { url: format!("{scheme}://{host}:{port}{path}") })
}

/// What kubeboot can observe of the kubelet's static Pods.
pub trait Pods {
    /// The id of the running (ready) Pod sandbox of `component`, if there is one.
    fn running(&mut self, component: &str) -> Result<Option<String>>;
    /// Whether the probe answers with a success status now.
    fn healthy(&mut self, probe: &Probe) -> bool;
}

/// The real node: CRI for sandboxes, HTTP(S) for probes.
pub struct CriPods {
    socket: PathBuf,
    http: reqwest::Client,
}

impl CriPods {
    pub fn new(socket: PathBuf) -> Result<Self> {
        let http = reqwest::Client::builder()
            .danger_accept_invalid_certs(true) // the kubelet's probes do not verify either
            .timeout(Duration::from_secs(2))
            .no_proxy()
            .build()
            .context("building the probe client")?;
        Ok(CriPods { socket, http })
    }
}

impl Pods for CriPods {
    fn running(&mut self, component: &str) -> Result<Option<String>> {
        let socket = self.socket.clone();
        crate::workflow::block_on(async move {
            let mut cri = super::cri::CriClient::connect(&socket, Duration::from_secs(5)).await?;
            let ids = cri
                .ready_pod_sandboxes(&[("component", component), ("io.kubernetes.pod.namespace", "kube-system")])
                .await?;
            Ok(ids.into_iter().next())
        })
    }

    fn healthy(&mut self, probe: &Probe) -> bool {
        let (http, url) = (self.http.clone(), probe.url.clone());
        crate::workflow::block_on(async move {
            http.get(&url).send().await.is_ok_and(|r| r.status().is_success() || r.status().is_redirection())
        })
    }
}

#[derive(Debug, Clone)]
pub struct RestartOptions {
    /// How long each wait (Pod gone, Pod back and healthy) may take.
    pub timeout: Duration,
    pub poll: Duration,
}

impl Default for RestartOptions {
    fn default() -> Self {
        // kubeadm's controlPlaneComponentHealthCheck default (4 min) for each wait.
        RestartOptions { timeout: Duration::from_secs(240), poll: Duration::from_millis(500) }
    }
}

/// One restarted component.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Restarted {
    pub component: String,
    /// From moving the manifest out to the new Pod answering its probe.
    pub unavailable_ms: u64,
}

fn manifest(component: &str) -> String {
    format!("{MANIFESTS_DIR}/{component}.yaml")
}

fn parked(component: &str) -> String {
    format!("{PARKING_DIR}/{component}.yaml")
}

/// Puts back every manifest a crashed restart left parked (unless the manifests directory
/// has one of that name again); returns the components put back.
pub fn recover_parked(host: &Host) -> Result<Vec<String>> {
    let dir = host.path(PARKING_DIR);
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(vec![]) };
    let mut back = Vec::new();
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(component) = name.strip_suffix(".yaml") else { continue };
        if name.starts_with('.') || !e.file_type().is_ok_and(|t| t.is_file()) {
            continue;
        }
        if host.exists(manifest(component)) {
            host.remove_file(parked(component))?;
        } else {
            move_file(host, &parked(component), &manifest(component))?;
            back.push(component.to_string());
        }
    }
    Ok(back)
}

fn move_file(host: &Host, from: &str, to: &str) -> Result<()> {
    let (src, dst) = (host.path(from), host.path(to));
    std::fs::rename(&src, &dst).with_context(|| format!("moving {} to {}", src.display(), dst.display()))?;
    for d in [src.parent(), dst.parent()].into_iter().flatten() {
        std::fs::File::open(d).and_then(|f| f.sync_all()).with_context(|| format!("syncing {}", d.display()))?;
    }
    Ok(())
}

/// Restarts `components` in order, one at a time: each is stopped, started again and healthy
/// before the next is touched. A component with no running Pod is left alone (nothing to
/// restart: it reads the renewed files when it starts). `say` gets one progress line per
/// step. On an error the component's manifest is back in place before the error is returned,
/// and no later component has been touched.
pub fn rolling_restart(
    host: &Host,
    components: &[&str],
    pods: &mut dyn Pods,
    opts: &RestartOptions,
    say: &mut dyn FnMut(String),
) -> Result<Vec<Restarted>> {
    for c in recover_parked(host)? {
        say(format!("put back the {c} manifest an interrupted restart had left in {PARKING_DIR}"));
    }
    let mut done = Vec::new();
    for &c in components {
        let Some(text) = host.read_opt(manifest(c)).with_context(|| format!("reading {}", manifest(c)))? else {
            say(format!("{c}: no static Pod manifest {}; nothing to restart", manifest(c)));
            continue;
        };
        let text = String::from_utf8_lossy(&text).into_owned();
        let probe = probe_of(&text).with_context(|| manifest(c))?;
        let before = pods.running(c).with_context(|| format!("asking the container runtime about {c}"))?;
        // No running Pod (at boot the kubelet may not have started it yet; or there is no
        // kubelet): nothing holds the old certificates, and whatever starts it later reads the
        // renewed files. Parking its manifest would only make the wait below for a new Pod
        // hang until the timeout.
        let Some(before) = before else {
            say(format!("{c}: no running Pod; it reads the renewed certificates when the kubelet starts it"));
            continue;
        };
        say(format!("restarting {c} (moving {} out of {MANIFESTS_DIR})", manifest(c)));
        host.ensure_dir(format!("{KUBERNETES_DIR}/tmp"), 0o700)?;
        host.ensure_dir(PARKING_DIR, 0o700)?;
        let start = Instant::now();
        move_file(host, &manifest(c), &parked(c))?;
        let gone = wait(opts, || Ok(pods.running(c)?.as_ref() != Some(&before)));
        move_file(host, &parked(c), &manifest(c))?;
        gone.with_context(|| {
            format!(
                "the kubelet did not stop the {c} Pod within {}s of its manifest being removed",
                opts.timeout.as_secs()
            )
        })?;
        say(format!("{c}: the kubelet stopped the Pod; manifest back, waiting for a new Pod answering {}", probe.url));
        wait(opts, || {
            Ok(match pods.running(c)? {
                Some(id) if id != before => pods.healthy(&probe),
                _ => false,
            })
        })
        .with_context(|| {
            format!(
                "{c} did not come back healthy within {}s (new Pod sandbox answering {}); check `crictl ps -a` and \
                 the kubelet's log",
                opts.timeout.as_secs(),
                probe.url
            )
        })?;
        let unavailable = start.elapsed();
        say(format!("{c} is back and healthy (unavailable for {})", crate::workflow::fmt_duration(unavailable)));
        done.push(Restarted { component: c.to_string(), unavailable_ms: unavailable.as_millis() as u64 });
    }
    Ok(done)
}

/// Polls `ready` until it says yes or the timeout passes; errors from `ready` are retried.
fn wait(opts: &RestartOptions, mut ready: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + opts.timeout;
    let mut last_err = None;
    loop {
        match ready() {
            Ok(true) => return Ok(()),
            Ok(false) => {}
            Err(e) => last_err = Some(e),
        }
        if Instant::now() >= deadline {
            return match last_err {
                Some(e) => Err(e.context("timed out")),
                None => bail!("timed out"),
            };
        }
        std::thread::sleep(opts.poll);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_follow_the_renewed_files() {
        assert_eq!(
            components_for(["scheduler.conf", "apiserver", "etcd-peer", "admin.conf"]),
            ["etcd", "kube-apiserver", "kube-scheduler"]
        );
        assert!(components_for(["admin.conf", "super-admin.conf", "etcd-healthcheck-client"]).is_empty());
    }

    #[test]
    fn probe_from_a_manifest_with_a_named_port() {
        let m = "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: kube-scheduler\n    ports:\n    - name: \
                 probe-port\n      containerPort: 10259\n    livenessProbe:\n      httpGet:\n        host: \
                 127.0.0.1\n        path: /livez\n        port: probe-port\n        scheme: HTTPS\n    \
                 readinessProbe:\n      httpGet:\n        host: 127.0.0.1\n        path: /readyz\n        port: \
                 probe-port\n        scheme: HTTPS\n";
        assert_eq!(probe_of(m).unwrap().url, "https://127.0.0.1:10259/readyz");
        let etcd = "spec:\n  containers:\n  - livenessProbe:\n      httpGet:\n        host: ::1\n        path: \
                    /livez\n        port: 2381\n        scheme: HTTP\n";
        assert_eq!(probe_of(etcd).unwrap().url, "http://[::1]:2381/livez");
        assert!(probe_of("spec:\n  containers:\n  - name: x\n").is_err());
    }

    /// A kubelet stand-in: a component's Pod runs while its manifest is in the manifests
    /// directory; when the manifest goes, the Pod stops (after `stop_polls` looks); when it
    /// returns, a new sandbox starts (after `start_polls` looks). It records how many manifests
    /// were ever out at once.
    struct FakeKubelet {
        host: Host,
        generation: std::collections::BTreeMap<String, (bool, u32, u32)>,
        stop_polls: u32,
        start_polls: u32,
        max_out: usize,
        never_stops: Option<&'static str>,
        unhealthy: Option<&'static str>,
        /// A component the kubelet has not started (or there is no kubelet): never a sandbox.
        not_running: Option<&'static str>,
        /// Components whose manifest was ever seen out of the manifests directory.
        parked: std::collections::BTreeSet<String>,
    }

    impl FakeKubelet {
        fn new(host: &Host) -> Self {
            FakeKubelet {
                host: host.clone(),
                generation: Default::default(),
                stop_polls: 2,
                start_polls: 2,
                max_out: 0,
                never_stops: None,
                unhealthy: None,
                not_running: None,
                parked: Default::default(),
            }
        }
    }

    impl Pods for FakeKubelet {
        fn running(&mut self, component: &str) -> Result<Option<String>> {
            let out = ORDER.iter().filter(|c| !self.host.exists(manifest(c))).count();
            self.max_out = self.max_out.max(out);
            let present = self.host.exists(manifest(component));
            if !present {
                self.parked.insert(component.to_string());
            }
            if self.not_running == Some(component) {
                return Ok(None);
            }
            let e = self.generation.entry(component.to_string()).or_insert((true, 1, 0));
            if self.never_stops == Some(component) {
                return Ok(Some(format!("{component}-{}", e.1)));
            }
            match (e.0, present) {
                (true, false) => {
                    e.2 += 1;
                    if e.2 >= self.stop_polls {
                        *e = (false, e.1, 0);
                        return Ok(None);
                    }
                }
                (false, true) => {
                    e.2 += 1;
                    if e.2 >= self.start_polls {
                        *e = (true, e.1 + 1, 0);
                    } else {
                        return Ok(None);
                    }
                }
                (false, false) => return Ok(None),
                (true, true) => {}
            }
            Ok(Some(format!("{component}-{}", e.1)))
        }

        fn healthy(&mut self, probe: &Probe) -> bool {
            !self.unhealthy.is_some_and(|c| probe.url.contains(c))
        }
    }

    fn node_with_manifests() -> (tempfile::TempDir, Host) {
        let dir = tempfile::tempdir().unwrap();
        let host = Host::new(dir.path());
        for (c, port) in
            [("etcd", 2381), ("kube-apiserver", 6443), ("kube-controller-manager", 10257), ("kube-scheduler", 10259)]
        {
            let m = format!(
                "spec:\n  containers:\n  - name: {c}\n    livenessProbe:\n      httpGet:\n        host: 127.0.0.1\n        \
                 path: /{c}\n        port: {port}\n        scheme: HTTPS\n"
            );
            host.write_atomic(manifest(c), m.as_bytes(), 0o600).unwrap();
        }
        (dir, host)
    }

    fn fast() -> RestartOptions {
        RestartOptions { timeout: Duration::from_millis(300), poll: Duration::from_millis(1) }
    }

    #[test]
    fn restarts_one_component_at_a_time_and_each_comes_back_new() {
        let (_dir, host) = node_with_manifests();
        let before: Vec<Vec<u8>> = ORDER.iter().map(|c| host.read(manifest(c)).unwrap()).collect();
        let mut kubelet = FakeKubelet::new(&host);
        let mut lines = Vec::new();
        let done = rolling_restart(&host, ORDER, &mut kubelet, &fast(), &mut |l| lines.push(l)).unwrap();
        assert_eq!(done.iter().map(|r| r.component.as_str()).collect::<Vec<_>>(), ORDER);
        assert_eq!(kubelet.max_out, 1, "two components were down at once");
        for c in ORDER {
            assert_eq!(kubelet.generation[*c].1, 2, "{c} was not re-created exactly once");
        }
        // Manifests back, byte for byte; nothing left parked.
        let after: Vec<Vec<u8>> = ORDER.iter().map(|c| host.read(manifest(c)).unwrap()).collect();
        assert_eq!(before, after);
        assert_eq!(std::fs::read_dir(host.path(PARKING_DIR)).unwrap().count(), 0);
        assert!(lines.iter().any(|l| l.contains("kube-scheduler is back and healthy")), "{lines:?}");
    }

    #[test]
    fn a_pod_that_never_stops_fails_loudly_with_its_manifest_back_and_later_ones_untouched() {
        let (_dir, host) = node_with_manifests();
        let mut kubelet = FakeKubelet::new(&host);
        kubelet.never_stops = Some("kube-apiserver");
        let err = rolling_restart(&host, ORDER, &mut kubelet, &fast(), &mut |_| {}).unwrap_err();
        assert!(format!("{err:#}").contains("did not stop the kube-apiserver Pod"), "{err:#}");
        assert!(host.exists(manifest("kube-apiserver")));
        assert_eq!(kubelet.generation["etcd"].1, 2);
        assert!(!kubelet.generation.contains_key("kube-scheduler"), "a later component was touched");
    }

    #[test]
    fn an_unhealthy_component_stops_the_roll() {
        let (_dir, host) = node_with_manifests();
        let mut kubelet = FakeKubelet::new(&host);
        kubelet.unhealthy = Some("kube-controller-manager");
        let err = rolling_restart(&host, ORDER, &mut kubelet, &fast(), &mut |_| {}).unwrap_err();
        assert!(format!("{err:#}").contains("kube-controller-manager did not come back healthy"), "{err:#}");
        assert!(host.exists(manifest("kube-controller-manager")));
        assert!(!kubelet.generation.contains_key("kube-scheduler"));
    }

    #[test]
    fn a_component_without_a_running_pod_is_left_alone_and_the_roll_goes_on() {
        // At boot the kubelet may not have started a static Pod yet (or the node has no
        // kubelet): there is nothing to restart, and waiting for a "new" Pod would hang.
        let (_dir, host) = node_with_manifests();
        let etcd_before = host.read(manifest("etcd")).unwrap();
        let mut kubelet = FakeKubelet::new(&host);
        kubelet.not_running = Some("etcd");
        let mut lines = Vec::new();
        let done = rolling_restart(&host, ORDER, &mut kubelet, &fast(), &mut |l| lines.push(l)).unwrap();
        assert_eq!(
            done.iter().map(|r| r.component.as_str()).collect::<Vec<_>>(),
            ["kube-apiserver", "kube-controller-manager", "kube-scheduler"]
        );
        assert!(!kubelet.parked.contains("etcd"), "etcd's manifest was moved: {lines:?}");
        assert!(!lines.iter().any(|l| l.contains("restarting etcd")), "{lines:?}");
        assert_eq!(host.read(manifest("etcd")).unwrap(), etcd_before);
        assert!(lines.iter().any(|l| l.starts_with("etcd: no running Pod")), "{lines:?}");
    }

    #[test]
    fn a_parked_manifest_is_put_back() {
        let (_dir, host) = node_with_manifests();
        host.ensure_dir(PARKING_DIR, 0o700).unwrap();
        move_file(&host, &manifest("etcd"), &parked("etcd")).unwrap();
        assert_eq!(recover_parked(&host).unwrap(), ["etcd"]);
        assert!(host.exists(manifest("etcd")) && !host.exists(parked("etcd")));
        assert!(recover_parked(&host).unwrap().is_empty());
    }
}
