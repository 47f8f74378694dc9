#!/usr/bin/env bash
# A swap file is active before kubeboot runs. With the kubelet's default failSwapOn: true the
# kubelet would refuse to start, so preflight reports Swap as an error and nothing is written;
# with failSwapOn: false and LimitedSwap the same swap is acceptable and the run goes on.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/control-plane.yaml" iid-swap
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso" --append systemd.wants=kubeboot-test-swap.service
needs_kubeboot "$SCENARIO" "preflight in kubeboot run"
check "swap was active in the guest" console_has "$SCENARIO" 'Finished.*kubeboot test: enable a swap file'
check "outcome is a failure at preflight" [ "$(result_state "$SCENARIO"):$(result_phase "$SCENARIO")" = failed:preflight ]
check "the Swap check is named" grep -q Swap <<<"$(result "$SCENARIO")"
readback "$SCENARIO" "${NODE_PATHS[@]}"
check "zero kubeadm files written" no_node_files "$SCENARIO"

allowed=$VM_WORK/$SCENARIO-allowed
mkdir -p "$allowed"
{ cat "$FIXTURES/control-plane.yaml"; printf 'kubeletConfiguration:\n  failSwapOn: false\n  memorySwap:\n    swapBehavior: LimitedSwap\n'; } >"$allowed/user-data.yaml"
seed "$SCENARIO-allowed" "$allowed/user-data.yaml" iid-swap-allowed
boot "$SCENARIO-allowed" --seed "$allowed/seed.iso" --append systemd.wants=kubeboot-test-swap.service
check "with failSwapOn: false the run passes preflight (reaches kubelet-start)" \
  [ "$(result_phase "$SCENARIO-allowed")" = kubelet-start ]
finish
