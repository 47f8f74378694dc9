# Shared helpers for the VM end-to-end scenarios (sourced; see tests/vm/run-all.sh).
#
# A scenario script boots the image built by image/build with image/boot, then asserts on the
# serial console (KUBEBOOT-RESULT and KUBEBOOT-TEST-TIMING lines) and on files read back from the
# powered-off disk with image/readback. It ends with `finish`: exit 0 passed, 1 failed, 77 skipped.
# Scenario state lives in $VM_WORK/<scenario>/ so later scenarios can boot an earlier one's disk.

set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_WORK=${VM_WORK:-$REPO/target/vm}
SCENARIO=$(basename "$0" .sh)
FIXTURES=$REPO/tests/vm/user-data
failures=0
rm -f "$VM_WORK/$SCENARIO/pending"

say() { echo "  [$SCENARIO] $*"; }
check() { # check DESCRIPTION COMMAND...: one assertion
  local what=$1
  shift
  if "$@"; then say "ok: $what"; else say "FAILED: $what"; failures=$((failures + 1)); fi
}
skip() { say "SKIP: $*"; exit 77; }
finish() { [ "$failures" = 0 ] && exit 0 || exit 1; }

# boot NAME [image/boot args...]: boots into $VM_WORK/NAME (console.log, disk.qcow2, boot.env).
boot() {
  local name=$1
  shift
  mkdir -p "$VM_WORK/$name"
  WORKDIR=$VM_WORK/$name "$REPO/image/boot" --timeout "${VM_TIMEOUT:-300}" "$@"
  local rc=$?
  record_boot "$name"
  return $rc
}

# seed NAME USER_DATA [INSTANCE_ID]: a NoCloud seed at $VM_WORK/NAME/seed.iso.
seed() {
  mkdir -p "$VM_WORK/$1"
  "$REPO/image/seed" "$2" "${3:-iid-$1}" "$VM_WORK/$1/seed.iso" >/dev/null
}

