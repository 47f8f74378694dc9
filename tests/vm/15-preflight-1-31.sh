#!/usr/bin/env bash
# Scenario 10 at Kubernetes 1.31: kubeadm's 1.31 preflight also wants conntrack and iptables
# (errors) and ethtool (warning) in PATH, which image/packages ships. Preflight against the VM's
# real kernel and tools passes with nothing demoted but what the config states (no kubelet, no
# images in an image without KUBE_BIN_DIR), and the run goes on to kubelet-start.
source "$(dirname "$0")/lib.sh"

seed "$SCENARIO" "$FIXTURES/control-plane-1-31.yaml" iid-cp-131
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "first boot at 1.31 (kubeboot run)" kubelet-start

check "outcome is a failure past preflight" [ "$(result_state "$SCENARIO")" = failed ]
check "failed phase is kubelet-start (preflight passed)" [ "$(result_phase "$SCENARIO")" = kubelet-start ]
check "no FileExisting finding: conntrack, iptables, ethtool are in the image" \
  bash -c "! tr -d '\r' <'$VM_WORK/$SCENARIO/console.log' | grep -aq 'FileExisting-'"
check "only the stated checks were demoted (KubeletVersion, ImagePull)" \
  bash -c "[ -z \"\$(tr -d '\r' <'$VM_WORK/$SCENARIO/console.log' | grep -ao 'WARNING [A-Za-z-]*\]: .*(error ignored)' | grep -v 'WARNING KubeletVersion\|WARNING ImagePull')\" ]"
check "ImagePull looked for the 1.31 images" console_has "$SCENARIO" 'WARNING ImagePull.*kube-apiserver:v1.31.4'
check "bootstrap token never on the console" secret_free "$SCENARIO" "$CANARY_SECRET"
finish
