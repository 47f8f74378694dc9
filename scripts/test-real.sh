#!/usr/bin/env bash
# The real-Kubernetes tier: kubeboot against real kube-apiserver, kube-controller-manager,
# kube-scheduler and kubelet binaries, Debian's etcd and containerd, each node in private network
# and mount namespaces on a LAN of its own (nothing on the host network).
#
# Binaries come from $KUBEBOOT_KUBE_BIN_DIR, else from /var/tmp/kubeboot-kube-bin (see README,
# "Real-Kubernetes tier"). Without them every case is counted as skipped and the reason printed.
# Cases: init on one node (static Pods under containerd, every phase, kubeadm's objects read
# back with kubectl); every cluster phase re-run writes nothing; a worker joins from a namespace
# without a default route (real TLS bootstrap, CSR approved by the real controller-manager); a
# control plane joins (kubeadm-certs, etcd learner promoted, second API server); reset of both;
# a first boot killed at every cluster phase boundary resumes to the same cluster.
# KUBEBOOT_REAL_CASES="init control-plane-join" runs only the cases named (with those they need).
#
# Skew: binaries older than the 1.31 that kubeboot renders are adapted to in the harness only
# (the kubelet's command line gets the flags a 1.24 kubelet needs; preflight's version checks
# are demoted in the test configs), never in kubeboot's output.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
cd "$REPO"
# shellcheck source=tests/real/lib.sh
source tests/real/lib.sh

CASES=(init phase-reruns worker-join control-plane-join reset-worker reset-control-plane crash-resume cert-renewal)
DEFAULT_BIN_DIR=/var/tmp/kubeboot-kube-bin
KUBE_BIN=${KUBEBOOT_KUBE_BIN_DIR:-$DEFAULT_BIN_DIR}
REQUIRED=(kube-apiserver kube-controller-manager kube-scheduler kubelet)

skip_all() {
  say "real-Kubernetes tier skipped: $*"
  echo "0 passed, 0 failed, ${#CASES[@]} skipped"
  exit 0
}
missing=()
for b in "${REQUIRED[@]}"; do [ -x "$KUBE_BIN/$b" ] || missing+=("$b"); done
[ "${#missing[@]}" -eq 0 ] || skip_all "no ${missing[*]} in $KUBE_BIN (set KUBEBOOT_KUBE_BIN_DIR or fill $DEFAULT_BIN_DIR)"
[ "$(id -u)" -eq 0 ] || skip_all "needs root (network and mount namespaces)"
for t in containerd ctr runc etcd etcdctl kubectl python3 gcc nsenter unshare ip; do
  PATH="$PATH:/usr/sbin:/sbin" command -v "$t" >/dev/null || skip_all "$t is not installed (scripts/install-test-deps.sh installs it)"
done
# One run at a time on a machine: the node namespaces have fixed names (kbr-*), and a starting run
# ends whatever an earlier, killed run left in them, which would be another live run's nodes. A
# pid file, not a held lock: the nodes' processes would inherit a lock's descriptor and outlive
# a killed run.
RUN_PIDFILE=/run/kubeboot-real-tier.pid
while other=$(cat "$RUN_PIDFILE" 2>/dev/null) && [ "$other" != $$ ] &&
  grep -qa test-real.sh "/proc/$other/cmdline" 2>/dev/null; do
  say "another real-tier run (pid $other) is active; waiting for it to finish"
  while [ -d "/proc/$other" ]; do sleep 5; done
done
echo $$ >"$RUN_PIDFILE"
KUBE_VERSION_FOUND=$("$KUBE_BIN/kubelet" --version | awk '{print $2}')
say "real-Kubernetes tier: binaries $KUBE_VERSION_FOUND from $KUBE_BIN"

if [ -n "${KUBEBOOT_BIN:-}" ]; then
  KB=$KUBEBOOT_BIN
else
  echo "== building kubeboot (release)"
  cargo build --release --quiet
  KB=$REPO/target/x86_64-unknown-linux-gnu/release/kubeboot
fi

