#!/usr/bin/env bash
# Second boot of the control plane that failed at kubelet-start, same seed: the instance is not
# new, so kubeboot resumes at the phase that failed (its policy for a failed run, see
# src/workflow/journal.rs) and redoes nothing before it — every file of the certs, kubeconfig,
# etcd and control-plane phases stays byte-identical — and fails the same clear way.
source "$(dirname "$0")/lib.sh"

first=$VM_WORK/10-control-plane-first-boot
[ -f "$first/after-first-boot.qcow2" ] || skip "needs the disk left by 10-control-plane-first-boot"
mkdir -p "$VM_WORK/$SCENARIO"
cp "$first/after-first-boot.qcow2" "$VM_WORK/$SCENARIO/disk.qcow2"
readback "$SCENARIO" /etc/kubernetes /var/lib/etcd
before=$(tree_digest "$VM_WORK/$SCENARIO/disk")

boot "$SCENARIO" --reuse --seed "$first/seed.iso"
needs_kubeboot "$SCENARIO" "run-once (kubeboot run)" kubelet-start
readback "$SCENARIO" /etc/kubernetes /var/lib/etcd
after=$(tree_digest "$VM_WORK/$SCENARIO/disk")
readback "$SCENARIO" /var/lib/kubeboot

check "fails the same way: failed at kubelet-start" [ "$(result_state "$SCENARIO"):$(result_phase "$SCENARIO")" = failed:kubelet-start ]
check "persisted status says the run was resumed" \
  [ "$(json resumed <"$VM_WORK/$SCENARIO/disk/var/lib/kubeboot/status.json")" = true ]
check "no file of the finished phases changed (/etc/kubernetes, /var/lib/etcd)" [ "$before" = "$after" ]
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | head -10 | sed 's/^/    /'
cp "$VM_WORK/$SCENARIO/disk.qcow2" "$VM_WORK/$SCENARIO/after-second-boot.qcow2"
finish
