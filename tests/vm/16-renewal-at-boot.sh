#!/usr/bin/env bash
# Issue 12, on a booted image: a node that was powered off past the start of its certificate
# renewal window renews at boot. Boot 1 provisions the files-only control plane (done, no
# kubelet). Boot 2 is the same disk with the guest's hardware clock moved to 25 days before the
# leaf certificates expire (image/boot --rtc-base): inside certificateRenewal.before (default
# 720h), still valid. kubeboot run finds the finished instance, renews every leaf certificate and
# kubeconfig client certificate from the unchanged CAs, and records it. Boot 3, same clock:
# nothing due, nothing written.
source "$(dirname "$0")/lib.sh"

LEAVES=(pki/apiserver.crt pki/apiserver-kubelet-client.crt pki/apiserver-etcd-client.crt pki/front-proxy-client.crt
  pki/etcd/server.crt pki/etcd/peer.crt pki/etcd/healthcheck-client.crt)
KUBECONFIGS=(admin.conf super-admin.conf controller-manager.conf scheduler.conf)
# Never renewed: the CAs, the service-account key pair, kubelet.conf (the kubelet rotates its own), manifests.
UNCHANGED=(pki/ca.crt pki/ca.key pki/front-proxy-ca.crt pki/front-proxy-ca.key pki/etcd/ca.crt pki/etcd/ca.key
  pki/sa.key pki/sa.pub kubelet.conf manifests/etcd.yaml manifests/kube-apiserver.yaml
  manifests/kube-controller-manager.yaml manifests/kube-scheduler.yaml)
# What kubeboot renews on this node, by kubeadm's names (cert-renewal.json lists them sorted).
RENEWED_NAMES='["apiserver","apiserver-kubelet-client","apiserver-etcd-client","front-proxy-client","etcd-server","etcd-peer","etcd-healthcheck-client","admin.conf","super-admin.conf","controller-manager.conf","scheduler.conf"]'
YEAR=$((365 * 86400))

