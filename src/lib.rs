//! kubeboot: turn a bare machine into a Kubernetes node at first boot.
//!
//! Data flows one way (see DESIGN.md):
//! `source` (find user-data) → `config` (parse, validate, default) → `render`/`pki` (pure: the
//! files kubeadm would write) → `workflow` (phases, journal, resume) applying through `host`
//! and `cluster` → `report`.

pub mod cli;
pub mod cluster;
pub mod config;
pub mod error;
pub mod host;
pub mod join;
pub mod patches;
pub mod pki;
pub mod plan;
pub mod preflight;
pub mod render;
pub mod renewal;
pub mod report;
pub mod reset;
pub mod source;
pub mod workflow;
