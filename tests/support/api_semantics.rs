//! What a real kube-apiserver does to a write beyond storing it, for the TEST STAND-IN
//! (`apiserver.rs`). Each rule here was added because the stand-in once accepted what the real
//! server treats differently, which hid a kubeboot bug:
//!
//! - **Decoding into the typed object** (k8s-openapi): a mistyped field is 400 BadRequest
//!   ("cannot be handled as a …"), an unknown field is dropped with a `Warning` header (the
//!   server's default `fieldValidation=Warn`) or refused with 400 under `fieldValidation=Strict`.
//!   A field kubeboot sends that the server drops would make compare-before-write rewrite forever.
//! - **Validation** (422 Invalid): object names (DNS-1123 subdomain, DNS-1035 label for Services,
//!   path segments for RBAC), label keys and values.
//! - **Server-side defaults** on the kinds kubeboot writes (Service, Deployment, DaemonSet, Pod
//!   templates, Secret), so a re-run compares against what the server really returns.
//! - **ClusterIP allocation**: a fixed `spec.clusterIP` that is taken is 422 Invalid
//!   "provided IP is already allocated", checked *before* existence — so re-creating kube-dns
//!   fails that way, not with 409 AlreadyExists. An unset ClusterIP is allocated; it is immutable.
//! - **Status subresources**: writes to the main resource keep the stored `status`; `…/status`
//!   writes change only `status`.
//! - **Strategic merge patch** with the merge keys of the types kubeboot patches (containers,
//!   volumes, env, ports, conditions, …) and the `$patch` directives.
//!
//! Known gaps (not used by kubeboot): quantities are not canonicalised, defaults of kinds not listed
//! above are not applied, no admission (LimitRanger, ServiceAccount tokens), no garbage collection,
//! no JSON Patch, no server-side apply.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// A write the real server refuses: HTTP code, reason, message.
pub struct Refusal {
    pub code: u16,
    pub reason: &'static str,
    pub message: String,
}

fn invalid(kind: &str, name: &str, causes: &[String]) -> Refusal {
    Refusal { code: 422, reason: "Invalid", message: format!("{kind} \"{name}\" is invalid: {}", causes.join(", ")) }
}

/// Resources whose `status` is a subresource (written only through `…/status`).
pub fn has_status_subresource(resource: &str) -> bool {
    matches!(
        resource,
        "nodes"
            | "pods"
            | "services"
            | "deployments"
            | "daemonsets"
            | "replicasets"
            | "statefulsets"
            | "jobs"
            | "namespaces"
            | "certificatesigningrequests"
            | "persistentvolumes"
            | "persistentvolumeclaims"
    )
}

/// Decodes `obj` as the typed object of `(gv, resource)` and encodes it again, as the server's
/// codec does. Returns the unknown fields that were dropped (as `.a.b` paths).
pub fn decode(gv: &str, resource: &str, obj: &mut Value) -> Result<Vec<String>, Refusal> {
    use k8s_openapi::api::{apps::v1 as apps, core::v1 as core, rbac::v1 as rbac};
    use k8s_openapi::api::{certificates::v1 as certs, coordination::v1 as coord};
    let kind = obj["kind"].as_str().unwrap_or(resource).to_string();
    let typed = match (gv, resource) {
        ("v1", "configmaps") => roundtrip::<core::ConfigMap>(obj),
        ("v1", "secrets") => roundtrip::<core::Secret>(obj),
        ("v1", "services") => roundtrip::<core::Service>(obj),
        ("v1", "serviceaccounts") => roundtrip::<core::ServiceAccount>(obj),
        ("v1", "nodes") => roundtrip::<core::Node>(obj),
        ("v1", "pods") => roundtrip::<core::Pod>(obj),
        ("v1", "namespaces") => roundtrip::<core::Namespace>(obj),
        ("apps/v1", "deployments") => roundtrip::<apps::Deployment>(obj),
        ("apps/v1", "daemonsets") => roundtrip::<apps::DaemonSet>(obj),
        ("rbac.authorization.k8s.io/v1", "roles") => roundtrip::<rbac::Role>(obj),
        ("rbac.authorization.k8s.io/v1", "rolebindings") => roundtrip::<rbac::RoleBinding>(obj),
        ("rbac.authorization.k8s.io/v1", "clusterroles") => roundtrip::<rbac::ClusterRole>(obj),
        ("rbac.authorization.k8s.io/v1", "clusterrolebindings") => roundtrip::<rbac::ClusterRoleBinding>(obj),
        ("certificates.k8s.io/v1", "certificatesigningrequests") => roundtrip::<certs::CertificateSigningRequest>(obj),
        ("coordination.k8s.io/v1", "leases") => roundtrip::<coord::Lease>(obj),
        _ => return Ok(vec![]), // a kind the stand-in has no type for is stored as sent
    };
    match typed {
        Ok(decoded) => {
            let mut unknown = vec![];
            dropped_fields(obj, &decoded, "", &mut unknown);
            *obj = decoded;
            Ok(unknown)
        }
        Err(e) => Err(Refusal {
            code: 400,
            reason: "BadRequest",
            message: format!("{kind} in version \"{gv}\" cannot be handled as a {kind}: {e}"),
        }),
    }
}