# record_boot NAME: appends this boot's figures to $VM_WORK/boots.jsonl (see figures.py).
record_boot() {
  (source "$VM_WORK/$1/boot.env" && timing "$1" | python3 -c '
import json, sys
raw = sys.stdin.read().strip()
print(json.dumps({"scenario": sys.argv[1], "outcome": sys.argv[2], "accel": sys.argv[3],
                  "qemu_seconds": float(sys.argv[4]), "report_seconds": float(sys.argv[5]) if sys.argv[5] else None,
                  "timing": json.loads(raw) if raw else None}))
' "$1" "$outcome" "$accel" "$qemu_seconds" "$report_seconds") >>"$VM_WORK/boots.jsonl"
}

console() { tr -d '\r' <"$VM_WORK/$1/console.log"; }

# result NAME: the JSON of kubeboot's first KUBEBOOT-RESULT line on NAME's console (empty if none).
result() { console "$1" | grep -a -m1 -o 'KUBEBOOT-RESULT {.*' | sed 's/^KUBEBOOT-RESULT //'; }
# timing NAME: the JSON of the test hook's KUBEBOOT-TEST-TIMING line.
timing() { console "$1" | grep -a -m1 -o 'KUBEBOOT-TEST-TIMING {.*' | sed 's/^KUBEBOOT-TEST-TIMING //'; }

# json FIELD.PATH: reads one value from JSON on stdin ("" if absent; strings raw, the rest as JSON).
json() {
  python3 -c '
import json, sys
value = json.load(sys.stdin)
for key in sys.argv[1].split("."):
    value = value.get(key) if isinstance(value, dict) else None
print("" if value is None else value if isinstance(value, str) else json.dumps(value))
' "$1"
}

# readback NAME PATH...: copies PATHs out of NAME's disk into $VM_WORK/NAME/disk/ (fresh).
readback() {
  local name=$1
  shift
  rm -rf "$VM_WORK/$name/disk"
  "$REPO/image/readback" "$VM_WORK/$name/disk.qcow2" "$VM_WORK/$name/disk" "$@"
}

# mode FILE: octal permission bits, e.g. 600.
mode() { stat -c %a "$1"; }

# tree_digest DIR: one line per file under DIR (path, mode, sha256), to compare disks.
tree_digest() {
  [ -d "$1" ] || return 0
  (cd "$1" && find . \( -type f -o -type l \) -print0 | sort -z | while IFS= read -r -d '' f; do
    if [ -L "$f" ]; then echo "$f link $(readlink "$f")"; else echo "$f $(stat -c %a "$f") $(sha256sum <"$f" | cut -c1-16)"; fi
  done)
}

# Paths kubeboot writes on a node (kubeadm's file set plus kubeboot's own state).
NODE_PATHS=(/etc/kubernetes /var/lib/kubelet /var/lib/etcd /var/lib/kubeboot)
# Where the test image's report sink keeps the POSTed completion reports (report-N.json).
REPORT_DIR=/var/lib/kubeboot-test
# report NAME: the last completion report received in NAME's VM (after readback of REPORT_DIR).
report() { ls "$VM_WORK/$1/disk$REPORT_DIR"/report-*.json 2>/dev/null | sort -V | tail -n1 | xargs -r cat; }

# unimplemented NAME: the "not yet implemented: ..." message kubeboot printed, if any.
unimplemented() { console "$1" | grep -a -m1 -o 'not yet implemented: [^"]*' || true; }

# The KUBEBOOT-RESULT line's fields (src/report/console.rs): state is done or failed; phase and
# message are there when it failed.
result_state() { result "$1" | json state; }
result_phase() { result "$1" | json phase; }
result_message() { result "$1" | json message; }

# run_files NAME: what was in /run/kubeboot and /run/cluster-api when kubeboot had finished
# (printed by the test hook; /run does not survive the power-off).
run_files() { console "$1" | sed -n '/KUBEBOOT-TEST-RUN-BEGIN/,/KUBEBOOT-TEST-RUN-END/p' | grep -aoE '/run/[a-z/.-]+' | sort -u; }

# needs_kubeboot NAME WHAT [PHASE]: skip the scenario when this kubeboot build lacks what it
# exercises — unless the missing part is PHASE, the phase the scenario only needs to reach.
needs_kubeboot() {
  local missing
  missing=$(unimplemented "$1")
  [ -z "$missing" ] || { [ -n "${3:-}" ] && [ "$(result_phase "$1")" = "$3" ]; } \
    || skip "$2 is not in this kubeboot build ($missing)"
}

# pending DESCRIPTION REASON: an assertion this kubeboot build cannot satisfy yet; printed and
# counted (run-all shows the count), but the scenario's other assertions still decide it.
pending() {
  say "PENDING: $1 ($2)"
  echo "$1" >>"$VM_WORK/$SCENARIO/pending"
}

# no_node_files NAME: none of kubeadm's paths exist on NAME's read-back disk.
no_node_files() {
  local p
  for p in /etc/kubernetes /var/lib/kubelet /var/lib/etcd; do
    [ ! -e "$VM_WORK/$1/disk$p" ] || { say "unexpected $p on disk: $(find "$VM_WORK/$1/disk$p" | head -5 | paste -sd' ')"; return 1; }
  done
}

# secret_free NAME SECRET: SECRET appears nowhere on NAME's console.
# (grep reads all of its input: with pipefail, `grep -q` stopping early would fail the pipeline.)
secret_free() { ! console "$1" | grep -aF -- "$2" >/dev/null; }
CANARY_SECRET=c4n4ryt0k3n5ecrt
# console_has NAME REGEX: NAME's console shows a line matching REGEX (extended).
console_has() { console "$1" | grep -aE -- "$2" >/dev/null; }
# lacks TEXT NEEDLE: TEXT is non-empty and does not contain NEEDLE.
lacks() { [ -n "$1" ] && ! grep -qF -- "$2" <<<"$1"; }
