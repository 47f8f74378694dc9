//! A deterministic mutation fuzzer over the examples and the bad-input corpus (stable Rust has
//! no cargo-fuzz here). Oracles, from reliability.md §5.4: the loader never panics; whatever it
//! accepts resolves into a node without error; and no error message ever contains a secret that
//! was in the input.

use std::path::Path;

/// xorshift64*: a tiny reproducible PRNG, so a failure names its seed.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const TOKENS: &[&[u8]] = &[
    b":", b"- ", b"\n", b"  ", b"&a ", b"*a", b"~", b"yes", b"0755", b"{", b"}", b"[", b"]", b"\"", b"'", b"#",
    b"---\n", b"\t", b"\xff",
];

fn mutate(input: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut v = input.to_vec();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(v.len() + 1);
        match rng.below(5) {
            0 if !v.is_empty() => {
                let i = at.min(v.len() - 1);
                v[i] ^= 1 << rng.below(8);
            }
            1 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                v.splice(at..at, t.iter().copied());
            }
            2 if !v.is_empty() => {
                let end = (at + rng.below(40)).min(v.len());
                v.drain(at.min(end)..end);
            }
            3 => {
                // duplicate a line somewhere else (duplicate keys, odd indentation)
                let lines: Vec<&[u8]> = input.split(|&b| b == b'\n').collect();
                let line = lines[rng.below(lines.len())].to_vec();
                v.splice(at..at, line.into_iter().chain([b'\n']));
            }
            _ => {}
        }
    }
    v
}

/// The values that sit under secret-bearing keys of the input (tokens, keys, header values).
fn secret_values(input: &[u8]) -> Vec<String> {
    use kubeboot::config::yaml::{Kind, Node};
    fn walk(n: &Node, path: &str, out: &mut Vec<String>) {
        match &n.kind {
            Kind::Scalar { value, .. } if kubeboot::config::strict::is_secret_path(path) && value.len() >= 6 => {
                out.push(value.clone())
            }
            Kind::Scalar { .. } => {}
            Kind::Seq(items) => items.iter().enumerate().for_each(|(i, c)| walk(c, &format!("{path}.{i}"), out)),
            Kind::Map(entries) => entries.iter().for_each(|(k, v)| walk(v, &format!("{path}.{}", k.name), out)),
        }
    }
    let mut out = vec![];
    if let Some(docs) = std::str::from_utf8(input).ok().and_then(|t| kubeboot::config::yaml::parse(t).ok()) {
        docs.iter().for_each(|d| walk(d, "", &mut out));
    }
    out
}

#[test]
fn mutated_inputs_never_panic_never_leak_and_accepted_ones_resolve() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut seeds: Vec<Vec<u8>> = vec![];
    for dir in ["examples", "tests/bad-input"] {
        for e in std::fs::read_dir(root.join(dir)).unwrap() {
            seeds.push(std::fs::read(e.unwrap().path()).unwrap());
        }
    }
    let id = kubeboot::config::HostIdentity {
        hostname: "fuzz-node".into(),
        default_address: Some("10.0.0.9".parse().unwrap()),
        cri_socket: None,
    };
    let (mut accepted, mut rejected) = (0, 0);
    for seed in 0..6_000u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let base = &seeds[rng.below(seeds.len())];
        let input = mutate(base, &mut rng);
        let result = std::panic::catch_unwind(|| kubeboot::config::load("fuzz.yaml", &input));
        let result =
            result.unwrap_or_else(|_| panic!("loader panicked on seed {seed}: {:?}", String::from_utf8_lossy(&input)));
        match result {
            Ok(cfg) => {
                accepted += 1;
                if let Err(e) = kubeboot::config::Resolved::new(cfg, &id) {
                    panic!("seed {seed}: accepted config does not resolve: {e:#}\n{}", String::from_utf8_lossy(&input));
                }
            }
            Err(d) => {
                rejected += 1;
                let text = d.to_string();
                for secret in secret_values(&input) {
                    assert!(!text.contains(&secret), "seed {seed}: secret value echoed in {text}");
                }
            }
        }
    }
    // The oracle must have exercised both paths to mean anything.
    assert!(accepted > 100 && rejected > 1000, "accepted {accepted}, rejected {rejected}");
}
