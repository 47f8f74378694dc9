#!/usr/bin/env bash
# Port 6443 is held by a socket unit that starts before kubeboot: preflight fails fast with
# Port-6443, nothing is written, and the failure is reported.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/control-plane.yaml" iid-port
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso" --append systemd.wants=kubeboot-test-port6443.socket
needs_kubeboot "$SCENARIO" "preflight in kubeboot run"
check "6443 was held in the guest" console_has "$SCENARIO" 'Listening on.*occupy TCP port 6443'
check "outcome is a failure at preflight" [ "$(result_state "$SCENARIO"):$(result_phase "$SCENARIO")" = failed:preflight ]
check "the Port-6443 check is named" grep -q Port-6443 <<<"$(result "$SCENARIO")"
wall=$(timing "$SCENARIO" | json kubeboot_wall_s)
check "failed fast (${wall}s < 10s)" python3 -c "import sys; sys.exit(not float('$wall') < 10)"
readback "$SCENARIO" "${NODE_PATHS[@]}"
check "zero kubeadm files written" no_node_files "$SCENARIO"
finish
