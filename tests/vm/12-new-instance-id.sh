#!/usr/bin/env bash
# The same disk with a new NoCloud seed (new instance-id): a new instance, so kubeboot runs again
# with its own state. Like kubeadm init on a used machine, preflight refuses (FileAvailable) and
# leaves the first instance's files alone: the CA it made is never regenerated.
source "$(dirname "$0")/lib.sh"

prev=$VM_WORK/11-second-boot-resumes-failed
[ -f "$prev/after-second-boot.qcow2" ] || skip "needs the disk left by 11-second-boot-resumes-failed"
mkdir -p "$VM_WORK/$SCENARIO"
cp "$prev/after-second-boot.qcow2" "$VM_WORK/$SCENARIO/disk.qcow2"
readback "$SCENARIO" /etc/kubernetes
before=$(tree_digest "$VM_WORK/$SCENARIO/disk")
cp "$VM_WORK/$SCENARIO/disk/etc/kubernetes/pki/ca.key" "$VM_WORK/$SCENARIO/ca.key.before" 2>/dev/null \
  || skip "the first instance left no CA key to protect (see 10-control-plane-first-boot)"

seed "$SCENARIO" "$FIXTURES/control-plane.yaml" iid-cp-1-reimaged
boot "$SCENARIO" --reuse --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "instance tracking (kubeboot run)" kubelet-start
readback "$SCENARIO" "${NODE_PATHS[@]}"
d=$VM_WORK/$SCENARIO/disk
after=$(tree_digest "$d" | grep '^./etc/kubernetes/')
refused_by_file_checks() {
  [ "$(result_phase "$SCENARIO")" = preflight ] && grep -q FileAvailable--etc-kubernetes-manifests <<<"$(result_message "$SCENARIO")"
}

check "kubeboot ran for the new instance" [ "$(result "$SCENARIO" | json instanceId)" = iid-cp-1-reimaged ]
check "preflight refuses the used machine (FileAvailable--etc-kubernetes-manifests-*)" refused_by_file_checks
check "new instance has its own state dir" [ -d "$d/var/lib/kubeboot/instances/iid-cp-1-reimaged" ]
check "new instance's state records a run" [ -n "$(ls -A "$d/var/lib/kubeboot/instances/iid-cp-1-reimaged" 2>/dev/null)" ]
check "first instance's state kept" [ -d "$d/var/lib/kubeboot/instances/iid-cp-1" ]
check "CA key not regenerated" cmp -s "$VM_WORK/$SCENARIO/ca.key.before" "$d/etc/kubernetes/pki/ca.key"
check "no file under /etc/kubernetes changed" [ "$before" = "$after" ]
finish
