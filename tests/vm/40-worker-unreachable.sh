#!/usr/bin/env bash
# A worker whose join endpoint never answers: discovery gives up within its configured 20 s
# timeout with a report naming the endpoint, and nothing of kubeadm's is written.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/worker-unreachable.yaml" iid-worker
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso" --address 192.168.56.21/24
needs_kubeboot "$SCENARIO" "join discovery in kubeboot run"
check "outcome is a failure at discovery" [ "$(result_state "$SCENARIO"):$(result_phase "$SCENARIO")" = failed:discovery ]
check "error names the endpoint" grep -q '192.168.56.10:6443' <<<"$(result_message "$SCENARIO")"
wall=$(timing "$SCENARIO" | json kubeboot_wall_s)
check "gave up within the 20 s discovery timeout (+10 s slack; took ${wall}s)" \
  python3 -c "import sys; sys.exit(not float('$wall') <= 30)"
check "bootstrap token never on the console" secret_free "$SCENARIO" "$CANARY_SECRET"
readback "$SCENARIO" "${NODE_PATHS[@]}"
check "zero kubeadm files written" no_node_files "$SCENARIO"
finish
