//! Builders for the RBAC objects kubeadm creates, so each phase reads like the reference table.

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject};

use super::client::{cluster_meta, meta};

const RBAC_GROUP: &str = "rbac.authorization.k8s.io";

/// One rule: `verbs` on core-or-named `groups`' `resources`, optionally limited to `names`.
pub fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
    let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    PolicyRule {
        verbs: strings(verbs),
        api_groups: Some(strings(groups)),
        resources: Some(strings(resources)),
        resource_names: (!names.is_empty()).then(|| strings(names)),
        ..Default::default()
    }
}

pub fn group(name: &str) -> Subject {
    Subject { kind: "Group".into(), name: name.into(), api_group: Some(RBAC_GROUP.into()), namespace: None }
}

pub fn user(name: &str) -> Subject {
    Subject { kind: "User".into(), name: name.into(), api_group: Some(RBAC_GROUP.into()), namespace: None }
}

pub fn service_account(namespace: &str, name: &str) -> Subject {
    Subject { kind: "ServiceAccount".into(), name: name.into(), api_group: None, namespace: Some(namespace.into()) }
}

pub fn role(namespace: &str, name: &str, rules: Vec<PolicyRule>) -> Role {
    Role { metadata: meta(namespace, name), rules: Some(rules) }
}

pub fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole { metadata: cluster_meta(name), rules: Some(rules), aggregation_rule: None }
}

/// A RoleBinding to the Role of the same namespace called `role`.
pub fn role_binding(namespace: &str, name: &str, role: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: meta(namespace, name),
        role_ref: RoleRef { api_group: RBAC_GROUP.into(), kind: "Role".into(), name: role.into() },
        subjects: Some(subjects),
    }
}

/// A ClusterRoleBinding to the ClusterRole `cluster_role`.
pub fn cluster_role_binding(name: &str, cluster_role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: cluster_meta(name),
        role_ref: RoleRef { api_group: RBAC_GROUP.into(), kind: "ClusterRole".into(), name: cluster_role.into() },
        subjects: Some(subjects),
    }
}