WORK=$(mktemp -d /tmp/kubeboot-real.XXXXXX)
cleanup() {
  local p
  for p in "$WORK"/*/pid; do [ -f "$p" ] && node_down "$(basename "$(dirname "$p")")"; done
  lan_down
  if [ "$FAILED" -eq 0 ] && [ -z "${KUBEBOOT_REAL_KEEP:-}" ]; then rm -rf "$WORK"; else say "logs kept in $WORK"; fi
}
trap cleanup EXIT

K8S=v1.31.0
TOKEN=abcdef.0123456789abcdef
CERT_KEY=$(openssl rand -hex 32)
CP1_IP=$LAN_PREFIX.11 CP2_IP=$LAN_PREFIX.12 W1_IP=$LAN_PREFIX.21 CP9_IP=$LAN_PREFIX.19 CP8_IP=$LAN_PREFIX.18
# Extra apiserver SANs of the cluster (a VIP name and address), which a joining control plane
# must carry too though its user-data does not name them.
CERT_SAN_DNS=cp-vip.kubeboot.test CERT_SAN_IP=$LAN_PREFIX.100
# Checks a v1.24 kubelet cannot pass against a 1.31 control plane (the harness's skew).
SKEW_IGNORED="[KubeletVersion]"

# --- images: the binaries packed as the images the 1.31 manifests name ----------------------
build_images() {
  mkdir -p "$WORK/images" "$WORK/bin"
  gcc -static -O2 -o "$WORK/bin/pause" tests/real/pause.c
  gcc -static -O2 -o "$WORK/bin/etcd-shim" tests/real/etcd-shim.c
  "$KB" config images list --config "$WORK/cp1.yaml" > "$WORK/image-list"
  local img libs=()
  for l in $(ldd /usr/bin/etcd | grep -o '/[^ ]*'); do libs+=("$l=$l"); done
  while read -r img; do
    local out=$WORK/images/$(basename "${img%%:*}").tar
    case "$img" in
      */kube-apiserver:*|*/kube-controller-manager:*|*/kube-scheduler:*|*/kube-proxy:*)
        local b; b=$(basename "${img%%:*}")
        [ -x "$KUBE_BIN/$b" ] || { say "no $b binary: image $img not built"; continue; }
        python3 tests/real/oci-image.py "$out" "$img" "$KUBE_BIN/$b=/usr/local/bin/$b" ;;
      */etcd:*)
        # Debian's etcd 3.4 behind a shim that serves the /readyz and /livez a 1.31 etcd.yaml
        # probes (3.4 has only /health): skew handled in the image, not in kubeboot's manifest.
        python3 tests/real/oci-image.py "$out" "$img" "$WORK/bin/etcd-shim=/usr/local/bin/etcd" \
          /usr/bin/etcd=/usr/local/bin/etcd-3.4 /usr/bin/etcdctl=/usr/local/bin/etcdctl "${libs[@]}" ;;
      */pause:*)
        echo "$img" > "$WORK/pause-image"
        python3 tests/real/oci-image.py "$out" "$img" --entrypoint /pause "$WORK/bin/pause=/pause" ;;
      */coredns:*)
        # No CoreDNS binary here, and its Pods cannot start without a pod network anyway.
        python3 tests/real/oci-image.py "$out" "$img" --entrypoint /coredns "$WORK/bin/pause=/coredns" ;;
      *) fail "no recipe for image $img" ;;
    esac
  done < "$WORK/image-list"
  {
    echo "127.0.0.1 localhost"
    echo "$CP1_IP cp1"; echo "$CP2_IP cp2"; echo "$W1_IP w1"; echo "$CP9_IP cp9"; echo "$CP8_IP cp8"
  } > "$WORK/hosts"
}

control_plane_config() { # NAME IP
  cat <<EOF
apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: control-plane
node:
  name: $1
  advertiseAddress: $2
cluster:
  kubernetesVersion: $K8S
  controlPlaneEndpoint: $2:6443
  networking:
    serviceSubnet: 10.96.0.0/12
    podSubnet: 10.244.0.0/16
  apiServer:
    certSANs: [$CERT_SAN_DNS, $CERT_SAN_IP]
    extraArgs:
      - name: audit-log-maxage
        value: "30"
bootstrapTokens:
  - token: $TOKEN
uploadCerts: true
certificateKey: $CERT_KEY
$(node_settings)
EOF
}

