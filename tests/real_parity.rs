//! The stand-in's expectations, checked against a REAL kube-apiserver: scripts/test-real.sh dumps
//! the objects of a node that `kubeboot init` made on the real parts (`kubectl get -o json`) and
//! runs this test on the dump. The table is the one `cluster_init` checks against the stand-in
//! (tests/support/kubeadm_objects.rs), so a difference between the two servers shows up as a
//! failure of one of the two tests, never as a skip.
//!
//! The RBAC checks of `cluster_rbac` (tests/support/kubeadm_access.rs) are also replayed on the
//! real API server.
//!
//! Ignored in the plain suite: without a real cluster there is nothing to read. Run by hand with
//! `KUBEBOOT_REAL_OBJECTS=dump.json KUBEBOOT_REAL_NODE=name KUBEBOOT_REAL_API=https://… KUBEBOOT_REAL_CA=ca.crt
//! cargo test --test real_parity -- --ignored`.

mod support;

use std::collections::BTreeMap;

use serde_json::Value;
use support::kubeadm_objects::{contains, expected_objects, keys_only};

type Key = (String, String, String, String);

/// The dump's objects keyed as the stand-in keys them: (group/version, resource, namespace, name).
fn objects_of(dump: &str) -> BTreeMap<Key, Value> {
    let mut out = BTreeMap::new();
    for doc in serde_json::Deserializer::from_str(dump).into_iter::<Value>() {
        let doc = doc.expect("the dump is kubectl's JSON");
        let items = match doc["items"].as_array() {
            Some(items) => items.clone(),
            None => vec![doc],
        };
        for o in items {
            // Every kind kubeadm creates pluralises by a lower-case `s`.
            let resource = format!("{}s", o["kind"].as_str().unwrap().to_lowercase());
            let key = (
                o["apiVersion"].as_str().unwrap().to_string(),
                resource,
                o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
                o["metadata"]["name"].as_str().unwrap().to_string(),
            );
            out.insert(key, o);
        }
    }
    out
}

/// What the real controllers add to kubeadm's objects, which the stand-in has no controllers for:
/// the node lifecycle taints of a node without a pod network (`node.kubernetes.io/not-ready`, …)
/// and the bootstrap signer's `jws-kubeconfig-<token id>` keys in cluster-info.
fn without_controller_additions(mut o: Value) -> Value {
    if let Some(taints) = o["spec"]["taints"].as_array_mut() {
        taints.retain(|t| !t["key"].as_str().unwrap_or("").starts_with("node.kubernetes.io/"));
    }
    if o["metadata"]["name"] == "cluster-info"
        && let Some(data) = o["data"].as_object_mut()
    {
        data.retain(|k, _| !k.starts_with("jws-kubeconfig-"));
    }
    o
}

#[test]
#[ignore = "needs a real cluster's objects: run by scripts/test-real.sh"]
fn a_real_api_server_holds_the_objects_the_stand_in_tests_expect() {
    let path = std::env::var("KUBEBOOT_REAL_OBJECTS").expect("KUBEBOOT_REAL_OBJECTS names kubectl's JSON dump");
    let node_name = std::env::var("KUBEBOOT_REAL_NODE").expect("KUBEBOOT_REAL_NODE names the control-plane node");
    let objects = objects_of(&std::fs::read_to_string(&path).expect("reading the dump"));
    let mut failures = Vec::new();
    for (gv, res, ns, name, want) in expected_objects(&node_name) {
        let key = (gv.to_string(), res.to_string(), ns.to_string(), name.clone());
        let Some(have) = objects.get(&key) else {
            failures.push(format!("missing {res} {ns}/{name}"));
            continue;
        };
        let have = without_controller_additions(have.clone());
        if !contains(&have, &keys_only(&want, &have)) {
            failures.push(format!("{res} {ns}/{name}:\nwant {want:#}\nhave {have:#}"));
        }
        if let (Some(w), Some(h)) = (want.get("data"), have.get("data"))
            && w.as_object().map(|m| m.len()) != h.as_object().map(|m| m.len())
        {
            failures.push(format!("data keys of {res} {ns}/{name}: want {w}, have {h}"));
        }
    }
    let tokens = objects
        .keys()
        .filter(|(_, r, ns, n)| r == "secrets" && ns == "kube-system" && n.starts_with("bootstrap-token-"))
        .count();
    if tokens != 2 {
        failures.push(format!("{tokens} bootstrap-token Secrets; want 2 (init's token and kubeadm-certs' owner)"));
    }
    assert!(
        failures.is_empty(),
        "{} differences from the stand-in's expectations:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
#[ignore = "needs a real API server: run by scripts/test-real.sh inside the node's namespaces"]
fn a_real_api_server_grants_anonymous_and_bootstrap_token_access_as_the_stand_in_does() {
    let url = std::env::var("KUBEBOOT_REAL_API").expect("KUBEBOOT_REAL_API is the API server's https URL");
    let ca = std::env::var("KUBEBOOT_REAL_CA").expect("KUBEBOOT_REAL_CA names the cluster CA file");
    let node_name = std::env::var("KUBEBOOT_REAL_NODE").expect("KUBEBOOT_REAL_NODE names the control-plane node");
    support::kubeadm_access::check(&url, &std::fs::read_to_string(ca).expect("reading the CA"), &node_name);
}