fn roundtrip<T: DeserializeOwned + Serialize>(obj: &Value) -> Result<Value, serde_json::Error> {
    let t: T = serde_json::from_value(obj.clone())?;
    serde_json::to_value(&t)
}

/// Fields of `sent` that are absent from `kept` (what the typed decode dropped). An empty value
/// (`{}`, `[]`, `""`) the encoder omits is not an unknown field.
fn dropped_fields(sent: &Value, kept: &Value, path: &str, out: &mut Vec<String>) {
    match (sent, kept) {
        (Value::Object(s), Value::Object(k)) => {
            for (key, v) in s {
                let p = format!("{path}.{key}");
                match k.get(key) {
                    Some(kv) => dropped_fields(v, kv, &p, out),
                    None if is_empty(v) => {}
                    None => out.push(p),
                }
            }
        }
        (Value::Array(s), Value::Array(k)) => {
            for (i, (a, b)) in s.iter().zip(k).enumerate() {
                dropped_fields(a, b, &format!("{path}[{i}]"), out);
            }
        }
        _ => {}
    }
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// 422 checks of object metadata: the name's format for the resource, label keys and values.
pub fn validate(resource: &str, obj: &Value) -> Result<(), Refusal> {
    let kind = obj["kind"].as_str().unwrap_or(resource);
    let name = obj["metadata"]["name"].as_str().unwrap_or("");
    let mut causes = vec![];
    let name_ok = if matches!(resource, "roles" | "rolebindings" | "clusterroles" | "clusterrolebindings") {
        // RBAC names are path segments: `system:coredns`, `kubeadm:get-nodes`.
        !name.is_empty() && name != "." && name != ".." && !name.contains('/') && !name.contains('%')
    } else if resource == "services" {
        is_dns1035_label(name)
    } else {
        is_dns1123_subdomain(name)
    };
    if !name_ok {
        causes.push(format!("metadata.name: Invalid value: \"{name}\": a lowercase RFC 1123 name must consist of lower case alphanumeric characters, '-' or '.'"));
    }
    if let Some(labels) = obj["metadata"]["labels"].as_object() {
        for (k, v) in labels {
            if !is_qualified_name(k) {
                causes.push(format!("metadata.labels: Invalid value: \"{k}\": name part must consist of alphanumeric characters, '-', '_' or '.'"));
            }
            let v = v.as_str().unwrap_or("");
            if !(v.is_empty() || (v.len() <= 63 && is_label_body(v))) {
                causes.push(format!("metadata.labels: Invalid value: \"{v}\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.'"));
            }
        }
    }
    if causes.is_empty() { Ok(()) } else { Err(invalid(kind, name, &causes)) }
}

fn is_dns1123_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

fn is_dns1035_label(s: &str) -> bool {
    is_dns1123_label(s) && s.as_bytes()[0].is_ascii_lowercase()
}

fn is_label_body(s: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    s.bytes().all(|b| alnum(b) || b == b'-' || b == b'_' || b == b'.')
        && s.bytes().next().is_some_and(alnum)
        && s.bytes().last().is_some_and(alnum)
}

fn is_qualified_name(s: &str) -> bool {
    let (prefix, name) = match s.rsplit_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, s),
    };
    prefix.is_none_or(is_dns1123_subdomain) && !name.is_empty() && name.len() <= 63 && is_label_body(name)
}

