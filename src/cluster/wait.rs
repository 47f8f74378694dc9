//! wait-control-plane (reference §6): the kubelet's /healthz first, then the control-plane
//! components. With WaitForAllControlPlaneComponents the API server /livez, controller-manager
//! /healthz and scheduler /livez are polled in parallel at the addresses written in their static
//! Pod manifests; without it, /healthz is polled through the admin client.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use k8s_openapi::api::core::v1::Pod;

use super::client::{ApiClient, RETRY_INTERVAL};
use crate::config::resolve::{KUBELET_DIR, MANIFESTS_DIR, bracket};
use crate::workflow::Ctx;

/// How often a still-waiting check prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// One endpoint to poll until it answers 200.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    pub component: &'static str,
    pub url: String,
}

pub fn run(ctx: &Ctx) -> Result<()> {
    let t = &ctx.node.cfg.timeouts;
    let kubelet = kubelet_check(ctx)?;
    let components =
        if ctx.node.gates.wait_for_all_control_plane_components { Some(component_checks(ctx)?) } else { None };
    if ctx.dry_run {
        for c in kubelet.iter().chain(components.iter().flatten()) {
            ctx.say("wait-control-plane", format_args!("would wait for {} at {}", c.component, c.url));
        }
        return Ok(());
    }
    crate::workflow::block_on(async {
        let http = health_client()?;
        if let Some(k) = &kubelet {
            let budget = t.kubelet_health_check.as_duration();
            println!(
                "[kubelet-check] Waiting for a healthy kubelet at {}. This can take up to {}",
                k.url, t.kubelet_health_check
            );
            let took = poll(&http, k, budget).await?;
            println!("[kubelet-check] The kubelet is healthy after {}", crate::workflow::fmt_duration(took));
        }
        let budget = t.control_plane_component_health_check.as_duration();
        println!(
            "[control-plane-check] Waiting for healthy control plane components. This can take up to {}",
            t.control_plane_component_health_check
        );
        match components {
            Some(checks) => {
                for c in &checks {
                    println!("[control-plane-check] Checking {} at {}", c.component, c.url);
                }
                let results = futures::future::join_all(checks.iter().map(|c| {
                    let http = http.clone();
                    async move { (c.component, poll(&http, c, budget).await) }
                }))
                .await;
                let mut failures = Vec::new();
                for (component, r) in results {
                    match r {
                        Ok(took) => println!(
                            "[control-plane-check] {component} is healthy after {}",
                            crate::workflow::fmt_duration(took)
                        ),
                        Err(e) => failures.push(format!("{e:#}")),
                    }
                }
                if !failures.is_empty() {
                    bail!("{}", failures.join("; "));
                }
            }
            None => {
                let client = ApiClient::from_kubeconfig(&ctx.host, super::ADMIN_CONF, budget).await?;
                let started = Instant::now();
                loop {
                    let last = match client.get_path("/healthz").await {
                        Ok(s) if s.is_success() => break,
                        Ok(s) => format!("HTTP {s}"),
                        Err(e) => e.to_string(),
                    };
                    if started.elapsed() >= budget {
                        bail!(
                            "kube-apiserver did not report healthy at {}/healthz within {} (last: {last}); {}",
                            client.server(),
                            t.control_plane_component_health_check,
                            where_to_look("kube-apiserver")
                        );
                    }
                    tokio::time::sleep(RETRY_INTERVAL).await;
                }
                println!("[control-plane-check] kube-apiserver is healthy");
            }
        }
        Ok(())
    })
}

/// The kubelet's healthz endpoint from /var/lib/kubelet/config.yaml (`healthzBindAddress`,
/// `healthzPort`; defaults 127.0.0.1:10248). A port of 0 disables the check, as in kubeadm.
pub fn kubelet_check(ctx: &Ctx) -> Result<Option<Check>> {
    let path = format!("{KUBELET_DIR}/config.yaml");
    let cfg: serde_json::Value = match ctx.host.read_to_string(&path) {
        Ok(text) => serde_saphyr::from_str(&text).with_context(|| format!("parsing {path}"))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => serde_json::Value::Null,
        Err(e) => return Err(e).with_context(|| format!("reading {path}")),
    };
    let address = cfg.get("healthzBindAddress").and_then(|v| v.as_str()).unwrap_or("127.0.0.1");
    let port = cfg.get("healthzPort").and_then(|v| v.as_u64()).unwrap_or(10248);
    if port == 0 {
        return Ok(None);
    }
    Ok(Some(Check { component: "kubelet", url: format!("http://{}:{port}/healthz", bracket(address)) }))
}