# What every node of this LAN needs from the operator: containerd here runs with cgroupfs (no
# systemd in a namespace), so the kubelet is configured to match, as an operator would.
node_settings() {
  cat <<EOF
kubeletConfiguration:
  cgroupDriver: cgroupfs
preflight:
  ignoreErrors: $SKEW_IGNORED
EOF
}

# Only what a join needs: no cluster section (version, controlPlaneEndpoint, certSANs, ... come
# from the cluster's kubeadm-config, as with kubeadm join).
join_config() { # ROLE NAME [IP]
  local hash; hash=$(in_node cp1 "$KB" certs ca-hash)
  cat <<EOF
apiVersion: kubeboot.io/v1alpha1
kind: NodeConfig
role: $1
node:
  name: $2
EOF
  [ -n "${3:-}" ] && echo "  advertiseAddress: $3"
  cat <<EOF
join:
  apiServerEndpoint: $CP1_IP:6443
  token: $TOKEN
  caCertHashes: [$hash]
EOF
  [ "$1" = control-plane-join ] && echo "certificateKey: $CERT_KEY"
  node_settings
}

# --- what a default kubeadm init creates (kubeadm.md §14), read back with kubectl ---------------
# Prints one line per kubeadm object: kind/namespace/name, with the bootstrap tokens counted.
inventory() { # NODE
  {
    kubectl_on "$1" get clusterrolebindings,clusterroles -o json
    kubectl_on "$1" get configmaps,roles,rolebindings,secrets,serviceaccounts,services,deployments,daemonsets -n kube-system -o json
    kubectl_on "$1" get configmaps,roles,rolebindings -n kube-public -o json
  } | python3 tests/real/objects.py inventory
}

check_kubeadm_objects() { # NODE
  local inv; inv=$(inventory "$1")
  local want=(
    ClusterRoleBinding//kubeadm:cluster-admins ClusterRoleBinding//kubeadm:get-nodes
    ClusterRoleBinding//kubeadm:kubelet-bootstrap ClusterRoleBinding//kubeadm:node-autoapprove-bootstrap
    ClusterRoleBinding//kubeadm:node-autoapprove-certificate-rotation ClusterRoleBinding//kubeadm:node-proxier
    ClusterRoleBinding//system:coredns ClusterRole//kubeadm:get-nodes ClusterRole//system:coredns
    ConfigMap/kube-system/kubeadm-config ConfigMap/kube-system/kubelet-config ConfigMap/kube-system/coredns
    ConfigMap/kube-system/kube-proxy
    Role/kube-system/kubeadm:nodes-kubeadm-config RoleBinding/kube-system/kubeadm:nodes-kubeadm-config
    Role/kube-system/kubeadm:kubelet-config RoleBinding/kube-system/kubeadm:kubelet-config
    Role/kube-system/kube-proxy RoleBinding/kube-system/kube-proxy
    Role/kube-system/kubeadm:kubeadm-certs RoleBinding/kube-system/kubeadm:kubeadm-certs
    Secret/kube-system/bootstrap-token-abcdef Secret/kube-system/kubeadm-certs
    "Secret/kube-system/bootstrap-token-* x2"
    ConfigMap/kube-public/cluster-info Role/kube-public/kubeadm:bootstrap-signer-clusterinfo
    RoleBinding/kube-public/kubeadm:bootstrap-signer-clusterinfo
    ServiceAccount/kube-system/coredns Deployment/kube-system/coredns Service/kube-system/kube-dns
    ServiceAccount/kube-system/kube-proxy DaemonSet/kube-system/kube-proxy
  )
  local w
  for w in "${want[@]}"; do grep -qxF "$w" <<<"$inv" || fail "kubeadm object missing on $1: $w"; done
  local node; node=$(kubectl_on "$1" get node "$1" -o json)
  python3 tests/real/objects.py control-plane-node <<<"$node" || fail "node $1 lacks the control-plane label or taint"
  [ "$(kubectl_on "$1" get svc -n kube-system kube-dns -o jsonpath='{.spec.clusterIP}')" = 10.96.0.10 ] ||
    fail "kube-dns does not have 10.96.0.10"
}

