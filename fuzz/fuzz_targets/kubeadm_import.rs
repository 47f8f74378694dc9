//! kubeadm configuration documents (v1beta3/v1beta4 Init/Cluster/JoinConfiguration) imported
//! into a NodeConfig, straight from the YAML tree, and through the loader as user-data.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(docs) = kubeboot::config::yaml::parse(text)
        && !docs.is_empty()
    {
        let _ = kubeboot::config::kubeadm::import(&docs);
    }
    let _ = kubeboot::config::load("kubeadm.yaml", data);
});
