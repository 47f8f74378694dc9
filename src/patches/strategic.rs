//! Strategic merge patch (apimachinery `strategicpatch.StrategicMergePatch`) for the objects
//! kubeadm patches: a Pod (static Pod manifests), a Deployment (CoreDNS) and a schema-less
//! document (KubeletConfiguration, whose Go type declares no merge keys).
//!
//! Follows apimachinery's apply path with kubeadm's options (`MergeParallelList`,
//! `IgnoreUnmatchedNulls`): maps merge key by key and `null` deletes; lists declared
//! `patchStrategy:"merge"` merge their items by the patch merge key (new items go before
//! the original ones, as `mergeSortedSlice` orders them), other lists are replaced; the
//! directives `$patch: replace|delete`, `$retainKeys`, `$setElementOrder/<list>` and
//! `$deleteFromPrimitiveList/<list>` are honoured.

use serde_json::{Map, Value};

/// The Go types whose fields carry patch metadata; anything else is `Plain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ty {
    Pod,
    Deployment,
    DeploymentSpec,
    PodTemplateSpec,
    ObjectMeta,
    PodSpec,
    Container,
    PodStatus,
    DeploymentStatus,
    /// No patch metadata: maps merge, lists are replaced.
    Plain,
}

/// How a field merges.
#[derive(Debug, Clone, Copy)]
enum Field {
    /// A map (or scalar) of this type.
    Of(Ty),
    /// A list merged by item key (`patchStrategy:"merge"`, `patchMergeKey`).
    MergeBy(&'static str, Ty),
    /// A list of scalars merged as a set (`patchStrategy:"merge"` without a key).
    MergeScalars,
}

fn field(ty: Ty, key: &str) -> Field {
    use Field::*;
    match (ty, key) {
        (Ty::Pod | Ty::Deployment | Ty::PodTemplateSpec, "metadata") => Of(Ty::ObjectMeta),
        (Ty::Pod | Ty::PodTemplateSpec, "spec") => Of(Ty::PodSpec),
        (Ty::Pod, "status") => Of(Ty::PodStatus),
        (Ty::Deployment, "spec") => Of(Ty::DeploymentSpec),
        (Ty::Deployment, "status") => Of(Ty::DeploymentStatus),
        (Ty::DeploymentSpec, "template") => Of(Ty::PodTemplateSpec),
        (Ty::ObjectMeta, "finalizers") => MergeScalars,
        (Ty::ObjectMeta, "ownerReferences") => MergeBy("uid", Ty::Plain),
        (Ty::PodSpec, "containers" | "initContainers" | "ephemeralContainers") => MergeBy("name", Ty::Container),
        (Ty::PodSpec, "volumes" | "imagePullSecrets" | "resourceClaims" | "schedulingGates") => {
            MergeBy("name", Ty::Plain)
        }
        (Ty::PodSpec, "hostAliases") => MergeBy("ip", Ty::Plain),
        (Ty::PodSpec, "topologySpreadConstraints") => MergeBy("topologyKey", Ty::Plain),
        (Ty::Container, "ports") => MergeBy("containerPort", Ty::Plain),
        (Ty::Container, "env") => MergeBy("name", Ty::Plain),
        (Ty::Container, "volumeMounts") => MergeBy("mountPath", Ty::Plain),
        (Ty::Container, "volumeDevices") => MergeBy("devicePath", Ty::Plain),
        (Ty::PodStatus | Ty::DeploymentStatus, "conditions") => MergeBy("type", Ty::Plain),
        (Ty::PodStatus, "podIPs" | "hostIPs") => MergeBy("ip", Ty::Plain),
        (Ty::PodStatus, "resourceClaimStatuses") => MergeBy("name", Ty::Plain),
        _ => Of(Ty::Plain),
    }
}

const DIRECTIVE: &str = "$patch";
const RETAIN_KEYS: &str = "$retainKeys";
const SET_ORDER: &str = "$setElementOrder/";
const DELETE_FROM: &str = "$deleteFromPrimitiveList/";

/// Applies `patch` to `original` as a strategic merge patch for an object of type `ty`.
pub fn apply(original: Value, patch: &Value, ty: Ty) -> Result<Value, String> {
    let Value::Object(patch) = patch else {
        return Err("a strategic merge patch must be a mapping".into());
    };
    let original = match original {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    merge_map(original, patch.clone(), ty).map(Value::Object)
}

fn merge_map(
    mut original: Map<String, Value>,
    mut patch: Map<String, Value>,
    ty: Ty,
) -> Result<Map<String, Value>, String> {
    if let Some(d) = patch.remove(DIRECTIVE) {
        return match d.as_str() {
            Some("replace") => Ok(patch),
            Some("delete") => Ok(Map::new()),
            _ => Err(format!("unknown patch type: {d} in map: {}", Value::Object(patch))),
        };
    }
    if let Some(keep) = patch.remove(RETAIN_KEYS) {
        let Value::Array(keep) = keep else { return Err("$retainKeys must be a list of strings".into()) };
        let mut names = Vec::new();
        for k in keep {
            let Value::String(k) = k else { return Err("$retainKeys must be a list of strings".into()) };
            names.push(k);
        }
        original.retain(|k, _| names.contains(k));
    }
    // $setElementOrder lists, with the list they order.
    let order_keys: Vec<String> = patch.keys().filter(|k| k.starts_with(SET_ORDER)).cloned().collect();
    for ok in order_keys {
        let Some(Value::Array(order)) = patch.remove(&ok) else {
            return Err(format!("{ok} must be a list"));
        };
        let key = &ok[SET_ORDER.len()..];
        let (Field::MergeBy(_, _) | Field::MergeScalars) = field(ty, key) else {
            return Err(format!("{ok}: `{key}` is not a list with merge semantics"));
        };
        let merge_key = match field(ty, key) {
            Field::MergeBy(k, _) => Some(k),
            _ => None,
        };
        let original_list = match original.get(key) {
            Some(Value::Array(a)) => a.clone(),
            _ => vec![],
        };
        let merged = match (original.remove(key), patch.remove(key)) {
            (Some(o), Some(p)) => merge_list(o, p, field(ty, key), false)?,
            (Some(o), None) => o,
            (None, Some(p)) => p,
            (None, None) => continue,
        };
        let Value::Array(merged) = merged else { return Err(format!("`{key}` is not a list")) };
        let (in_order, server_only): (Vec<Value>, Vec<Value>) =
            merged.into_iter().partition(|v| index(&order, v, merge_key).is_some());
        let all = normalize_order(in_order, server_only, &order, &original_list, merge_key);
        original.insert(key.to_string(), Value::Array(all));
    }
    for (k, pv) in patch {
        let (k, delete_list) = match k.strip_prefix(DELETE_FROM) {
            Some(rest) => (rest.to_string(), true),
            None => (k, false),
        };
        if pv.is_null() {
            original.remove(&k);
            continue;
        }
        let Some(ov) = original.remove(&k) else {
            if !delete_list {
                original.insert(k, pv);
            }
            continue;
        };
        let merged = match (&ov, &pv) {
            (Value::Object(_), Value::Object(_)) => {
                let (Value::Object(o), Value::Object(p)) = (ov, pv) else { unreachable!() };
                let sub = match field(ty, &k) {
                    Field::Of(t) => t,
                    _ => Ty::Plain,
                };
                Value::Object(merge_map(o, p, sub)?)
            }
            (Value::Array(_), Value::Array(_)) => merge_list(ov, pv, field(ty, &k), delete_list)?,
            _ => pv,
        };
        original.insert(k, merged);
    }
    Ok(original)
}

fn merge_list(original: Value, patch: Value, f: Field, delete_list: bool) -> Result<Value, String> {
    let (Value::Array(original), Value::Array(patch)) = (original, patch) else {
        return Err("expected two lists".into());
    };
    match f {
        Field::MergeScalars => {
            if delete_list {
                return Ok(Value::Array(original.into_iter().filter(|v| !patch.contains(v)).collect()));
            }
            if patch.iter().chain(&original).any(|v| v.is_object() || v.is_array()) {
                return Err("a list of scalars cannot hold maps or lists".into());
            }
            let mut both: Vec<Value> = Vec::new();
            for v in original.iter().chain(&patch) {
                if !both.contains(v) {
                    both.push(v.clone());
                }
            }
            let (in_patch, server_only): (Vec<Value>, Vec<Value>) = both.into_iter().partition(|v| patch.contains(v));
            Ok(Value::Array(normalize_order(in_patch, server_only, &patch, &original, None)))
        }
        Field::MergeBy(key, elem) => {
            if original.is_empty() && patch.is_empty() {
                return Ok(Value::Array(original));
            }
            for v in original.iter().chain(&patch) {
                if !v.is_object() {
                    return Err(format!("list items must be maps with the merge key `{key}`, found {v}"));
                }
            }
            // $patch items: delete by key, or replace the whole list.
            let mut original = original;
            let mut plain = Vec::new();
            let mut replace = false;
            for v in patch {
                match v.get(DIRECTIVE) {
                    None => plain.push(v),
                    Some(d) if d == "delete" => {
                        let mv = v.get(key).ok_or_else(|| no_merge_key(&v, key))?;
                        original.retain(|o| !o.get(key).is_some_and(|ov| same(ov, mv)));
                    }
                    Some(d) if d == "replace" => replace = true,
                    Some(d) if d == "merge" => return Err("merging lists cannot yet be specified in the patch".into()),
                    Some(d) => return Err(format!("unknown patch type: {d} in map: {v}")),
                }
            }
            if replace {
                return Ok(Value::Array(plain));
            }
            let mut merged = original.clone();
            for v in &plain {
                let mv = v.get(key).ok_or_else(|| no_merge_key(v, key))?;
                match merged.iter().position(|o| o.get(key).is_some_and(|ov| same(ov, mv))) {
                    Some(i) => {
                        let Value::Object(o) = std::mem::take(&mut merged[i]) else { unreachable!() };
                        let Value::Object(p) = v.clone() else { unreachable!() };
                        merged[i] = Value::Object(merge_map(o, p, elem)?);
                    }
                    None => merged.push(v.clone()),
                }
            }
            let (in_patch, server_only): (Vec<Value>, Vec<Value>) =
                merged.into_iter().partition(|v| index(&plain, v, Some(key)).is_some());
            Ok(Value::Array(normalize_order(in_patch, server_only, &plain, &original, Some(key))))
        }
        Field::Of(_) => Ok(Value::Array(patch)),
    }
}

fn no_merge_key(v: &Value, key: &str) -> String {
    format!("map: {v} does not contain declared merge key: {key}")
}

/// JSON numbers compare by value (Go decodes every number to float64).
fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    }
}

