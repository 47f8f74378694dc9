# Helpers of the real-Kubernetes tier (sourced by scripts/test-real.sh): a private LAN of network
# namespaces, nodes with their own mount namespaces, and a small case runner that counts passed,
# failed and skipped cases.

LAN=kbr-lan
LAN_PREFIX=10.89.0
NODE_CGROUPS=(cpu cpuacct cpuset memory devices freezer blkio pids systemd)

say() { printf '%s\n' "$*" >&2; }

# wait_for SECONDS WHAT CMD...: polls CMD until it succeeds; fails saying WHAT after the deadline.
wait_for() {
  local secs=$1 what=$2; shift 2
  local end=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$end" ]; then say "timed out after ${secs}s waiting for $what"; return 1; fi
    sleep 2
  done
}

lan_up() {
  # An earlier run that was killed may have left its namespaces: end their processes first.
  local ns
  for ns in $(ip netns list | awk '/^kbr-/ {print $1}'); do
    ip netns pids "$ns" | xargs -r kill -9
    ip netns del "$ns"
  done
  ip netns add "$LAN"
  ip -n "$LAN" link set lo up
  ip -n "$LAN" link add br0 type bridge
  ip -n "$LAN" addr add "$LAN_PREFIX.1/24" dev br0
  ip -n "$LAN" link set br0 up
}

lan_down() { ip netns del "$LAN" 2>/dev/null || true; }

# node_up NAME HOST_OCTET [default-route|no-default-route]
node_up() {
  local node=$1 ip=$LAN_PREFIX.$2 route=${3:-default-route}
  local ns=kbr-$node dir=$WORK/$node
  mkdir -p "$dir"
  sed "s|@NODE@|$node|; s|@DIR@|$dir|" "$REPO/tests/real/systemctl.in" > "$dir/systemctl"
  chmod 0755 "$dir/systemctl"
  ip netns add "$ns"
  ip -n "$LAN" link add "v-$node" type veth peer name eth0 netns "$ns"
  ip -n "$LAN" link set "v-$node" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "$ip/24" dev eth0
  ip -n "$ns" link set eth0 up
  [ "$route" = default-route ] && ip -n "$ns" route add default via "$LAN_PREFIX.1"
  ip netns exec "$ns" unshare -m -u --propagation private \
    bash "$REPO/tests/real/node-init.sh" "$node" "$WORK" "$KUBE_BIN" "$REPO" >"$dir/init.log" 2>&1 &
  echo $! > "$dir/pid"
  local end=$((SECONDS + 120))
  until [ -f "$dir/ready" ]; do
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null || [ "$SECONDS" -ge "$end" ]; then
      say "node $node did not come up:"; cat "$dir/init.log" >&2; return 1
    fi
    sleep 0.5
  done
}

# in_node NAME CMD...: runs CMD in the node's network, mount and UTS namespaces.
in_node() {
  local node=$1; shift
  nsenter -t "$(cat "$WORK/$node/pid")" -m -n -u -- "$@"
}

kubectl_on() {
  local node=$1; shift
  in_node "$node" kubectl --kubeconfig /etc/kubernetes/admin.conf --request-timeout=20s "$@"
}

# node_down NAME: stops the kubelet, then every process in the node's network namespace (the
# containers of host-network Pods, containerd and its shims live there), and its cgroups.
node_down() {
  local node=$1
  local ns=kbr-$node
  [ -f "$WORK/$node/pid" ] || return 0
  in_node "$node" systemctl stop kubelet.service 2>/dev/null || true
  for _ in 1 2 3 4 5; do
    local pids; pids=$(ip netns pids "$ns" 2>/dev/null)
    [ -n "$pids" ] || break
    # shellcheck disable=SC2086
    kill -9 $pids 2>/dev/null || true
    sleep 0.5
  done
  for c in "${NODE_CGROUPS[@]}"; do
    local root=/sys/fs/cgroup/$c/kubeboot-real-$node
    # A cgroup can stay busy for a moment after its last process was killed: never fatal here
    # (this also runs in the EXIT trap, where a failure would leave the other nodes up).
    [ -d "$root" ] && { find "$root" -depth -type d -exec rmdir {} + 2>/dev/null || true; }
  done
  ip netns del "$ns" 2>/dev/null || true
  rm -f "$WORK/$node/pid"
}

# --- case runner ------------------------------------------------------------------------------
PASSED=0 FAILED=0 SKIPPED=0
declare -A OUTCOME=()

# run_case NAME NEEDS FUNCTION: runs FUNCTION unless a case it needs did not pass.
# KUBEBOOT_REAL_CASES="init control-plane-join" runs only those cases (list the ones they need
# too); the others are not run and not counted.
run_case() {
  local name=$1 needs=$2 fn=$3
  if [ -n "${KUBEBOOT_REAL_CASES:-}" ] && [[ " $KUBEBOOT_REAL_CASES " != *" $name "* ]]; then
    OUTCOME[$name]=unselected; return
  fi
  for dep in $needs; do
    if [ "${OUTCOME[$dep]:-}" != pass ]; then
      say "-- $name: SKIPPED (needs $dep, which did not pass)"
      OUTCOME[$name]=skip; SKIPPED=$((SKIPPED + 1)); return
    fi
  done
  say "== $name"
  local t0=$SECONDS rc
  # Not in an `if`: errexit would be ignored inside the case.
  set +e
  ( set -euo pipefail; "$fn" )
  rc=$?
  set -e
  if [ "$rc" -eq 0 ]; then
    say "-- $name: passed ($((SECONDS - t0)) s)"
    OUTCOME[$name]=pass; PASSED=$((PASSED + 1))
  else
    say "-- $name: FAILED ($((SECONDS - t0)) s); logs under $WORK"
    OUTCOME[$name]=fail; FAILED=$((FAILED + 1))
  fi
}

# fail MESSAGE: ends the current case.
fail() { say "FAIL: $*"; return 1; }
