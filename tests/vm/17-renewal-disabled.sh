#!/usr/bin/env bash
# Scenario 16 with certificateRenewal.enabled: false: the disk of a provisioned control plane
# boots 25 days before its certificates expire, inside the window, and kubeboot's boot check
# says renewal is off and changes nothing (the timer's run would do the same; `kubeboot certs
# renew` by hand still works).
source "$(dirname "$0")/lib.sh"

k8s() { echo "$VM_WORK/$SCENARIO/disk/etc/kubernetes"; }
guest_clock() { console "$1" | grep -a -m1 -o 'KUBEBOOT-TEST-CLOCK [0-9TZ:-]*' | cut -d' ' -f2; }

seed "$SCENARIO" "$FIXTURES/control-plane-files-only-no-renewal.yaml" iid-no-renew
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "kubeboot run"
check "boot 1 is done" [ "$(result_state "$SCENARIO")" = done ]
readback "$SCENARIO" "${NODE_PATHS[@]}" "$REPORT_DIR"
[ -f "$(k8s)/pki/apiserver.crt" ] || { say "FAILED: no certificates after boot 1"; exit 1; }
expiry=$(date -u -d "$(openssl x509 -noout -enddate -in "$(k8s)/pki/apiserver.crt" | cut -d= -f2)" +%s)
before=$(tree_digest "$VM_WORK/$SCENARIO/disk")

rtc_epoch=$((expiry - 25 * 86400))
rtc=$(date -u -d "@$rtc_epoch" +%Y-%m-%dT%H:%M:%S)
say "certificates expire $(date -u -d "@$expiry" +%FT%TZ); booting the disk again at ${rtc}Z"
boot "$SCENARIO" --reuse --seed "$VM_WORK/$SCENARIO/seed.iso" --rtc-base "$rtc"
clock=$(guest_clock "$SCENARIO")
check "the guest ran on the moved clock (${clock:-none}, set ${rtc}Z)" \
  python3 -c 'import sys; sys.exit(not 0 <= int(sys.argv[1]) - int(sys.argv[2]) <= 1800)' "$(date -u -d "${clock:-@0}" +%s)" "$rtc_epoch"
check "boot 2 reports done" [ "$(result_state "$SCENARIO")" = done ]
check "kubeboot exited 0" [ "$(timing "$SCENARIO" | json kubeboot_exit_status)" = 0 ]
check "console: automatic renewal is disabled" console_has "$SCENARIO" '\[certs\] automatic renewal is disabled'
check "console: nothing renewed" bash -c "! tr -d '\r' <'$VM_WORK/$SCENARIO/console.log' | grep -a '\[certs\] renewed' >/dev/null"
check "no renewal failure sentinel" lacks "$(run_files "$SCENARIO")" /run/kubeboot/cert-renewal-failed
readback "$SCENARIO" "${NODE_PATHS[@]}" "$REPORT_DIR"
after=$(tree_digest "$VM_WORK/$SCENARIO/disk")
check "no file changed under ${NODE_PATHS[*]} $REPORT_DIR (no renewal status, no report)" [ "$before" = "$after" ]
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | head -10 | sed 's/^/    /'
say "boot 2: kubeboot wall $(timing "$SCENARIO" | json kubeboot_wall_s)s"
finish
