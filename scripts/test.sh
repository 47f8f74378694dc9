#!/usr/bin/env bash
# Runs every test kubeboot has on a fresh machine: installs the real tools the tests drive,
# checks formatting and lints, builds the static release binary, runs the Rust test suite
# (unit + integration against openssl, etcd, containerd, kubectl, ...) and the VM boots.
set -euo pipefail
cd "$(dirname "$0")/.."
# No incremental caches: a from-scratch run gains nothing from them and they cost disk.
export CARGO_INCREMENTAL=0

if [ "$(id -u)" -eq 0 ]; then scripts/install-test-deps.sh; else sudo scripts/install-test-deps.sh; fi

echo "== format and lints"
cargo fmt --check
cargo clippy --all-targets -- -D warnings

echo "== static release binary"
cargo build --release
bin=target/x86_64-unknown-linux-gnu/release/kubeboot
file "$bin" | grep -Eq 'static-pie linked|statically linked' || { echo "release binary is not static"; file "$bin"; exit 1; }
ls -l "$bin"

echo "== tests"
cargo test --all-targets --no-fail-fast 2>&1 | tee target/cargo-test.log
grep -q "test result: FAILED" target/cargo-test.log && exit 1

echo "== real-Kubernetes tier (skips, saying why, without Kubernetes binaries)"
scripts/test-real.sh

echo "== fuzzing: every cargo-fuzz target for ${FUZZ_SECONDS:-60} s from its seed corpus"
# 7 targets x 60 s, two at a time = 4 min of fuzzing, plus installing cargo-fuzz and its
# instrumented build of kubeboot's dependency tree (a second full build, without ASan here to
# keep CI inside its budget; `scripts/fuzz.sh` alone uses ASan). The build gets a time budget; any crash fails the run.
FUZZ_JOBS=2 FUZZ_SANITIZER=none FUZZ_BUILD_BUDGET=${FUZZ_BUILD_BUDGET:-1200} scripts/fuzz.sh "${FUZZ_SECONDS:-60}"

if [ -x tests/vm/run-all.sh ]; then
  echo "== VM first-boot tests"
  tests/vm/run-all.sh
fi
