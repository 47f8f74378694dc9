//! What a platform delivers as user-data: gzip and multipart MIME unwrapping, then the loader
//! on whatever comes out.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(out) = kubeboot::source::userdata::unwrap(data.to_vec()) else { return };
    assert!(out.len() <= kubeboot::config::MAX_INPUT_BYTES, "unwrapped user-data over the cap");
    let _ = kubeboot::config::load("user-data", &out);
});