/// The defaults the real server's defaulting functions set on the kinds kubeboot writes.
pub fn apply_defaults(resource: &str, obj: &mut Value) {
    match resource {
        "services" => service_defaults(obj),
        "deployments" => {
            let spec = &mut obj["spec"];
            default(spec, "replicas", json!(1));
            default(spec, "revisionHistoryLimit", json!(10));
            default(spec, "progressDeadlineSeconds", json!(600));
            if spec["strategy"]["type"].is_null() {
                spec["strategy"]["type"] = json!("RollingUpdate");
            }
            if spec["strategy"]["type"] == "RollingUpdate" {
                default(&mut spec["strategy"]["rollingUpdate"], "maxUnavailable", json!("25%"));
                default(&mut spec["strategy"]["rollingUpdate"], "maxSurge", json!("25%"));
            }
            pod_template_defaults(&mut spec["template"]);
        }
        "daemonsets" => {
            let spec = &mut obj["spec"];
            default(spec, "revisionHistoryLimit", json!(10));
            if spec["updateStrategy"]["type"].is_null() {
                spec["updateStrategy"]["type"] = json!("RollingUpdate");
            }
            if spec["updateStrategy"]["type"] == "RollingUpdate" {
                default(&mut spec["updateStrategy"]["rollingUpdate"], "maxUnavailable", json!(1));
                default(&mut spec["updateStrategy"]["rollingUpdate"], "maxSurge", json!(0));
            }
            pod_template_defaults(&mut spec["template"]);
        }
        "secrets" => default(obj, "type", json!("Opaque")),
        _ => {}
    }
}

fn default(obj: &mut Value, key: &str, value: Value) {
    if !obj.is_object() {
        *obj = json!({});
    }
    let m = obj.as_object_mut().unwrap();
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.into(), value);
    }
}

fn service_defaults(svc: &mut Value) {
    let spec = &mut svc["spec"];
    default(spec, "type", json!("ClusterIP"));
    default(spec, "sessionAffinity", json!("None"));
    if spec["type"] != "ExternalName" {
        default(spec, "ipFamilies", json!(["IPv4"]));
        default(spec, "ipFamilyPolicy", json!("SingleStack"));
        default(spec, "internalTrafficPolicy", json!("Cluster"));
    }
    if let Some(ports) = spec["ports"].as_array_mut() {
        for p in ports {
            default(p, "protocol", json!("TCP"));
            let port = p["port"].clone();
            default(p, "targetPort", port);
        }
    }
}

fn pod_template_defaults(template: &mut Value) {
    let spec = &mut template["spec"];
    default(spec, "restartPolicy", json!("Always"));
    default(spec, "terminationGracePeriodSeconds", json!(30));
    default(spec, "dnsPolicy", json!("ClusterFirst"));
    default(spec, "schedulerName", json!("default-scheduler"));
    default(spec, "securityContext", json!({}));
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec[list].as_array_mut() {
            for c in cs {
                let latest = c["image"].as_str().is_some_and(|i| i.ends_with(":latest") || !i.contains(':'));
                default(c, "imagePullPolicy", json!(if latest { "Always" } else { "IfNotPresent" }));
                default(c, "terminationMessagePath", json!("/dev/termination-log"));
                default(c, "terminationMessagePolicy", json!("File"));
                if let Some(ports) = c["ports"].as_array_mut() {
                    for p in ports {
                        default(p, "protocol", json!("TCP"));
                    }
                }
                for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                    if c[probe].is_object() {
                        let pr = &mut c[probe];
                        default(pr, "timeoutSeconds", json!(1));
                        default(pr, "periodSeconds", json!(10));
                        default(pr, "successThreshold", json!(1));
                        default(pr, "failureThreshold", json!(3));
                        if pr["httpGet"].is_object() {
                            default(&mut pr["httpGet"], "scheme", json!("HTTP"));
                            default(&mut pr["httpGet"], "path", json!("/"));
                        }
                    }
                }
            }
        }
    }
    if let Some(vols) = spec["volumes"].as_array_mut() {
        for v in vols {
            if v["configMap"].is_object() {
                default(&mut v["configMap"], "defaultMode", json!(0o644));
            }
            if v["secret"].is_object() {
                default(&mut v["secret"], "defaultMode", json!(0o644));
            }
            if v["hostPath"].is_object() {
                default(&mut v["hostPath"], "type", json!(""));
            }
        }
    }
}

