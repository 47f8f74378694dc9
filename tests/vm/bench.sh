#!/usr/bin/env bash
# Timing figures for the README: BENCH_BOOTS (default 5) first boots of the control-plane image,
# then the same number of boots of the cloud-init variant of the same image doing an equivalent
# NoCloud write_files job (kubeboot masked), each summarised as medians by figures.py.
#
#   tests/vm/bench.sh                 # BENCH_CLOUD_INIT=0 skips the cloud-init half
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
export VM_WORK=${VM_WORK:-$repo/target/bench}
source tests/vm/lib.sh
boots=${BENCH_BOOTS:-5}
rm -rf "$VM_WORK"
mkdir -p "$VM_WORK"
export KUBEBOOT_BIN=${KUBEBOOT_BIN:-$repo/target/x86_64-unknown-linux-gnu/release/kubeboot}

echo "== kubeboot image: $boots first boots of $FIXTURES/control-plane.yaml"
export IMAGE_OUT=$VM_WORK/image
image/build || exit 1
for i in $(seq "$boots"); do
  seed kubeboot-$i "$FIXTURES/control-plane.yaml" iid-bench-$i
  boot kubeboot-$i --seed "$VM_WORK/kubeboot-$i/seed.iso" >/dev/null
  echo "boot $i: $(result kubeboot-$i)"
done
mv "$VM_WORK/boots.jsonl" "$VM_WORK/kubeboot.jsonl"
tests/vm/figures.py "$VM_WORK/kubeboot.jsonl"

[ "${BENCH_CLOUD_INIT:-1}" = 1 ] || exit 0
echo "== cloud-init variant: $boots boots of an equivalent #cloud-config write_files job"
export IMAGE_OUT=$VM_WORK/image-cloud-init
# debootstrap does not resolve virtual packages: name the cffi backend cryptography needs.
EXTRA_PACKAGES=cloud-init,python3-cffi-backend image/build || exit 1
# The same files, modes and bytes kubeboot's first boot laid down (read back from boot 1).
readback kubeboot-1 /etc/kubernetes /var/lib/kubelet
python3 - "$VM_WORK/kubeboot-1/disk" >"$VM_WORK/cloud-config.yaml" <<'PY'
import base64, os, sys
root = sys.argv[1]
print("#cloud-config\nwrite_files:")
for dirpath, _, files in sorted(os.walk(root)):
    for name in sorted(files):
        path = os.path.join(dirpath, name)
        data = base64.b64encode(open(path, "rb").read()).decode()
        print(f"  - path: {path[len(root):]}\n    permissions: '0{os.stat(path).st_mode & 0o777:o}'\n"
              f"    encoding: b64\n    content: {data}")
PY
echo "write_files entries: $(grep -c '^  - path:' "$VM_WORK/cloud-config.yaml")"
for i in $(seq "$boots"); do
  seed cloud-init-$i "$VM_WORK/cloud-config.yaml" iid-ci-$i
  boot cloud-init-$i --seed "$VM_WORK/cloud-init-$i/seed.iso" --append systemd.mask=kubeboot.service >/dev/null
done
tests/vm/figures.py "$VM_WORK/boots.jsonl"
