#!/usr/bin/env python3
"""Measures certificate renewal with the release binary (README, "Certificate renewal"):
render examples/control-plane.yaml, `certs renew all`, `certs renew all --expiring-within`
(nothing due), and `kubeboot run` on the node made to look provisioned (nothing due), 5 times
for RSA-2048 and ECDSA-P256. Build first: cargo build --release."""
import subprocess, tempfile, time, os, json, hashlib, statistics, sys
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.join(REPO, "target/x86_64-unknown-linux-gnu/release/kubeboot")
base = open(os.path.join(REPO, "examples/control-plane.yaml")).read()
def cfg(alg, extra=""):
    return base.replace("cluster:\n", f"cluster:\n  encryptionAlgorithm: {alg}\n", 1) + extra
def run(args):
    t = time.perf_counter(); p = subprocess.run([BIN] + args, capture_output=True, text=True); dt = time.perf_counter() - t
    if p.returncode != 0: print(p.stdout, p.stderr); sys.exit(1)
    return dt, p.stdout
res = {}
for alg in ["RSA-2048", "ECDSA-P256"]:
    full, durs, noop, boot = [], [], [], []
    for i in range(5):
        d = tempfile.mkdtemp(); root = d + "/root"
        ud = cfg(alg, "certificateRenewal:\n  before: 720h\n")
        open(d + "/cfg.yaml", "w").write(ud)
        run(["render", "--config", d + "/cfg.yaml", "--root", root])
        dt, out = run(["certs", "renew", "all", "--config", d + "/cfg.yaml", "--root", root])
        full.append(dt)
        durs.append(json.load(open(root + "/var/lib/kubeboot/cert-renewal.json"))["durationMs"])
        dt, out = run(["certs", "renew", "all", "--expiring-within", "--config", d + "/cfg.yaml", "--root", root])
        noop.append(dt)
        # provisioned-node boot with nothing due
        os.makedirs(root + "/var/lib/kubeboot/instances/b1", exist_ok=True)
        open(root + "/etc/machine-id", "w").write("b1\n")
        open(root + "/var/lib/kubeboot/instances/b1/user-data", "w").write(ud)
        json.dump({"instanceId": "b1", "userDataSha256": hashlib.sha256(ud.encode()).hexdigest(), "origin": "x",
                   "createdAt": "2026-01-01T00:00:00Z", "doneAt": "2026-01-01T00:01:00Z", "runs": 1, "phases": []},
                  open(root + "/var/lib/kubeboot/instances/b1/journal.json", "w"))
        run(["run", "--user-data", d + "/cfg.yaml", "--root", root])  # first: restores status
        dt, out = run(["run", "--user-data", d + "/cfg.yaml", "--root", root])
        assert "no certificate due" in out, out
        boot.append(dt)
        subprocess.run(["rm", "-rf", d])
    res[alg] = dict(renew_all_wall_ms=[round(x*1000,1) for x in full], renew_all_internal_ms=durs,
                    nothing_due_wall_ms=[round(x*1000,1) for x in noop], boot_nothing_due_wall_ms=[round(x*1000,1) for x in boot])
    for k, v in res[alg].items():
        print(alg, k, "median", statistics.median(v), "all", v)
print(os.getloadavg())