/// ClusterIP allocation on create. `taken` are the ClusterIPs of every stored Service.
/// An explicit address that is taken is 422 — before the server looks for an existing object.
pub fn allocate_cluster_ip(svc: &mut Value, taken: &[String]) -> Result<(), Refusal> {
    let spec = &mut svc["spec"];
    if spec["type"] == "ExternalName" || spec["clusterIP"] == "None" {
        return Ok(());
    }
    let name = svc["metadata"]["name"].as_str().unwrap_or("").to_string();
    let spec = &mut svc["spec"];
    match spec["clusterIP"].as_str().filter(|s| !s.is_empty()) {
        Some(ip) if taken.iter().any(|t| t == ip) => Err(invalid(
            "Service",
            &name,
            &[format!(
                "spec.clusterIPs: Invalid value: []string{{\"{ip}\"}}: failed to allocate IP {ip}: provided IP is already allocated"
            )],
        )),
        Some(ip) => {
            spec["clusterIPs"] = json!([ip]);
            Ok(())
        }
        None => {
            let ip = (100..65000)
                .map(|n: u32| format!("10.96.{}.{}", n / 256, n % 256))
                .find(|ip| !taken.contains(ip))
                .expect("a free ClusterIP");
            spec["clusterIP"] = json!(ip);
            spec["clusterIPs"] = json!([ip]);
            Ok(())
        }
    }
}

/// On update: an empty ClusterIP keeps the allocated one; a different one is 422 (immutable).
pub fn keep_cluster_ip(next: &mut Value, current: &Value) -> Result<(), Refusal> {
    let old = current["spec"]["clusterIP"].clone();
    let name = next["metadata"]["name"].as_str().unwrap_or("").to_string();
    match next["spec"]["clusterIP"].as_str().filter(|s| !s.is_empty()) {
        None => {
            next["spec"]["clusterIP"] = old;
            next["spec"]["clusterIPs"] = current["spec"]["clusterIPs"].clone();
            Ok(())
        }
        Some(ip) if old.as_str() == Some(ip) => {
            default(&mut next["spec"], "clusterIPs", current["spec"]["clusterIPs"].clone());
            Ok(())
        }
        Some(_) => Err(invalid("Service", &name, &["spec.clusterIPs[0]: Invalid value: field is immutable".into()])),
    }
}

/// The patch merge key of a list field, from the Go types' `patchMergeKey` tags. `parent` is the
/// key of the object holding the list (to tell a container's ports from a Service's).
fn merge_key(field: &str, parent: &str) -> Option<&'static str> {
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" | "volumes" | "env" | "imagePullSecrets" => "name",
        "volumeMounts" => "mountPath",
        "volumeDevices" => "devicePath",
        "ports" if parent == "spec" => "port",
        "ports" => "containerPort",
        "conditions" => "type",
        "ownerReferences" => "uid",
        "addresses" => "type",
        _ => return None,
    })
}

/// Strategic merge patch (`application/strategic-merge-patch+json`): maps merge key by key
/// (`null` deletes), lists with a merge key merge element by element (`$patch: delete` removes
/// one), `finalizers` merge as a set, other lists are replaced; `$patch: replace` on a map
/// replaces it. `$setElementOrder/…` and `$retainKeys` directives are accepted and ignored.
pub fn strategic_merge(target: &mut Value, patch: &Value) {
    strategic(target, patch, "");
}

fn strategic(target: &mut Value, patch: &Value, parent: &str) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut m = p.clone();
        m.remove("$patch");
        *target = Value::Object(m);
        return;
    }
    if !target.is_object() {
        *target = json!({});
    }
    let t = target.as_object_mut().unwrap();
    for (k, v) in p {
        if k.starts_with("$setElementOrder/") || k == "$retainKeys" || k == "$patch" {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        match (v, merge_key(k, parent)) {
            (Value::Array(items), Some(mk)) => {
                let slot = t.entry(k.clone()).or_insert_with(|| json!([]));
                merge_list(slot, items, mk, k);
            }
            (Value::Array(items), None) if k == "finalizers" => {
                let slot = t.entry(k.clone()).or_insert_with(|| json!([]));
                let list = slot.as_array_mut().unwrap();
                for i in items {
                    if !list.contains(i) {
                        list.push(i.clone());
                    }
                }
            }
            _ => strategic(t.entry(k.clone()).or_insert(Value::Null), v, k),
        }
    }
}

fn merge_list(slot: &mut Value, items: &[Value], mk: &str, field: &str) {
    if !slot.is_array() {
        *slot = json!([]);
    }
    let list = slot.as_array_mut().unwrap();
    for item in items {
        let key = &item[mk];
        let pos = list.iter().position(|e| &e[mk] == key);
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (pos, delete) {
            (Some(i), true) => {
                list.remove(i);
            }
            (None, true) => {}
            (Some(i), false) => strategic(&mut list[i], item, field),
            (None, false) => {
                let mut e = item.clone();
                if let Some(m) = e.as_object_mut() {
                    m.remove("$patch");
                }
                list.push(e);
            }
        }
    }
}

/// RFC 7386 JSON merge patch (`application/merge-patch+json`): lists are replaced whole.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let t = target.as_object_mut().unwrap();
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}
