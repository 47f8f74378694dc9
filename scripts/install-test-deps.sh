#!/usr/bin/env bash
# Installs every tool the test suite drives for real (Debian packages), so a fresh machine
# can run `scripts/test.sh`. Safe to re-run. Needs root (apt-get).
set -euo pipefail

PACKAGES=(
  openssl            # verify certificates, compute the CA pin independently
  etcd-server        # real etcd started from rendered manifests
  etcd-client        # etcdctl for health and member checks
  containerd runc    # a real CRI endpoint for preflight
  xorriso mtools dosfstools   # NoCloud seeds: ISO 9660 (cidata) and vfat
  util-linux         # setpriv, losetup, mount
  iproute2           # network namespaces for join tests
  systemd            # systemd-analyze verify for the units
  python3 python3-cryptography  # independent AES-GCM / JWS checks
  debootstrap qemu-system-x86 qemu-utils e2fsprogs  # VM image and boot tests
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian containerd package may start a system instance; tests run their own.
echo "test dependencies present"