# --- cases --------------------------------------------------------------------------------------
case_init() {
  node_up cp1 11
  in_node cp1 "$KB" init --config "$WORK/cp1.yaml" > "$WORK/cp1/init.out" 2>&1 || { cat "$WORK/cp1/init.out" >&2; fail "kubeboot init failed"; }
  grep -q "kubeadm join $CP1_IP:6443" "$WORK/cp1/init.out" || fail "init printed no join command"
  # The static Pods run under the real kubelet and containerd, and their mirror Pods exist.
  local c
  for c in etcd kube-apiserver kube-controller-manager kube-scheduler; do
    wait_for 120 "$c running" bash -c "$(declare -f in_node kubectl_on); WORK=$WORK; \
      kubectl_on cp1 get pod -n kube-system $c-cp1 -o jsonpath='{.status.phase}' | grep -qx Running"
  done
  wait_for 60 "node cp1 registered" kubectl_on cp1 get node cp1
  # The bootstrap signer (real controller-manager) signs cluster-info for the token.
  wait_for 120 "cluster-info signed for abcdef" bash -c "$(declare -f in_node kubectl_on); WORK=$WORK; \
    kubectl_on cp1 get cm -n kube-public cluster-info -o jsonpath='{.data.jws-kubeconfig-abcdef}' | grep -q ."
  check_kubeadm_objects cp1
  normalized_inventory cp1 > "$WORK/cp1/inventory"
  # The stand-in tests' own table of expected objects, checked on the real server's objects.
  { inventory_json cp1; kubectl_on cp1 get node cp1 -o json; } > "$WORK/cp1/objects.json"
  # The RBAC checks run from inside the node, where the API server's address is reachable.
  in_node cp1 cat /etc/kubernetes/pki/ca.crt > "$WORK/cp1/ca.crt"
  in_node cp1 env KUBEBOOT_REAL_OBJECTS="$WORK/cp1/objects.json" KUBEBOOT_REAL_NODE=cp1 \
    KUBEBOOT_REAL_API="https://$CP1_IP:6443" KUBEBOOT_REAL_CA="$WORK/cp1/ca.crt" \
    "$(command -v cargo)" test --quiet --manifest-path "$REPO/Cargo.toml" --test real_parity -- --ignored >"$WORK/cp1/parity.out" 2>&1 ||
    { cat "$WORK/cp1/parity.out" >&2; fail "the real API server's objects differ from the stand-in tests' expectations"; }
}

# The inventory with what differs between two equal clusters by design taken out: the node's
# name, the random ids of generated bootstrap tokens and the random suffixes of the service
# account token Secrets a 1.24 controller-manager still generates.
normalized_inventory() { # NODE
  inventory "$1" | sed -E "s/\b$1\b/NODE/g; s/bootstrap-token-[a-z0-9]{6}$/bootstrap-token-GENERATED/; s/-token-[a-z0-9]{5}$/-token-GENERATED/" | sort
}

case_phase_reruns() {
  local before after p
  before=$({ kubectl_on cp1 get node cp1 -o json; inventory_json cp1; } | python3 tests/real/objects.py versions)
  for p in upload-config upload-certs mark-control-plane bootstrap-token kubelet-finalize addon; do
    local extra=(); [ "$p" = upload-certs ] && extra=(--upload-certs)
    in_node cp1 "$KB" init phase "$p" --config "$WORK/cp1.yaml" "${extra[@]}" > "$WORK/cp1/rerun-$p.out" 2>&1 ||
      { cat "$WORK/cp1/rerun-$p.out" >&2; fail "re-running phase $p failed"; }
  done
  after=$({ kubectl_on cp1 get node cp1 -o json; inventory_json cp1; } | python3 tests/real/objects.py versions)
  if [ "$before" != "$after" ]; then
    diff <(echo "$before") <(echo "$after") >&2 || true
    fail "a re-run wrote to the API server (resourceVersions above changed)"
  fi
  say "   $(wc -l <<<"$after") objects, none written by the re-runs"
}