/// kubeadm `getControlPlaneComponents`: addresses and ports parsed back from the manifests.
pub fn component_checks(ctx: &Ctx) -> Result<Vec<Check>> {
    let apiserver = manifest_flags(ctx, "kube-apiserver")?;
    let kcm = manifest_flags(ctx, "kube-controller-manager")?;
    let scheduler = manifest_flags(ctx, "kube-scheduler")?;
    let flag = |flags: &[(String, String)], name: &str, default: &str| {
        flags.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone()).unwrap_or_else(|| default.to_string())
    };
    let local = |addr: String| match addr.as_str() {
        "" | "0.0.0.0" => "127.0.0.1".to_string(),
        "::" => "::1".to_string(),
        _ => addr,
    };
    let advertise = ctx.node.advertise_address().to_string();
    let scheduler_path = if ctx.node.version.at_least(32) { "livez" } else { "healthz" };
    Ok(vec![
        Check {
            component: "kube-apiserver",
            url: format!(
                "https://{}:{}/livez",
                bracket(&local(flag(&apiserver, "advertise-address", &advertise))),
                flag(&apiserver, "secure-port", "6443")
            ),
        },
        Check {
            component: "kube-controller-manager",
            url: format!(
                "https://{}:{}/healthz",
                bracket(&local(flag(&kcm, "bind-address", "127.0.0.1"))),
                flag(&kcm, "secure-port", "10257")
            ),
        },
        Check {
            component: "kube-scheduler",
            url: format!(
                "https://{}:{}/{scheduler_path}",
                bracket(&local(flag(&scheduler, "bind-address", "127.0.0.1"))),
                flag(&scheduler, "secure-port", "10259")
            ),
        },
    ])
}

/// `--name=value` flags of the first container of a static Pod manifest.
fn manifest_flags(ctx: &Ctx, component: &str) -> Result<Vec<(String, String)>> {
    let path = format!("{MANIFESTS_DIR}/{component}.yaml");
    let text = ctx
        .host
        .read_to_string(&path)
        .with_context(|| format!("reading {path}; it is written by `kubeboot init phase control-plane`"))?;
    let pod: Pod = serde_saphyr::from_str(&text).with_context(|| format!("parsing {path}"))?;
    let container =
        pod.spec.and_then(|s| s.containers.into_iter().next()).with_context(|| format!("{path} has no container"))?;
    Ok(container
        .command
        .unwrap_or_default()
        .into_iter()
        .chain(container.args.unwrap_or_default())
        .filter_map(|a| {
            let (k, v) = a.strip_prefix("--")?.split_once('=')?;
            Some((k.to_string(), v.to_string()))
        })
        .collect())
}

/// Health endpoints are probed like kubeadm does: TLS verification off, no proxy, short timeouts.
fn health_client() -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .hickory_dns(true)
        .no_proxy()
        .connect_timeout(Duration::from_secs(2))
        .timeout(Duration::from_secs(5))
        .build()
        .context("building the health-check HTTP client")
}

/// Polls `check` every 500ms until HTTP 200; returns how long it took.
async fn poll(http: &reqwest::Client, check: &Check, budget: Duration) -> Result<Duration> {
    let started = Instant::now();
    let mut next_progress = PROGRESS_EVERY;
    loop {
        let last = match http.get(&check.url).send().await {
            Ok(r) if r.status() == reqwest::StatusCode::OK => return Ok(started.elapsed()),
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => describe_reqwest(&e),
        };
        let elapsed = started.elapsed();
        if elapsed >= budget {
            bail!(
                "{} did not become healthy at {} within {} (last: {last}); {}",
                check.component,
                check.url,
                crate::config::duration::GoDuration(budget),
                where_to_look(check.component)
            );
        }
        if elapsed >= next_progress {
            let label = if check.component == "kubelet" { "kubelet-check" } else { "control-plane-check" };
            println!("[{label}] still waiting for {} at {} ({last})", check.component, check.url);
            next_progress += PROGRESS_EVERY;
        }
        tokio::time::sleep(RETRY_INTERVAL.min(budget - elapsed)).await;
    }
}

fn where_to_look(component: &str) -> String {
    if component == "kubelet" {
        "see `systemctl status kubelet` and `journalctl -xeu kubelet`".into()
    } else {
        format!(
            "see `crictl --runtime-endpoint unix:///var/run/containerd/containerd.sock ps -a | grep {component}`, \
             then `crictl logs <container-id>`, and `journalctl -u kubelet`"
        )
    }
}

fn describe_reqwest(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        s = format!("{s}: {c}");
        cur = c.source();
    }
    s
}
