#!/usr/bin/env python3
"""Reads `kubectl get -o json` / `etcdctl -w json` output for the real tier's checks.

  inventory            kind/namespace/name per object, bootstrap-token Secrets also counted
  versions             kind/namespace/name and what a write would change (resourceVersion;
                       generation for Deployments and DaemonSets, whose status controllers update;
                       labels, taints and annotations kubeadm sets for Nodes, whose status the kubelet updates)
  control-plane-node   exit 1 unless the Node has kubeadm's control-plane label and taint
  bootstrap-csr USER   prints the approved, issued kubelet client CSR of USER made with a bootstrap token
  etcd-voters N        exit 1 unless etcd has exactly N started, voting members
"""
import json, sys


def docs(text):
    dec, i, out = json.JSONDecoder(), 0, []
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return out
        doc, i = dec.raw_decode(text, i)
        out.append(doc)


def items(text):
    for d in docs(text):
        yield from d.get("items", [d]) if d.get("kind", "").endswith("List") else [d]


def key(o):
    m = o["metadata"]
    return f'{o["kind"]}/{m.get("namespace", "")}/{m["name"]}'


def main():
    mode, text = sys.argv[1], sys.stdin.read()
    if mode == "inventory":
        objs = list(items(text))
        for o in objs:
            print(key(o))
        tokens = [o for o in objs if o["kind"] == "Secret" and o["metadata"]["name"].startswith("bootstrap-token-")]
        print(f"Secret/kube-system/bootstrap-token-* x{len(tokens)}")
    elif mode == "versions":
        for o in sorted(items(text), key=key):
            m = o["metadata"]
            if o["kind"] in ("Deployment", "DaemonSet"):
                print(key(o), "generation", m["generation"])
            elif o["kind"] == "Node":
                ann = {k: v for k, v in m.get("annotations", {}).items() if "kubeadm" in k}
                print(key(o), json.dumps([m.get("labels"), o["spec"].get("taints"), ann], sort_keys=True))
            else:
                print(key(o), m["resourceVersion"])
    elif mode == "control-plane-node":
        (node,) = items(text)
        labels = node["metadata"].get("labels", {})
        taints = node["spec"].get("taints", [])
        ok = "node-role.kubernetes.io/control-plane" in labels \
            and "node.kubernetes.io/exclude-from-external-load-balancers" in labels \
            and any(t["key"] == "node-role.kubernetes.io/control-plane" and t["effect"] == "NoSchedule" for t in taints)
        sys.exit(0 if ok else 1)
    elif mode == "bootstrap-csr":
        node_user = sys.argv[2]
        for c in items(text):
            spec, status = c["spec"], c.get("status", {})
            approved = any(x["type"] == "Approved" for x in status.get("conditions", []))
            if spec["username"].startswith("system:bootstrap:") and approved and status.get("certificate") \
                    and spec.get("signerName") == "kubernetes.io/kube-apiserver-client-kubelet":
                import base64, subprocess
                req = base64.b64decode(spec["request"])
                subj = subprocess.run(["openssl", "req", "-noout", "-subject"], input=req, capture_output=True).stdout.decode()
                if f"CN = {node_user}" in subj or f"CN={node_user}" in subj:
                    print(c["metadata"]["name"])
    elif mode == "etcd-voters":
        want = int(sys.argv[2])
        members = docs(text)[0]["members"]
        voters = [m for m in members if m.get("name") and not m.get("isLearner")]
        print(f"etcd: {len(members)} members, {len(voters)} started voters", file=sys.stderr)
        sys.exit(0 if len(voters) == want and len(members) == want else 1)
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