inventory_json() {
  kubectl_on "$1" get clusterrolebindings,clusterroles -o json
  kubectl_on "$1" get configmaps,roles,rolebindings,secrets,serviceaccounts,services,deployments,daemonsets -n kube-system -o json
  kubectl_on "$1" get configmaps,roles,rolebindings -n kube-public -o json
}

case_worker_join() {
  node_up w1 21 no-default-route
  in_node w1 ip route | grep -q '^default' && fail "w1 has a default route"
  join_config worker w1 > "$WORK/w1.yaml"
  in_node w1 "$KB" join --config "$WORK/w1.yaml" > "$WORK/w1/join.out" 2>&1 || { cat "$WORK/w1/join.out" >&2; fail "kubeboot join (worker) failed"; }
  wait_for 120 "node w1 registered" kubectl_on cp1 get node w1
  # Real TLS bootstrap: a CSR from the bootstrap token, approved by the controller-manager.
  local csr; csr=$(kubectl_on cp1 get csr -o json | python3 tests/real/objects.py bootstrap-csr system:node:w1)
  [ -n "$csr" ] || fail "no approved, issued kubelet CSR for system:node:w1"
  say "   CSR $csr approved and issued"
  in_node w1 openssl x509 -noout -subject -in /var/lib/kubelet/pki/kubelet-client-current.pem | grep -q "CN = system:node:w1" ||
    fail "w1's kubelet client certificate is not system:node:w1"
  in_node w1 test -f /etc/kubernetes/kubelet.conf || fail "w1 has no kubelet.conf"
  in_node w1 test ! -e /etc/kubernetes/bootstrap-kubelet.conf || fail "bootstrap-kubelet.conf left behind"
}

case_control_plane_join() {
  node_up cp2 12
  join_config control-plane-join cp2 "$CP2_IP" > "$WORK/cp2.yaml"
  ! grep -q '^cluster:' "$WORK/cp2.yaml" || fail "cp2's user-data has a cluster section"
  in_node cp2 "$KB" join --config "$WORK/cp2.yaml" > "$WORK/cp2/join.out" 2>&1 || { cat "$WORK/cp2/join.out" >&2; fail "kubeboot join (control plane) failed"; }
  # The cluster's settings, from kubeadm-config: certSANs in the certificate and the audit flag.
  local san
  for san in "DNS:$CERT_SAN_DNS" "IP Address:$CERT_SAN_IP" "IP Address:$CP2_IP"; do
    in_node cp2 openssl x509 -noout -ext subjectAltName -in /etc/kubernetes/pki/apiserver.crt | grep -qF "$san" ||
      fail "cp2's apiserver.crt lacks $san"
  done
  in_node cp2 grep -q -- "--audit-log-maxage=30" /etc/kubernetes/manifests/kube-apiserver.yaml ||
    fail "cp2's kube-apiserver lacks the cluster's audit-log-maxage"
  # The shared CAs came from kubeadm-certs, byte for byte.
  local f
  for f in ca.crt ca.key sa.key front-proxy-ca.crt etcd/ca.crt etcd/ca.key; do
    cmp <(in_node cp1 cat "/etc/kubernetes/pki/$f") <(in_node cp2 cat "/etc/kubernetes/pki/$f") || fail "$f differs on cp2"
  done
  # etcd: two started voting members (the learner was promoted).
  local members
  members=$(in_node cp1 etcdctl --endpoints "https://$CP1_IP:2379" --cacert /etc/kubernetes/pki/etcd/ca.crt \
    --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key \
    member list -w json)
  python3 tests/real/objects.py etcd-voters 2 <<<"$members" || fail "etcd does not have two started voting members"
  # A second API server serves, with the cluster's data.
  wait_for 120 "kube-apiserver on cp2" in_node cp2 kubectl --kubeconfig /etc/kubernetes/admin.conf \
    --server "https://$CP2_IP:6443" get node cp1
  # The certificate cp2's API server serves names the cluster's VIP.
  in_node cp2 bash -c "openssl s_client -connect $CP2_IP:6443 </dev/null 2>/dev/null | openssl x509 -noout -ext subjectAltName" |
    grep -qF "DNS:$CERT_SAN_DNS" || fail "cp2's API server does not serve the cluster's certSANs"
  kubectl_on cp1 get node cp2 -o json | python3 tests/real/objects.py control-plane-node || fail "cp2 not marked control-plane"
}

