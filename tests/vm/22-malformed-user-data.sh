#!/usr/bin/env bash
# Malformed user-data on the seed: a clear error on the console (file position, key path, the
# fix), nothing written, failure reported.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/malformed.yaml" iid-malformed
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "kubeboot run"
check "console names the bad key and suggests the fix" \
  console_has "$SCENARIO" 'kubernetesVesion.*did you mean'
check "error carries the line and column (9:3)" console_has "$SCENARIO" ':9:3: cluster\.kubernetesVesion'
check "outcome is a failure" [ "$(result_state "$SCENARIO")" = failed ]
check "bootstrap token never on the console" secret_free "$SCENARIO" "$CANARY_SECRET"
readback "$SCENARIO" "${NODE_PATHS[@]}"
check "zero kubeadm files written" no_node_files "$SCENARIO"
finish
