//! mark-control-plane (reference §8) and the Node patch helper kubeadm's `PatchNode` provides:
//! wait for the kubelet to register the Node, then strategic-merge-patch only what is missing.

use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use k8s_openapi::api::core::v1::Node;
use serde_json::{Value, json};

use super::client::{ApiClient, RETRY_INTERVAL};
use crate::config::Taint;
use crate::workflow::Ctx;

pub const CONTROL_PLANE_LABELS: [&str; 2] =
    ["node-role.kubernetes.io/control-plane", "node.kubernetes.io/exclude-from-external-load-balancers"];

pub async fn mark(ctx: &Ctx, client: &ApiClient) -> Result<()> {
    let name = &ctx.node.node_name;
    let taints = ctx.node.taints();
    let shown: Vec<String> = taints.iter().map(taint_string).collect();
    ctx.say(
        "mark-control-plane",
        format_args!(
            "Marking the node {name} as control-plane by adding the labels: [{}]",
            CONTROL_PLANE_LABELS.map(|l| format!("{l}=")).join(" ")
        ),
    );
    ctx.say(
        "mark-control-plane",
        format_args!("Marking the node {name} as control-plane by adding the taints [{}]", shown.join(" ")),
    );
    patch_node(ctx, client, |node| control_plane_patch(node, &taints)).await
}

/// The patch that adds the control-plane labels and any missing taint (matched by key and
/// effect, kubeadm `taintExists`), or `None` when the Node already has them all. Node taints have
/// no merge key, so a strategic-merge patch replaces the list: it carries existing + missing.
pub fn control_plane_patch(node: &Node, taints: &[Taint]) -> Option<Value> {
    let labels = node.metadata.labels.clone().unwrap_or_default();
    let missing_labels: Vec<&str> =
        CONTROL_PLANE_LABELS.into_iter().filter(|l| labels.get(*l).map(String::as_str) != Some("")).collect();
    let existing = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let missing_taints: Vec<&Taint> =
        taints.iter().filter(|t| !existing.iter().any(|e| e.key == t.key && e.effect == t.effect.as_str())).collect();
    if missing_labels.is_empty() && missing_taints.is_empty() {
        return None;
    }
    let mut patch = json!({});
    if !missing_labels.is_empty() {
        let labels: serde_json::Map<String, Value> =
            missing_labels.iter().map(|l| (l.to_string(), json!(""))).collect();
        patch["metadata"] = json!({ "labels": labels });
    }
    if !missing_taints.is_empty() {
        let mut all: Vec<Value> = existing.iter().map(|t| serde_json::to_value(t).expect("taints serialize")).collect();
        for t in missing_taints {
            let mut v = json!({ "key": t.key, "effect": t.effect.as_str() });
            if let Some(value) = &t.value {
                v["value"] = json!(value);
            }
            if let Some(at) = &t.time_added {
                v["timeAdded"] = json!(at);
            }
            all.push(v);
        }
        patch["spec"] = json!({ "taints": all });
    }
    Some(patch)
}

fn taint_string(t: &Taint) -> String {
    match &t.value {
        Some(v) => format!("{}={v}:{}", t.key, t.effect.as_str()),
        None => format!("{}:{}", t.key, t.effect.as_str()),
    }
}

/// Waits (within `kubernetesAPICall`) for Node `ctx.node.node_name` to exist, then sends the
/// strategic-merge patch `patch_for` computes from it, if any. A Node that changes under us
/// is simply re-read: the patch is recomputed from what is there.
pub async fn patch_node(ctx: &Ctx, client: &ApiClient, patch_for: impl Fn(&Node) -> Option<Value>) -> Result<()> {
    let name = &ctx.node.node_name;
    let budget = super::api_budget(ctx);
    let started = Instant::now();
    let mut announced = false;
    loop {
        match client.get::<Node>(None, name).await? {
            Some(node) => {
                let Some(patch) = patch_for(&node) else { return Ok(()) };
                if client.patch_strategic::<Node>(None, name, &patch).await?.is_some() {
                    return Ok(());
                }
            }
            None if !announced => {
                ctx.say("patchnode", format_args!("Waiting for the kubelet to register Node {name}"));
                announced = true;
            }
            None => {}
        }
        if started.elapsed() + RETRY_INTERVAL > budget {
            bail!(
                "Node {name} was not registered within {} (timeouts.kubernetesAPICall); the kubelet registers it: \
                 look at `journalctl -u kubelet` for registration errors (node name, credentials in {})",
                crate::config::duration::GoDuration(budget),
                super::KUBELET_CONF
            );
        }
        tokio::time::sleep(RETRY_INTERVAL.min(Duration::from_secs(1))).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::TaintEffect;
    use k8s_openapi::api::core::v1::{NodeSpec, Taint as K8sTaint};

    fn cp_taint() -> Taint {
        Taint {
            key: "node-role.kubernetes.io/control-plane".into(),
            value: None,
            effect: TaintEffect::NoSchedule,
            time_added: None,
        }
    }

    #[test]
    fn patch_keeps_existing_taints_and_adds_missing_ones() {
        let node = Node {
            spec: Some(NodeSpec {
                taints: Some(vec![K8sTaint {
                    key: "dedicated".into(),
                    value: Some("x".into()),
                    effect: "NoExecute".into(),
                    time_added: None,
                }]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = control_plane_patch(&node, &[cp_taint()]).unwrap();
        assert_eq!(
            p,
            json!({
                "metadata": {"labels": {"node-role.kubernetes.io/control-plane": "", "node.kubernetes.io/exclude-from-external-load-balancers": ""}},
                "spec": {"taints": [
                    {"key": "dedicated", "value": "x", "effect": "NoExecute"},
                    {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
                ]}
            })
        );
    }

    #[test]
    fn nothing_to_patch_when_already_marked() {
        let mut node = Node::default();
        node.metadata.labels = Some(CONTROL_PLANE_LABELS.iter().map(|l| (l.to_string(), String::new())).collect());
        node.spec = Some(NodeSpec {
            taints: Some(vec![K8sTaint {
                key: "node-role.kubernetes.io/control-plane".into(),
                value: None,
                effect: "NoSchedule".into(),
                time_added: None,
            }]),
            ..Default::default()
        });
        assert_eq!(control_plane_patch(&node, &[cp_taint()]), None);
        // `taints: []` in the config: labels only.
        node.spec = None;
        assert_eq!(control_plane_patch(&node, &[]), None);
    }
}
