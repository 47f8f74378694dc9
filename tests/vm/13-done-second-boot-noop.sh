#!/usr/bin/env bash
# A run that finishes "done" (the files-only config skips every phase that needs a kubelet):
# success sentinels, including Cluster API's, are in /run; the second boot of the same disk
# finds the finished instance and does nothing at all: not one file changes, not even kubeboot's
# own state.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/control-plane-files-only.yaml" iid-done
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "kubeboot run"
check "first boot is done" [ "$(result_state "$SCENARIO")" = done ]
sentinels=$(run_files "$SCENARIO")
check "success sentinel /run/kubeboot/complete" grep -qx /run/kubeboot/complete <<<"$sentinels"
check "Cluster API sentinel" grep -qx /run/cluster-api/bootstrap-success.complete <<<"$sentinels"
check "no failure sentinel" lacks "$sentinels" /run/kubeboot/failed
readback "$SCENARIO" "${NODE_PATHS[@]}"
check "persisted status says done" [ "$(json state <"$VM_WORK/$SCENARIO/disk/var/lib/kubeboot/status.json")" = done ]
check "manifests laid down" [ -f "$VM_WORK/$SCENARIO/disk/etc/kubernetes/manifests/kube-apiserver.yaml" ]
# The host lock is a flock on / itself (issue 16): no lock file, so nothing on the disk changes at all.
before=$(tree_digest "$VM_WORK/$SCENARIO/disk")

cp "$VM_WORK/$SCENARIO/console.log" "$VM_WORK/$SCENARIO/console-first.log"
boot "$SCENARIO" --reuse --seed "$VM_WORK/$SCENARIO/seed.iso"
check "second boot reports done" [ "$(result_state "$SCENARIO")" = done ]
check "success sentinels restored in /run" grep -qx /run/cluster-api/bootstrap-success.complete <<<"$(run_files "$SCENARIO")"
readback "$SCENARIO" "${NODE_PATHS[@]}"
after=$(tree_digest "$VM_WORK/$SCENARIO/disk")
check "no file changed under ${NODE_PATHS[*]}" [ "$before" = "$after" ]
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | head -10 | sed 's/^/    /'
wall=$(timing "$SCENARIO" | json kubeboot_wall_s)
check "kubeboot returned at once (${wall}s < 3s)" python3 -c "import sys; sys.exit(not float('$wall') < 3)"
finish
