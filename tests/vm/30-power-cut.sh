#!/usr/bin/env bash
# Power cut mid-run: kubeboot's failpoint kills it right after the kubeconfig phase and qemu is
# killed at once (no sync, no clean shutdown). The next boot resumes and converges on the same
# outcome as an uninterrupted first boot, reusing the keys made before the cut.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/control-plane.yaml" iid-cut
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso" --append kubeboot.failpoint=kubeconfig:after \
  --kill-on KUBEBOOT-TEST-POWERCUT
rc=$?
needs_kubeboot "$SCENARIO" "failpoints in kubeboot run" kubelet-start
check "qemu was killed at the failpoint" [ "$rc" = 3 ]
readback "$SCENARIO" "${NODE_PATHS[@]}"
d=$VM_WORK/$SCENARIO/disk
check "no dot-prefixed temp file is visible to the kubelet" [ -z "$(find "$d/etc/kubernetes" -name '.*' 2>/dev/null)" ]
[ -f "$d/etc/kubernetes/pki/ca.key" ] && cp "$d/etc/kubernetes/pki/ca.key" "$VM_WORK/$SCENARIO/ca.key.cut"

cp "$VM_WORK/$SCENARIO/console.log" "$VM_WORK/$SCENARIO/console-cut.log"
boot "$SCENARIO" --reuse --seed "$VM_WORK/$SCENARIO/seed.iso"
check "resumed run reports the same outcome as an uninterrupted one (failure at kubelet-start)" \
  [ "$(result_state "$SCENARIO"):$(result_phase "$SCENARIO")" = failed:kubelet-start ]
readback "$SCENARIO" "${NODE_PATHS[@]}"
if [ -f "$VM_WORK/$SCENARIO/ca.key.cut" ]; then
  check "CA key made before the cut is reused" cmp -s "$VM_WORK/$SCENARIO/ca.key.cut" "$d/etc/kubernetes/pki/ca.key"
fi
full=$VM_WORK/10-control-plane-first-boot/disk
if [ -d "$full/etc/kubernetes" ]; then
  # Same paths and modes as the uninterrupted first boot (contents differ: fresh keys).
  shape() { (cd "$1" && find etc/kubernetes var/lib/kubelet var/lib/etcd -printf '%p %m\n' 2>/dev/null | sort); }
  check "file set and modes equal the uninterrupted first boot's" [ "$(shape "$d")" = "$(shape "$full")" ]
fi
finish