k8s() { echo "$VM_WORK/$SCENARIO/disk/etc/kubernetes"; }
# pem REL: the certificate of a leaf (pki/...) or a kubeconfig's client certificate, as PEM.
pem() {
  case $1 in
    *.conf) grep -m1 'client-certificate-data:' "$(k8s)/$1" | awk '{print $2}' | base64 -d ;;
    *) cat "$(k8s)/$1" ;;
  esac
}
# key_pub REL: the public key of the matching private key.
key_pub() {
  case $1 in
    *.conf) grep -m1 'client-key-data:' "$(k8s)/$1" | awk '{print $2}' | base64 -d | openssl pkey -pubout ;;
    *) openssl pkey -pubout -in "$(k8s)/${1%.crt}.key" ;;
  esac
}
ca_of() {
  case $1 in
    pki/etcd/* | pki/apiserver-etcd-client.crt) echo "$(k8s)/pki/etcd/ca.crt" ;;
    pki/front-proxy-client.crt) echo "$(k8s)/pki/front-proxy-ca.crt" ;;
    *) echo "$(k8s)/pki/ca.crt" ;;
  esac
}
serial() { pem "$1" | openssl x509 -noout -serial | cut -d= -f2; }
not_after() { date -u -d "$(pem "$1" | openssl x509 -noout -enddate | cut -d= -f2)" +%s; }
cert_pub() { pem "$1" | openssl x509 -noout -pubkey; }
epoch() { date -u -d "$1" +%s; }
# snapshot FILE: serial, notAfter, mode and public key of every renewable file, one line each.
snapshot() {
  local f
  for f in "${LEAVES[@]}" "${KUBECONFIGS[@]}"; do
    echo "$f $(serial "$f") $(not_after "$f") $(mode "$(k8s)/$f") $(cert_pub "$f" | sha256sum | cut -c1-16)"
  done >"$1"
}
unchanged_digest() { (cd "$(k8s)" && for f in "${UNCHANGED[@]}"; do echo "$f $(mode "$f") $(sha256sum <"$f" | cut -c1-16)"; done); }
# within VALUE LO HI: LO <= VALUE <= HI (integers; false when any is empty).
within() { [ -n "$1" ] && [ -n "$2" ] && [ -n "$3" ] && [ "$1" -ge "$2" ] && [ "$1" -le "$3" ]; }
# year_after LATER EARLIER: LATER is EARLIER + 365 days, give or take 2 minutes (epochs).
year_after() { [ -n "$1" ] && [ -n "$2" ] && within $(($1 - $2 - YEAR)) -120 120; }
# verifies REL CA AT: the certificate verifies against CA at time AT (an epoch).
verifies() { local tmp; tmp=$(mktemp); pem "$1" >"$tmp"; openssl verify -attime "$3" -CAfile "$2" "$tmp" >/dev/null; local rc=$?; rm -f "$tmp"; return $rc; }
guest_clock() { console "$1" | grep -a -m1 -o 'KUBEBOOT-TEST-CLOCK [0-9TZ:-]*' | cut -d' ' -f2; }

# ---- boot 1: provision (the host's clock) -----------------------------------------------------
seed "$SCENARIO" "$FIXTURES/control-plane-files-only.yaml" iid-renew
boot "$SCENARIO" --seed "$VM_WORK/$SCENARIO/seed.iso"
needs_kubeboot "$SCENARIO" "kubeboot run"
check "boot 1 is done" [ "$(result_state "$SCENARIO")" = done ]
readback "$SCENARIO" "${NODE_PATHS[@]}" "$REPORT_DIR"
[ -f "$(k8s)/pki/apiserver.crt" ] || { say "FAILED: no certificates after boot 1"; exit 1; }
snapshot "$VM_WORK/$SCENARIO/certs-1"
unchanged_1=$(unchanged_digest)
check "boot 1 wrote no renewal status" [ ! -e "$VM_WORK/$SCENARIO/disk/var/lib/kubeboot/cert-renewal.json" ]
reports_1=$(ls "$VM_WORK/$SCENARIO/disk$REPORT_DIR" 2>/dev/null | wc -l)
expiry_1=$(not_after pki/apiserver.crt)
ca_expiry=$(date -u -d "$(openssl x509 -noout -enddate -in "$(k8s)/pki/ca.crt" | cut -d= -f2)" +%s)
# Every leaf expires with apiserver.crt (one run made them all), to the minute.
check "boot 1: every leaf and client certificate expires together" \
  awk -v e="$expiry_1" '{ d = $3 - e; if (d < -120 || d > 120) exit 1 }' "$VM_WORK/$SCENARIO/certs-1"
cp "$VM_WORK/$SCENARIO/console.log" "$VM_WORK/$SCENARIO/console-1.log"

# ---- boot 2: 25 days before expiry (inside the default 720h window), same disk ----------------
rtc_epoch=$((expiry_1 - 25 * 86400))
rtc=$(date -u -d "@$rtc_epoch" +%Y-%m-%dT%H:%M:%S)
say "boot 1 certificates expire $(date -u -d "@$expiry_1" +%FT%TZ); booting the disk again at ${rtc}Z"
# A restart that waits for the kubelet could take 4 min per component: leave room to see it.
boot "$SCENARIO" --reuse --seed "$VM_WORK/$SCENARIO/seed.iso" --rtc-base "$rtc" --timeout 900
cp "$VM_WORK/$SCENARIO/console.log" "$VM_WORK/$SCENARIO/console-2.log"
clock=$(guest_clock "$SCENARIO")
say "guest clock at the end of boot 2: ${clock:-none}"
clock_epoch=$([ -n "$clock" ] && epoch "$clock")
check "the guest ran on the moved clock (${clock:-none} within 30 min after ${rtc}Z)" \
  within "$clock_epoch" "$rtc_epoch" $((rtc_epoch + 1800))
check "boot 2 reports done (KUBEBOOT-RESULT)" [ "$(result_state "$SCENARIO")" = done ]
check "kubeboot exited 0" [ "$(timing "$SCENARIO" | json kubeboot_exit_status)" = 0 ]
renew_line=$(console "$SCENARIO" | grep -a -m1 -o '\[certs\] renewed [^;]* in [0-9]*ms; restarted: [a-z, -]*')
say "console: ${renew_line:-no renewal line}"
check "console: kubeboot renewed at boot" [ -n "$renew_line" ]
# No kubelet on this image, so no static Pod runs: each component is left alone, not parked and
# waited for (before the fix in host::restart that waited 240 s for etcd and failed the renewal).
for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
  check "console: $c has no running Pod and is left alone" \
    console_has "$SCENARIO" "\\[certs\\] $c: no running Pod; it reads the renewed certificates when the kubelet starts it"
done
check "console: nothing was restarted" bash -c "! tr -d '\r' <'$VM_WORK/$SCENARIO/console.log' | grep -a '\[certs\] restarting' >/dev/null"
check "no CERTIFICATE RENEWAL FAILED banner" bash -c "! grep -a 'CERTIFICATE RENEWAL FAILED' '$VM_WORK/$SCENARIO/console.log' >/dev/null"
sentinels=$(run_files "$SCENARIO")
check "no renewal failure sentinel" lacks "$sentinels" /run/kubeboot/cert-renewal-failed
check "no failure sentinel" lacks "$sentinels" /run/kubeboot/failed
check "success sentinel restored" grep -qx /run/kubeboot/complete <<<"$sentinels"

readback "$SCENARIO" "${NODE_PATHS[@]}" "$REPORT_DIR"
renewal=$(cat "$VM_WORK/$SCENARIO/disk/var/lib/kubeboot/cert-renewal.json" 2>/dev/null)
say "cert-renewal.json: $(tr -d ' \n' <<<"$renewal" | cut -c1-400)"
check "cert-renewal.json: state done" [ "$(json state <<<"$renewal")" = done ]
check "cert-renewal.json: trigger boot" [ "$(json trigger <<<"$renewal")" = boot ]
check "cert-renewal.json: window 720h" [ "$(json before <<<"$renewal")" = 720h0m0s ]
check "cert-renewal.json: renewed all 11" \
  python3 -c 'import json,sys; sys.exit(sorted(json.loads(sys.argv[1])["renewed"]) != sorted(json.loads(sys.argv[2])))' "${renewal:-{\}}" "$RENEWED_NAMES"
check "cert-renewal.json: nothing restarted (no Pod was running)" [ "$(json restarted <<<"$renewal")" = "[]" ]
check "cert-renewal.json: no error" [ -z "$(json error <<<"$renewal")" ]
at=$(json at <<<"$renewal")
at_epoch=$([ -n "$at" ] && epoch "$at")
check "renewal time ($at) is the guest's moved clock" within "$at_epoch" "$rtc_epoch" "$clock_epoch"
next=$(json nextExpiry.notAfter <<<"$renewal")
next_epoch=$([ -n "$next" ] && epoch "$next")
next_renewal=$(json nextRenewal <<<"$renewal")
check "next expiry ($next) is a year after the renewal" year_after "$next_epoch" "$at_epoch"
check "next renewal ($next_renewal) is next expiry minus 30 days" \
  within "$([ -n "$next_renewal" ] && epoch "$next_renewal")" $((next_epoch - 30 * 86400)) $((next_epoch - 30 * 86400))
persisted=$(json certificateRenewal <"$VM_WORK/$SCENARIO/disk/var/lib/kubeboot/status.json")
check "status.json carries the same certificateRenewal" \
  python3 -c 'import json,sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "${persisted:-null}" "${renewal:-null}"
check "status.json still says done" [ "$(json state <"$VM_WORK/$SCENARIO/disk/var/lib/kubeboot/status.json")" = done ]
reports_2=$(ls "$VM_WORK/$SCENARIO/disk$REPORT_DIR" 2>/dev/null | wc -l)
check "the renewal was POSTed to report.url ($reports_1 -> $reports_2 reports)" [ "$reports_2" -gt "$reports_1" ]
check "the report carries the renewal" [ "$(report "$SCENARIO" | json certificateRenewal.trigger)" = boot ]

snapshot "$VM_WORK/$SCENARIO/certs-2"
while read -r f serial1 after1 mode1 pub1 && read -r f2 serial2 after2 mode2 pub2 <&3; do
  check "$f: new serial ($serial1 -> $serial2)" [ "$serial1" != "$serial2" ]
  check "$f: new key" [ "$pub1" != "$pub2" ]
  check "$f: notAfter $(date -u -d "@$after2" +%FT%TZ) = renewal + 1 year" year_after "$after2" "$at_epoch"
  check "$f: mode kept ($mode1)" [ "$mode1" = "$mode2" ]
  check "$f: verifies against the unchanged CA at the guest's time" verifies "$f" "$(ca_of "$f")" "${clock_epoch:-$rtc_epoch}"
  check "$f: matches its key" [ "$(cert_pub "$f")" = "$(key_pub "$f")" ]
done <"$VM_WORK/$SCENARIO/certs-1" 3<"$VM_WORK/$SCENARIO/certs-2"
check "CAs, sa keys, kubelet.conf and manifests byte-for-byte unchanged, modes kept" [ "$unchanged_1" = "$(unchanged_digest)" ]
[ "$unchanged_1" = "$(unchanged_digest)" ] || diff <(echo "$unchanged_1") <(unchanged_digest) | sed 's/^/    /'
check "no manifest left parked" [ -z "$(ls -A "$(k8s)/tmp/kubeboot-restart" 2>/dev/null)" ]
check "the CA outlives the renewed certificates" [ "$ca_expiry" -gt "${next_epoch:-$ca_expiry}" ]
wall_2=$(timing "$SCENARIO" | json kubeboot_wall_s)
say "boot 2: kubeboot wall ${wall_2}s, renewal durationMs $(json durationMs <<<"$renewal")"

# ---- boot 3: same clock, nothing due: nothing written ------------------------------------------
before=$(tree_digest "$VM_WORK/$SCENARIO/disk")
boot "$SCENARIO" --reuse --seed "$VM_WORK/$SCENARIO/seed.iso" --rtc-base "$rtc"
check "boot 3 reports done" [ "$(result_state "$SCENARIO")" = done ]
check "boot 3: console says nothing is due" console_has "$SCENARIO" '\[certs\] no certificate due for renewal; next expiry'
check "boot 3: nothing renewed" bash -c "! tr -d '\r' <'$VM_WORK/$SCENARIO/console.log' | grep -a '\[certs\] renewed' >/dev/null"
readback "$SCENARIO" "${NODE_PATHS[@]}" "$REPORT_DIR"
after=$(tree_digest "$VM_WORK/$SCENARIO/disk")
check "boot 3: no file changed under ${NODE_PATHS[*]} $REPORT_DIR" [ "$before" = "$after" ]
[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | head -10 | sed 's/^/    /'
say "boot 3: kubeboot wall $(timing "$SCENARIO" | json kubeboot_wall_s)s"
finish
