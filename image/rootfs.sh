# Customises a freshly debootstrapped rootfs; run by image/build as `rootfs.sh DIR`.
# Everything here is part of the cached layer: changing this file changes the cache key.
set -euo pipefail
root=$1

# The root filesystem is the whole virtio disk; see image/boot for the kernel command line.
cat >"$root/etc/fstab" <<'FSTAB'
/dev/vda  /  ext4  defaults,errors=remount-ro  0  1
FSTAB
echo kubeboot-node >"$root/etc/hostname"

# A template image: machine-id is created on first boot, never shared between clones.
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id"

# Direct kernel boot on qemu's virtio disk: an initrd with just the virtio block driver
# (ext4 is built into Debian's cloud kernel) decompresses far faster under TCG than MODULES=most.
sed -i 's/^MODULES=.*/MODULES=list/' "$root/etc/initramfs-tools/initramfs.conf"
printf 'virtio_pci\nvirtio_blk\n' >>"$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all >/dev/null 2>&1

# CNI plugins where the kubelet and every CNI's manifests look for them (Debian ships them in
# /usr/lib/cni).
mkdir -p "$root/opt/cni/bin"
for plugin in "$root"/usr/lib/cni/*; do
  ln -sfn "/usr/lib/cni/$(basename "$plugin")" "$root/opt/cni/bin/$(basename "$plugin")"
done

# Comparison variant with cloud-init (EXTRA_PACKAGES=cloud-init): look only for NoCloud, as
# kubeboot does on this VM, instead of probing every cloud's metadata service.
if [ -d "$root/etc/cloud/cloud.cfg.d" ]; then
  echo 'datasource_list: [ NoCloud, None ]' >"$root/etc/cloud/cloud.cfg.d/90-kubeboot-image.cfg"
fi

# Shrink the image: package caches and lists are not needed at run time.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*.log
