//! Token discovery's trust decision on a cluster-info ConfigMap (the first read is unverified:
//! anyone on the path can answer it): JSON, the detached JWS check, the kubeconfig inside and
//! the CA pin check. Inputs whose first byte is odd are taken as the kubeconfig itself and
//! signed with the token, so the fuzzer gets past the HMAC into the kubeconfig and PEM code.
#![no_main]

use kubeboot::join::Token;
use kubeboot::join::discovery::{check_pins, cluster_of, verified_kubeconfig};
use kubeboot::join::jws::{detached_signature, is_valid};
use libfuzzer_sys::fuzz_target;

const PIN: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

fuzz_target!(|data: &[u8]| {
    let token = Token::parse("abcdef.0123456789abcdef").unwrap();
    let Some((&mode, rest)) = data.split_first() else { return };
    let cm: serde_json::Value = if mode & 1 == 1 {
        let Ok(kubeconfig) = std::str::from_utf8(rest) else { return };
        let jws = detached_signature(kubeconfig, &token);
        assert!(is_valid(&jws, kubeconfig, &token));
        serde_json::json!({"data": {"kubeconfig": kubeconfig, "jws-kubeconfig-abcdef": jws}})
    } else {
        match serde_json::from_slice(rest) {
            Ok(v) => v,
            Err(_) => return,
        }
    };
    let Some(jws) = cm["data"]["jws-kubeconfig-abcdef"].as_str() else { return };
    let Ok(kubeconfig) = verified_kubeconfig(&cm, jws, &token) else { return };
    let Ok((_server, ca_pem)) = cluster_of(&kubeconfig, "cluster-info") else { return };
    let _ = check_pins(ca_pem.as_bytes(), &[PIN.to_string()]);
});