fn index(list: &[Value], item: &Value, key: Option<&str>) -> Option<usize> {
    match key {
        Some(k) => {
            let want = item.get(k)?;
            list.iter().position(|v| v.get(k).is_some_and(|x| same(x, want)))
        }
        None => list.iter().position(|v| same(v, item)),
    }
}

/// apimachinery `normalizeElementOrder`: patch items in patch order, server-only items in
/// their original order, then interleaved by their place in the original list; an item the
/// original does not hold goes first.
fn normalize_order(
    mut patch_items: Vec<Value>,
    mut server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    key: Option<&str>,
) -> Vec<Value> {
    let sort = |items: &mut Vec<Value>, order: &[Value]| {
        items.sort_by_key(|v| index(order, v, key).unwrap_or(usize::MAX));
    };
    sort(&mut patch_items, patch_order);
    sort(&mut server_only, server_order);
    let (left, right) = (server_only, patch_items);
    let mut out = Vec::with_capacity(left.len() + right.len());
    let (mut i, mut j) = (0, 0);
    while i < left.len() || j < right.len() {
        if i >= left.len() {
            out.push(right[j].clone());
            j += 1;
        } else if j >= right.len() {
            out.push(left[i].clone());
            i += 1;
        } else {
            let li = index(server_order, &left[i], key);
            let ri = index(server_order, &right[j], key);
            if matches!((li, ri), (Some(l), Some(r)) if l < r) {
                out.push(left[i].clone());
                i += 1;
            } else {
                out.push(right[j].clone());
                j += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod() -> Value {
        json!({"metadata": {"name": "kube-apiserver", "labels": {"a": "1"}},
               "spec": {"containers": [{"name": "kube-apiserver", "image": "x",
                   "env": [{"name": "A", "value": "1"}],
                   "ports": [{"containerPort": 6443, "name": "probe-port"}],
                   "volumeMounts": [{"name": "k8s-certs", "mountPath": "/etc/kubernetes/pki"}]}],
                   "volumes": [{"name": "k8s-certs", "hostPath": {"path": "/etc/kubernetes/pki"}}]}})
    }

    #[test]
    fn containers_merge_by_name_and_new_items_go_first() {
        let p = json!({"spec": {"containers": [{"name": "kube-apiserver",
            "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "9"}],
            "volumeMounts": [{"name": "audit", "mountPath": "/var/log/audit"}]}],
            "volumes": [{"name": "audit", "hostPath": {"path": "/var/log/audit"}}]}});
        let out = apply(pod(), &p, Ty::Pod).unwrap();
        let c = &out["spec"]["containers"][0];
        assert_eq!(c["image"], "x");
        assert_eq!(c["env"], json!([{"name": "B", "value": "2"}, {"name": "A", "value": "9"}]));
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/var/log/audit");
        assert_eq!(c["volumeMounts"][1]["mountPath"], "/etc/kubernetes/pki");
        assert_eq!(out["spec"]["volumes"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn directives() {
        let p = json!({"metadata": {"labels": {"$patch": "replace", "b": "2"}},
            "spec": {"containers": [{"name": "kube-apiserver", "ports": [{"containerPort": 6443, "$patch": "delete"}]}],
                     "volumes": [{"$patch": "replace"}, {"name": "only", "emptyDir": {}}]}});
        let out = apply(pod(), &p, Ty::Pod).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"b": "2"}));
        assert_eq!(out["spec"]["containers"][0]["ports"], json!([]));
        assert_eq!(out["spec"]["volumes"], json!([{"name": "only", "emptyDir": {}}]));
    }

    #[test]
    fn null_deletes_and_plain_lists_replace() {
        let p = json!({"metadata": {"labels": null}, "spec": {"containers": [{"name": "kube-apiserver", "command": ["a"]}]}});
        let out = apply(pod(), &p, Ty::Pod).unwrap();
        assert!(out["metadata"].get("labels").is_none());
        assert_eq!(out["spec"]["containers"][0]["command"], json!(["a"]));
    }

    #[test]
    fn missing_merge_key_is_an_error() {
        let p = json!({"spec": {"containers": [{"image": "y"}]}});
        assert!(apply(pod(), &p, Ty::Pod).unwrap_err().contains("merge key: name"));
    }

    #[test]
    fn set_element_order_and_scalar_lists() {
        let orig =
            json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"containers": [{"name": "x"}, {"name": "y"}]}});
        let p = json!({"metadata": {"finalizers": ["c"], "$deleteFromPrimitiveList/finalizers": ["a"]},
            "spec": {"$setElementOrder/containers": [{"name": "y"}, {"name": "x"}]}});
        let out = apply(orig, &p, Ty::Pod).unwrap();
        assert_eq!(out["spec"]["containers"], json!([{"name": "y"}, {"name": "x"}]));
        let f = out["metadata"]["finalizers"].as_array().unwrap();
        assert!(f.contains(&json!("c")) && f.contains(&json!("b")) && !f.contains(&json!("a")));
    }
}
