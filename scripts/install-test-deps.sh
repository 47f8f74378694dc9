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
export DEBIAN_FRONTEND=noninteractive
if [ "${#missing[@]}" -gt 0 ]; then
  echo "installing: ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Installing one package can remove another: a newer qemu-utils from backports is removed by
# bookworm's qemu-system-x86 (its qemu-system-common Breaks it). Check the commands the tests
# run and reinstall the package of any that went missing, now at the matching version.
declare -A COMMANDS=([qemu-img]=qemu-utils [qemu-system-x86_64]=qemu-system-x86 [debootstrap]=debootstrap
  [etcd]=etcd-server [etcdctl]=etcd-client [containerd]=containerd [ctr]=containerd [runc]=runc
  [xorriso]=xorriso [mkfs.vfat]=dosfstools [mcopy]=mtools [mkfs.ext4]=e2fsprogs [openssl]=openssl)
again=()
for cmd in "${!COMMANDS[@]}"; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$cmd" >/dev/null || again+=("${COMMANDS[$cmd]}")
done
if [ "${#again[@]}" -gt 0 ]; then
  echo "reinstalling (their commands are missing): ${again[*]}"
  [ "${#missing[@]}" -gt 0 ] || apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${again[@]}" >/dev/null
fi
# The Debian containerd package may start a system instance; tests run their own.
echo "test dependencies present"
