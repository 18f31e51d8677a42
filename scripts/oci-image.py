#!/usr/bin/env python3
"""Write the custos OCI image (an OCI image layout directory) without a registry, a
daemon or a base image: one layer holding the binary, the shared libraries `ldd` names
for it, the CA certificates, the shipped policy bundle and playbooks, and passwd/group
entries for the non-root user 65532. No shell, no package manager. Deterministic: file
times are fixed, so the same inputs give the same digests.

usage: oci-image.py BINARY OUT_DIR [--tag TAG]
"""

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

EPOCH = 0
UID = 65532


def libraries(binary):
    """The absolute paths ldd resolves for the binary (the dynamic loader included)."""
    out = subprocess.run(["ldd", binary], check=True, capture_output=True, text=True).stdout
    libs = []
    for line in out.splitlines():
        parts = line.split()
        if "=>" in parts and len(parts) >= 3 and parts[2].startswith("/"):
            libs.append(parts[2])
        elif parts and parts[0].startswith("/"):
            libs.append(parts[0])
    return libs


def add_file(tar, src, dest, mode):
    with open(src, "rb") as f:
        data = f.read()
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.size, info.mode, info.mtime = len(data), mode, EPOCH
    tar.addfile(info, io.BytesIO(data))


def add_bytes(tar, dest, data, mode=0o644):
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.size, info.mode, info.mtime = len(data), mode, EPOCH
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, dest, mode=0o755, owner=0):
    info = tarfile.TarInfo(dest.lstrip("/"))
    info.type, info.mode, info.mtime = tarfile.DIRTYPE, mode, EPOCH
    info.uid = info.gid = owner
    tar.addfile(info)


def layer(binary, repo):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()

        def parents(path):
            parts = path.strip("/").split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/" + "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    add_dir(tar, d)

        entries = [(binary, "/usr/local/bin/custos", 0o755)]
        for lib in libraries(binary):
            entries.append((os.path.realpath(lib), lib, 0o755))
        entries.append(("/etc/ssl/certs/ca-certificates.crt", "/etc/ssl/certs/ca-certificates.crt", 0o644))
        for sub in ["rego/controls", "rego/gate", "playbooks"]:
            for name in sorted(os.listdir(os.path.join(repo, sub))):
                entries.append((os.path.join(repo, sub, name), f"/etc/custos/{sub}/{name}", 0o644))
        for src, dest, mode in sorted(entries, key=lambda e: e[1]):
            parents(dest)
            add_file(tar, src, dest, mode)
        parents("/etc/passwd")
        add_bytes(tar, "/etc/passwd", f"custos:x:{UID}:{UID}:custos:/var/lib/custos:/nonexistent\n".encode())
        add_bytes(tar, "/etc/group", f"custos:x:{UID}:\n".encode())
        parents("/var/lib/custos/x")
        add_dir(tar, "/var/lib/custos", 0o700, UID)
        add_dir(tar, "/tmp", 0o1777)
    tar_bytes = raw.getvalue()
    gz = io.BytesIO()
    with gzip.GzipFile(fileobj=gz, mode="wb", mtime=EPOCH, compresslevel=6) as g:
        g.write(tar_bytes)
    return tar_bytes, gz.getvalue()


def blob(out, data):
    digest = hashlib.sha256(data).hexdigest()
    path = os.path.join(out, "blobs", "sha256")
    os.makedirs(path, exist_ok=True)
    with open(os.path.join(path, digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def main():
    args = sys.argv[1:]
    if len(args) < 2:
        sys.exit(__doc__)
    binary, out = args[0], args[1]
    tag = args[args.index("--tag") + 1] if "--tag" in args else "latest"
    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    tar_bytes, gz_bytes = layer(binary, repo)
    os.makedirs(out, exist_ok=True)
    layer_digest, layer_size = blob(out, gz_bytes)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "User": f"{UID}:{UID}",
            "Entrypoint": ["/usr/local/bin/custos"],
            "Cmd": ["--help"],
            "WorkingDir": "/var/lib/custos",
            "Env": ["SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"],
            "Labels": {"org.opencontainers.image.title": "custos"},
        },
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(tar_bytes).hexdigest()]},
        "history": [{"created_by": "scripts/oci-image.py"}],
    }
    config_digest, config_size = blob(out, json.dumps(config, sort_keys=True).encode())
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": layer_digest, "size": layer_size}],
    }
    manifest_digest, manifest_size = blob(out, json.dumps(manifest, sort_keys=True).encode())
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }],
    }
    with open(os.path.join(out, "index.json"), "w") as f:
        json.dump(index, f, sort_keys=True)
    with open(os.path.join(out, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    print(manifest_digest)


if __name__ == "__main__":
    main()
