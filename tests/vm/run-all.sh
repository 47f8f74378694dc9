#!/usr/bin/env bash
# Runs the VM end-to-end scenarios (tests/vm/[0-9]*.sh) against a freshly built node image and
# prints `N passed, N failed, N skipped`. Skips everything, with the reason, when this machine
# cannot build or boot the image (not root, qemu/debootstrap missing, Debian archive unreachable
# and no cached rootfs).
#
#   tests/vm/run-all.sh [PREFIX...]     # e.g. `tests/vm/run-all.sh 00 10` runs only those
#
# Environment: KUBEBOOT_BIN (default: the release binary, rebuilt when out of date), KUBE_BIN_DIR (baked
# into the image, see image/build), VM_WORK (default target/vm).
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
export VM_WORK=${VM_WORK:-$repo/target/vm}
export IMAGE_OUT=$VM_WORK/image

passed=0 failed=0 skipped=0
summary() { echo "$passed passed, $failed failed, $skipped skipped"; }
skip_all() {
  echo "SKIP: VM tests: $*"
  skipped=$(ls tests/vm/[0-9]*.sh | wc -l)
  summary
  exit 0
}

[ "$(id -u)" = 0 ] || skip_all "need root (debootstrap, image file ownership)"
for tool in qemu-system-x86_64 qemu-img debootstrap mkfs.ext4 debugfs xorriso python3; do
  command -v "$tool" >/dev/null || skip_all "$tool not installed (scripts/install-test-deps.sh installs it)"
done
if ! ls /var/tmp/kubeboot-image-cache/rootfs-*/.complete >/dev/null 2>&1; then
  python3 - <<'EOF' || skip_all "Debian archive unreachable and no cached rootfs to build the image from"
import os, re, glob, urllib.request
# One-line (`deb URI ...`) and deb822 (`URIs: URI`) sources; either file may be absent.
files = [f for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*")) if os.path.isfile(f)]
uris = [u for f in files for u in re.findall(r"https?://\S+/debian/?(?=\s|$)", open(f, errors="ignore").read())]
urllib.request.urlopen((uris or ["http://deb.debian.org/debian"])[0].rstrip("/") + "/dists/bookworm/Release", timeout=15)
EOF
fi

rm -rf "$VM_WORK"
mkdir -p "$VM_WORK"
if [ -z "${KUBEBOOT_BIN:-}" ]; then
  export KUBEBOOT_BIN=$repo/target/x86_64-unknown-linux-gnu/release/kubeboot
  # Always ask cargo: a no-op when the binary is current, and never a stale binary in the VM.
  cargo build --release --quiet --bin kubeboot || { echo "FAIL: cargo build --release"; exit 1; }
fi
echo "== VM image (image/build)"
start=$SECONDS
if ! image/build; then
  echo "FAIL image/build"
  failed=1
  summary
  exit 1
fi
echo "image built in $((SECONDS - start)) s"

for script in tests/vm/[0-9]*.sh; do
  name=$(basename "$script" .sh)
  if [ $# -gt 0 ]; then
    wanted=0
    for prefix in "$@"; do [[ $name == "$prefix"* ]] && wanted=1; done
    [ "$wanted" = 1 ] || continue
  fi
  start=$SECONDS
  bash "$script"
  rc=$?
  # Under TCG a host overloaded by other work can starve the guest until its kernel reports soft
  # lockups or RCU stalls and the boot times out: that is the host, not kubeboot, so such a
  # scenario is booted again once, saying so. Any other failure stands as it is.
  if [ "$rc" != 0 ] && [ "$rc" != 77 ] &&
    grep -qaE 'soft lockup - CPU#|rcu_preempt detected stalls|rcu_sched detected stalls' "$VM_WORK/$name"/console*.log 2>/dev/null; then
    echo "RETRY $name: the guest kernel reported a soft lockup or RCU stall (guest starved by host load under TCG); booting the scenario again once"
    rm -rf "${VM_WORK:?}/$name"
    bash "$script"
    rc=$?
  fi
  took=$((SECONDS - start))
  case $rc in
    0)
      pending=""
      [ -f "$VM_WORK/$name/pending" ] && pending=", $(wc -l <"$VM_WORK/$name/pending") check(s) pending"
      echo "PASS $name (${took}s$pending)"
      passed=$((passed + 1))
      ;;
    77) echo "SKIP $name (${took}s)"; skipped=$((skipped + 1)) ;;
    *)
      echo "FAIL $name (${took}s); kubeboot's journal in the VM:"
      tr -d '\r' <"$VM_WORK/$name/console.log" 2>/dev/null \
        | sed -n '/KUBEBOOT-TEST-JOURNAL-BEGIN/,/KUBEBOOT-TEST-JOURNAL-END/p' | tail -n 25 | cut -c1-300 | sed 's/^/    | /'
      failed=$((failed + 1))
      ;;
  esac
done

tests/vm/figures.py "$VM_WORK/boots.jsonl" || true
summary
[ "$failed" = 0 ]
