#!/usr/bin/env python3
"""Samples the control plane's health endpoints every 0.25 s inside a real-tier node while a
rolling restart runs, then says whether two components were ever down at once and how long each
one was unavailable at most.

A component that is down only because what it depends on is down is not counted as a second
outage: kube-apiserver's /livez fails while etcd restarts, and on a single control-plane node
kube-controller-manager and kube-scheduler lose their leader lease (and restart) when the API
server is away longer than their renew deadline. Two outages at once means two components down
whose dependencies are up: two restarts overlapping.

  health-monitor.py sample ADDRESS OUT.tsv     (runs until killed)
  health-monitor.py judge OUT.tsv              (exit 1 if two restarts overlapped)
"""
import ssl, sys, time, urllib.request

COMPONENTS = {
    "etcd": "http://127.0.0.1:2381/health",
    "kube-apiserver": "https://{addr}:6443/livez",
    "kube-controller-manager": "https://127.0.0.1:10257/healthz",
    "kube-scheduler": "https://127.0.0.1:10259/healthz",
}


def up(url):
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=1, context=ctx) as r:
            return r.status == 200
    except Exception:
        return False


def sample(addr, out):
    with open(out, "w", buffering=1) as f:
        f.write("t\t" + "\t".join(COMPONENTS) + "\n")
        while True:
            t = time.monotonic()
            f.write(f"{t:.3f}\t" + "\t".join("1" if up(u.format(addr=addr)) else "0" for u in COMPONENTS.values()) + "\n")
            time.sleep(max(0, 0.25 - (time.monotonic() - t)))


DEPENDS_ON = {
    "etcd": [],
    "kube-apiserver": ["etcd"],
    "kube-controller-manager": ["kube-apiserver"],
    "kube-scheduler": ["kube-apiserver"],
}


def judge(path):
    rows = [l.rstrip("\n").split("\t") for l in open(path)]
    names, rows = rows[0][1:], [(float(r[0]), r[1:]) for r in rows[1:]]

    def own_outages(s):
        down = {n for n, v in zip(names, s) if v == "0"}
        return [n for n in down if not any(d in down for d in DEPENDS_ON[n])]

    overlap = [(t, own_outages(s)) for t, s in rows if len(own_outages(s)) > 1]
    cascades = sum(1 for _, s in rows if s.count("0") > len(own_outages(s)))
    longest = {}
    for i, n in enumerate(names):
        start, best = None, 0.0
        for t, s in rows:
            if s[i] == "0" and start is None:
                start = t
            elif s[i] == "1" and start is not None:
                best, start = max(best, t - start), None
        if start is not None:
            best = max(best, rows[-1][0] - start)
        longest[n] = best
    print(f"{len(rows)} samples; longest unavailable: " + ", ".join(f"{n} {v:.1f} s" for n, v in longest.items())
          + f"; {cascades} samples with a dependent down only because of its dependency")
    if overlap:
        print(f"two restarts overlapped in {len(overlap)} samples, first: {overlap[0][1]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    {"sample": lambda: sample(sys.argv[2], sys.argv[3]), "judge": lambda: judge(sys.argv[2])}[sys.argv[1]]()