case_reset_worker() {
  in_node w1 "$KB" reset --force > "$WORK/w1/reset.out" 2>&1 || { cat "$WORK/w1/reset.out" >&2; fail "reset of w1 failed"; }
  in_node w1 systemctl is-active kubelet && fail "w1's kubelet still runs"
  for f in /etc/kubernetes/kubelet.conf /etc/kubernetes/pki/ca.crt /var/lib/kubelet/config.yaml; do
    in_node w1 test ! -e "$f" || fail "$f survived reset"
  done
  in_node w1 "$KB" status >/dev/null 2>&1 || true
}

case_reset_control_plane() {
  in_node cp2 "$KB" reset --force > "$WORK/cp2/reset.out" 2>&1 || { cat "$WORK/cp2/reset.out" >&2; fail "reset of cp2 failed"; }
  local members
  members=$(in_node cp1 etcdctl --endpoints "https://$CP1_IP:2379" --cacert /etc/kubernetes/pki/etcd/ca.crt \
    --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key \
    member list -w json)
  python3 tests/real/objects.py etcd-voters 1 <<<"$members" || fail "cp2's etcd member was not removed"
  for f in /etc/kubernetes/manifests/kube-apiserver.yaml /etc/kubernetes/pki/ca.key /var/lib/etcd/member; do
    in_node cp2 test ! -e "$f" || fail "$f survived reset"
  done
  kubectl_on cp1 get node cp1 >/dev/null || fail "the cluster does not answer after cp2's reset"
}

case_crash_resume() {
  # A cluster of its own, made by `kubeboot run` killed (SIGKILL, the failpoint) on both sides of
  # every cluster phase boundary and resumed each time.
  local n
  for n in w1 cp2 cp1; do node_down "$n"; done
  node_up cp9 19
  control_plane_config cp9 "$CP9_IP" > "$WORK/cp9.yaml"
  local p when rc runs=0
  for p in kubelet-start wait-control-plane upload-config upload-certs mark-control-plane bootstrap-token kubelet-finalize addon; do
    for when in before after; do
      set +e
      in_node cp9 env KUBEBOOT_FAILPOINT="$p:$when" "$KB" run --user-data "$WORK/cp9.yaml" >> "$WORK/cp9/runs.out" 2>&1
      rc=$?
      set -e
      runs=$((runs + 1))
      [ "$rc" -eq 137 ] || { tail -20 "$WORK/cp9/runs.out" >&2; fail "run with failpoint $p:$when exited $rc, not killed"; }
    done
  done
  in_node cp9 "$KB" run --user-data "$WORK/cp9.yaml" >> "$WORK/cp9/runs.out" 2>&1 || { tail -20 "$WORK/cp9/runs.out" >&2; fail "the last resume failed"; }
  wait_for 120 "cluster-info signed" bash -c "$(declare -f in_node kubectl_on); WORK=$WORK; \
    kubectl_on cp9 get cm -n kube-public cluster-info -o jsonpath='{.data.jws-kubeconfig-abcdef}' | grep -q ."
  check_kubeadm_objects cp9
  # The same cluster as cp1's uninterrupted init, object for object.
  if [ -f "$WORK/cp1/inventory" ]; then
    normalized_inventory cp9 > "$WORK/cp9/inventory"
    diff "$WORK/cp1/inventory" "$WORK/cp9/inventory" >&2 || fail "the resumed cluster's objects differ from an uninterrupted init's (diff above)"
  fi
  say "   $runs runs killed and resumed; the same objects as an uninterrupted init, each once"
  # A finished instance: the next boot's run writes nothing.
  local before after
  before=$(inventory_json cp9 | python3 tests/real/objects.py versions)
  in_node cp9 "$KB" run --user-data "$WORK/cp9.yaml" >> "$WORK/cp9/runs.out" 2>&1 || fail "run on a provisioned node failed"
  after=$(inventory_json cp9 | python3 tests/real/objects.py versions)
  [ "$before" = "$after" ] || fail "run on a provisioned node wrote to the API server"
}

