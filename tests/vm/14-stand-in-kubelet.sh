#!/usr/bin/env bash
# An image built with KUBE_BIN_DIR: the kubelet binary and its unit are baked in, so first boot
# goes past kubelet-start to wait-control-plane. No kubelet binary is reachable from this
# machine, so KUBE_BIN_DIR holds a TEST STAND-IN (tests/vm/kubelet-stand-in/): it answers
# `kubelet --version`, fails until kubeboot has written /var/lib/kubelet/config.yaml, then serves
# the kubelet's /healthz. It runs no Pods, so no kube-apiserver ever answers: the expected outcome
# is kubelet-start done (systemd really restarted kubelet.service with the kubeadm drop-in),
# the kubelet reported healthy, and a clean failure at wait-control-plane naming kube-apiserver.
source "$(dirname "$0")/lib.sh"

mkdir -p "$VM_WORK/$SCENARIO"
export IMAGE_OUT=$VM_WORK/$SCENARIO/image
if ! KUBE_BIN_DIR=$REPO/tests/vm/kubelet-stand-in "$REPO/image/build" >"$VM_WORK/$SCENARIO/build.log" 2>&1; then
  tail -n 20 "$VM_WORK/$SCENARIO/build.log"
  check "image/build with KUBE_BIN_DIR" false
  finish
fi
seed "$SCENARIO" "$FIXTURES/control-plane-stand-in-kubelet.yaml" iid-cp-kubelet
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "first boot with a kubelet (kubeboot run)" wait-control-plane

check "preflight ran KubeletVersion against the baked kubelet (no KubeletVersion finding)" \
  bash -c "! tr -d '\r' <'$VM_WORK/$SCENARIO/console.log' | grep -aq 'KubeletVersion'"
check "systemd started the kubelet with kubeadm's drop-in flags" \
  console_has "$SCENARIO" 'KUBEBOOT-TEST-KUBELET-STARTED .*--kubeconfig=/etc/kubernetes/kubelet.conf.*--config=/var/lib/kubelet/config.yaml'
check "kubeboot saw the kubelet healthy" console_has "$SCENARIO" '\[kubelet-check\] The kubelet is healthy'
check "outcome is a failure" [ "$(result_state "$SCENARIO")" = failed ]
check "failed phase is wait-control-plane" [ "$(result_phase "$SCENARIO")" = wait-control-plane ]
check "error names kube-apiserver" grep -q 'kube-apiserver' <<<"$(result_message "$SCENARIO")"
check "bootstrap token never on the console" secret_free "$SCENARIO" "$CANARY_SECRET"

readback "$SCENARIO" "${NODE_PATHS[@]}" "$REPORT_DIR" /etc/systemd/system
d=$VM_WORK/$SCENARIO/disk
journal=$d/var/lib/kubeboot/instances/iid-cp-kubelet/journal.json
check "journal: kubelet-start done, wait-control-plane failed" python3 -c '
import json, sys
states = {p["name"]: p["state"] for p in json.load(open(sys.argv[1]))["phases"]}
assert states.get("kubelet-start") == "done" and states.get("wait-control-plane") == "failed", states
' "$journal"
check "kubelet.service enabled" [ -L "$d/etc/systemd/system/multi-user.target.wants/kubelet.service" ]
r=$(report "$SCENARIO")
check "completion report POSTed: failed at wait-control-plane" \
  [ "$(json state <<<"$r" 2>/dev/null):$(json error.phase <<<"$r" 2>/dev/null)" = failed:wait-control-plane ]
check "kubelet config.yaml 0644" [ "$(mode "$d/var/lib/kubelet/config.yaml" 2>/dev/null)" = 644 ]
finish
