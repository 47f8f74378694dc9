#!/usr/bin/env bash
# First boot of a control plane from a NoCloud seed, with no kubelet in the image: preflight
# against the VM's real kernel passes, the whole kubeadm file set is laid down with kubeadm's
# modes, kubelet start is attempted and fails cleanly, naming the missing kubelet.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/control-plane.yaml" iid-cp-1
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "first boot (kubeboot run)" kubelet-start

check "console carries the KUBEBOOT-RESULT line" [ -n "$(result "$SCENARIO")" ]
check "outcome is a failure" [ "$(result_state "$SCENARIO")" = failed ]
check "failed phase is kubelet-start" [ "$(result_phase "$SCENARIO")" = kubelet-start ]
missing=$(unimplemented "$SCENARIO")
if [ -n "$missing" ]; then
  pending "error names the missing kubelet binary" "kubelet-start in this build: $missing"
else
  check "error names the missing kubelet binary" grep -q 'kubelet.*not found\|/usr/bin/kubelet' <<<"$(result_message "$SCENARIO")"
fi
check "bootstrap token never on the console" secret_free "$SCENARIO" "$CANARY_SECRET"
check "preflight talked to the VM's containerd over CRI" console_has "$SCENARIO" 'CRI: containerd .* is ready'
check "preflight saw the missing kubelet (KubeletVersion, demoted by the config)" \
  console_has "$SCENARIO" 'WARNING KubeletVersion'
check "CgroupDriver: the image's containerd and the kubelet agree on systemd" \
  console_has "$SCENARIO" 'CgroupDriver: the kubelet and the runtime .* both use the systemd cgroup driver'
check "ImagePull asked the VM's containerd for the images (policy Never, none present; demoted)" \
  console_has "$SCENARIO" 'WARNING ImagePull.*imagePullPolicy is Never but the runtime lacks .*kube-apiserver:v1.33.5'

readback "$SCENARIO" "${NODE_PATHS[@]}" "$REPORT_DIR"
r=$(report "$SCENARIO")
check "completion report POSTed: failed at kubelet-start" \
  [ "$(json state <<<"$r" 2>/dev/null):$(json error.phase <<<"$r" 2>/dev/null)" = failed:kubelet-start ]
check "bootstrap token not in the report" lacks "$r" "$CANARY_SECRET"
d=$VM_WORK/$SCENARIO/disk
for f in ca apiserver apiserver-kubelet-client front-proxy-ca front-proxy-client etcd/ca etcd/server \
  etcd/peer etcd/healthcheck-client apiserver-etcd-client; do
  check "pki/$f.crt 0644" [ "$(mode "$d/etc/kubernetes/pki/$f.crt" 2>/dev/null)" = 644 ]
  check "pki/$f.key 0600" [ "$(mode "$d/etc/kubernetes/pki/$f.key" 2>/dev/null)" = 600 ]
done
# Directories as kubeadm creates them (under kubeboot.service's UMask=0077 too).
check "/etc/kubernetes 0755" [ "$(mode "$d/etc/kubernetes" 2>/dev/null)" = 755 ]
check "pki/ and pki/etcd/ 0755" [ "$(mode "$d/etc/kubernetes/pki" 2>/dev/null):$(mode "$d/etc/kubernetes/pki/etcd" 2>/dev/null)" = 755:755 ]
check "manifests/ 0700" [ "$(mode "$d/etc/kubernetes/manifests" 2>/dev/null)" = 700 ]
check "pki/sa.key 0600" [ "$(mode "$d/etc/kubernetes/pki/sa.key" 2>/dev/null)" = 600 ]
check "pki/sa.pub 0600" [ "$(mode "$d/etc/kubernetes/pki/sa.pub" 2>/dev/null)" = 600 ]
for f in admin super-admin kubelet controller-manager scheduler; do
  check "$f.conf 0600" [ "$(mode "$d/etc/kubernetes/$f.conf" 2>/dev/null)" = 600 ]
done
for f in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  check "manifests/$f.yaml 0600" [ "$(mode "$d/etc/kubernetes/manifests/$f.yaml" 2>/dev/null)" = 600 ]
done
check "/var/lib/etcd 0700" [ "$(mode "$d/var/lib/etcd" 2>/dev/null)" = 700 ]
check "kubelet config.yaml 0644" [ "$(mode "$d/var/lib/kubelet/config.yaml" 2>/dev/null)" = 644 ]
check "kubeadm-flags.env 0644" [ "$(mode "$d/var/lib/kubelet/kubeadm-flags.env" 2>/dev/null)" = 644 ]
check "no temp files left in the manifests dir" [ -z "$(find "$d/etc/kubernetes/manifests" -name '.*' 2>/dev/null)" ]

inst=$d/var/lib/kubeboot/instances/iid-cp-1
check "instance state dir for iid-cp-1, 0700" [ "$(mode "$inst" 2>/dev/null)" = 700 ]
check "user-data copy 0600" [ "$(mode "$inst/user-data" 2>/dev/null)" = 600 ]
check "journal 0600" [ "$(mode "$inst/journal.json" 2>/dev/null)" = 600 ]
status=$d/var/lib/kubeboot/status.json
check "persisted status: failed at kubelet-start" \
  [ "$(json state <"$status" 2>/dev/null):$(json error.phase <"$status" 2>/dev/null)" = failed:kubelet-start ]
sentinels=$(run_files "$SCENARIO")
check "failure sentinel /run/kubeboot/failed" grep -qx /run/kubeboot/failed <<<"$sentinels"
check "no success sentinels" lacks "$sentinels" complete
check "bootstrap token only in the 0600 user-data copy" \
  bash -c "! grep -rlF '$CANARY_SECRET' '$d' | grep -v '/instances/iid-cp-1/user-data\$'"

# The next scenarios boot this disk again.
cp "$VM_WORK/$SCENARIO/disk.qcow2" "$VM_WORK/$SCENARIO/after-first-boot.qcow2"
finish