control_plane_config cp1 "$CP1_IP" > "$WORK/cp1.yaml"
case_cert_renewal() {
  # A control plane whose certificates are valid for 10 minutes, renewed by the command the
  # daily timer runs, with the rolling restart; a monitor samples every component's health.
  node_down cp9
  node_up cp8 18
  control_plane_config cp8 "$CP8_IP" | sed 's/^  kubernetesVersion:.*/&\n  certificateValidityPeriod: 10m0s/' > "$WORK/cp8.yaml"
  printf 'certificateRenewal:\n  before: 9m0s\n' >> "$WORK/cp8.yaml"
  in_node cp8 "$KB" init --config "$WORK/cp8.yaml" > "$WORK/cp8/init.out" 2>&1 || { cat "$WORK/cp8/init.out" >&2; fail "init of cp8 failed"; }
  local served_before; served_before=$(served_cert cp8 "$CP8_IP")
  grep -q serial <<<"$served_before" || fail "cp8's API server serves no certificate"
  in_node cp8 python3 "$REPO/tests/real/health-monitor.py" sample "$CP8_IP" "$WORK/cp8/health.tsv" &
  local monitor=$! t0=$SECONDS
  sleep 2
  in_node cp8 "$KB" certs renew all --expiring-within 10m --restart --config "$WORK/cp8.yaml" > "$WORK/cp8/renew.out" 2>&1 ||
    { kill "$monitor"; cat "$WORK/cp8/renew.out" >&2; fail "certs renew --restart failed"; }
  local took=$((SECONDS - t0 - 2))
  sleep 2
  kill "$monitor"; wait "$monitor" 2>/dev/null || true
  python3 tests/real/health-monitor.py judge "$WORK/cp8/health.tsv" > "$WORK/cp8/health.judged" 2>&1 ||
    { cat "$WORK/cp8/health.judged" >&2; fail "two restarts overlapped"; }
  say "   $(cat "$WORK/cp8/health.judged")"
  # The API server serves the new certificate; the renewed admin.conf works; etcd answers the
  # renewed client certificate.
  local served_after; served_after=$(served_cert cp8 "$CP8_IP")
  [ "$served_before" != "$served_after" ] || fail "the API server still serves the old certificate"
  cmp <(in_node cp8 openssl x509 -noout -serial -in /etc/kubernetes/pki/apiserver.crt) <(grep serial <<<"$served_after") ||
    fail "the served certificate is not the renewed apiserver.crt"
  kubectl_on cp8 get node cp8 >/dev/null || fail "kubectl with the renewed admin.conf failed"
  in_node cp8 etcdctl --endpoints "https://$CP8_IP:2379" --cacert /etc/kubernetes/pki/etcd/ca.crt \
    --cert /etc/kubernetes/pki/etcd/healthcheck-client.crt --key /etc/kubernetes/pki/etcd/healthcheck-client.key \
    endpoint health >/dev/null || fail "etcd refused the renewed healthcheck-client certificate"
  say "   renewed and restarted in ${took} s; $(grep -c . "$WORK/cp8/renew.out") lines of output"
}

served_cert() { # NODE ADDRESS: serial and notAfter of the certificate the node's API server serves
  in_node "$1" bash -c "openssl s_client -connect $2:6443 </dev/null 2>/dev/null | openssl x509 -noout -serial -enddate"
}

lan_up
build_images
run_case init "" case_init
run_case phase-reruns "init" case_phase_reruns
run_case worker-join "init" case_worker_join
run_case control-plane-join "init" case_control_plane_join
run_case reset-worker "worker-join" case_reset_worker
run_case reset-control-plane "control-plane-join" case_reset_control_plane
run_case crash-resume "" case_crash_resume
run_case cert-renewal "" case_cert_renewal

echo "real-Kubernetes tier ($KUBE_VERSION_FOUND binaries, kubeboot rendering $K8S): $PASSED passed, $FAILED failed, $SKIPPED skipped"
[ "$FAILED" -eq 0 ] && [ "$SKIPPED" -eq 0 ]
