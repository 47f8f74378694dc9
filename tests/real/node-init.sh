#!/usr/bin/env bash
# Becomes one node of the real tier. Started by lib.sh as
#   ip netns exec kbr-NODE unshare -m -u --propagation private node-init.sh NODE WORKDIR BINDIR REPO
# so it already runs in the node's own network and mount namespaces. It gives the node private
# copies of everything kubeboot, the kubelet and containerd write (/etc, /var/lib, /var/log, /run,
# /usr/local/bin, /opt, /usr/libexec), cgroup v1 hierarchies with a per-node root, a systemctl
# stand-in for the kubelet unit, a containerd with the test images, then waits (sleep) so the
# harness can nsenter it. Nothing it mounts is visible outside the node.
set -euo pipefail
node=$1 work=$2 bindir=$3 repo=$4
dir=$work/$node
hostname "$node"

mount --make-rprivate /
mkdir -p "$dir/etc"
mount -t tmpfs -o mode=755 "kbr-$node-etc" "$dir/etc"
cp -a /etc/. "$dir/etc/"
mount --bind "$dir/etc" /etc
for d in /var/lib /var/log /run /usr/local/bin /usr/libexec /opt; do
  mount -t tmpfs -o mode=755 "kbr-$node" "$d"
done
ln -sfn /run /var/run 2>/dev/null || true

# `ip netns exec` gave us a fresh /sys without the cgroup hierarchies: mount the v1 controllers
# again (shared with the host, like on a real machine) under a root of this node's own, so three
# kubelets on one machine do not manage each other's kubepods.
mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
croot=kubeboot-real-$node
for c in cpu cpuacct cpuset memory devices freezer blkio pids systemd; do
  mkdir -p "/sys/fs/cgroup/$c"
  if [ "$c" = systemd ]; then opt=none,name=systemd; else opt=$c; fi
  mount -t cgroup -o "$opt" cgroup "/sys/fs/cgroup/$c"
  mkdir -p "/sys/fs/cgroup/$c/$croot"
done
cat /sys/fs/cgroup/cpuset/cpuset.cpus > "/sys/fs/cgroup/cpuset/$croot/cpuset.cpus"
cat /sys/fs/cgroup/cpuset/cpuset.mems > "/sys/fs/cgroup/cpuset/$croot/cpuset.mems"

# Kernel settings kubeadm's preflight wants, per network namespace.
sysctl -qw net.ipv4.ip_forward=1
sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || true

# The node's name resolves to its own address, as on a LAN with DNS (the worker has no
# default route, so the kubelet finds its address this way).
cp "$work/hosts" /etc/hosts
echo "$node" > /etc/hostname

# The kubelet package: binary, unit and kubeadm's drop-in (the project's own), and a
# systemctl that runs the unit's command line for the kubelet.
install -m 0755 "$bindir/kubelet" /usr/local/bin/kubelet
mkdir -p /etc/systemd/system/kubelet.service.d
install -m 0644 "$repo/image/kubelet.service" /etc/systemd/system/kubelet.service
install -m 0644 "$repo/systemd/10-kubeadm.conf" /etc/systemd/system/kubelet.service.d/10-kubeadm.conf
mount --bind "$dir/systemctl" /usr/bin/systemctl

# containerd as kubeadm's node images configure it, but with cgroupfs (no systemd in here) and
# restrict_oom_score_adj (no CAP_SYS_RESOURCE in this sandbox).
mkdir -p /etc/containerd
cat > /etc/containerd/config.toml <<TOML
version = 2
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$(cat "$work/pause-image")"
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
    runtime_type = "io.containerd.runc.v2"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
      SystemdCgroup = false
TOML
containerd >"$dir/containerd.log" 2>&1 &
for _ in $(seq 100); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
for img in "$work"/images/*.tar; do
  ctr -n k8s.io images import --no-unpack "$img" >/dev/null
done
touch "$dir/ready"
exec sleep infinity
