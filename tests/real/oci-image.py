#!/usr/bin/env python3
"""Writes a single-layer OCI image archive that `ctr images import` accepts, for the real tier.

No registry reachable here ships Kubernetes' images, so the harness packs each locally built
binary (with the shared libraries it needs) into an image named as kubeboot's manifests expect.

usage: oci-image.py OUT.tar NAME:TAG [--entrypoint PATH] SRC=DST [SRC=DST ...]
"""
import hashlib, io, json, os, sys, tarfile, time


def blob(data):
    return "sha256:" + hashlib.sha256(data).hexdigest(), data


def main():
    out, ref, files = sys.argv[1], sys.argv[2], sys.argv[3:]
    entrypoint = None
    if files[:1] == ["--entrypoint"]:
        entrypoint, files = [files[1]], files[2:]
    layer_buf = io.BytesIO()
    with tarfile.open(fileobj=layer_buf, mode="w", format=tarfile.PAX_FORMAT) as layer:
        dirs = set()
        for spec in files:
            src, dst = spec.split("=", 1)
            parts = dst.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    ti = tarfile.TarInfo(d)
                    ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o755, 0
                    layer.addfile(ti)
            ti = layer.gettarinfo(os.path.realpath(src), arcname=dst.strip("/"))
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mtime = 0
            with open(src, "rb") as f:
                layer.addfile(ti, f)
        for d in ("tmp", "etc", "var/run", "run"):
            if d not in dirs:
                ti = tarfile.TarInfo(d)
                ti.type, ti.mode, ti.mtime = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755, 0
                layer.addfile(ti)
    layer_digest, layer_data = blob(layer_buf.getvalue())
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin"], "Entrypoint": entrypoint},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    }
    config_digest, config_data = blob(json.dumps(config).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": len(config_data)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": layer_digest, "size": len(layer_data)}],
    }
    manifest_digest, manifest_data = blob(json.dumps(manifest).encode())
    index = {
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest, "size": len(manifest_data),
            "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1]},
        }],
    }
    with tarfile.open(out, "w") as t:
        def add(name, data):
            ti = tarfile.TarInfo(name)
            ti.size, ti.mtime = len(data), int(time.time())
            t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", json.dumps(index).encode())
        for d, data in ((layer_digest, layer_data), (config_digest, config_data), (manifest_digest, manifest_data)):
            add("blobs/sha256/" + d.split(":")[1], data)


if __name__ == "__main__":
    main()
