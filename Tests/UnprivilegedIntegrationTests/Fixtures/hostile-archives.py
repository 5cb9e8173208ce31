#!/usr/bin/python3
"""Writes hostile image inputs for HostileImportTests.swift: raw layers, `docker save` archives
and OCI layouts (as directories and as tars), each with what `zr import` must do with it.

usage: hostile-archives.py OUTDIR

OUTDIR/cases.json lists the cases: {"name", "path", "args" (extra zr import arguments),
"expect": "refuse" or "import", "message" (a substring of the error, for refusals)}.
OUTDIR/outside/ holds canaries no import may touch, and a host file an archive points a layer at.
"""
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile

OUT = sys.argv[1]
OUTSIDE = os.path.join(OUT, "outside")
CASES = []


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def zstd(data, check=True):
    args = ["zstd", "-q", "-c"] + (["--check"] if check else ["--no-check"])
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, check=True).stdout


def gz(data):
    return gzip.compress(data, mtime=0)


def member(name, kind="file", data=b"", link="", mode=0o644, pax=None, uid=0, gid=0, dev=(0, 0)):
    """One tar member."""
    info = tarfile.TarInfo(name)
    info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE,
                 "hardlink": tarfile.LNKTYPE, "char": tarfile.CHRTYPE, "block": tarfile.BLKTYPE,
                 "fifo": tarfile.FIFOTYPE}[kind]
    info.mode = mode
    info.linkname = link
    info.uid, info.gid = uid, gid
    info.devmajor, info.devminor = dev
    info.mtime = 1_500_000_000
    info.size = len(data)
    if pax:
        info.pax_headers = pax
    return info, data


def tar(members, fmt=tarfile.PAX_FORMAT):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as t:
        for info, data in members:
            t.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return buf.getvalue()


GOOD_LAYER = tar([member("etc/", "dir", mode=0o755), member("etc/hello", data=b"hello\n")])


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def config_for(diff_ids):
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def add(name, path, expect, message=None, args=None):
    CASES.append({"name": name, "path": path, "expect": expect, "message": message, "args": args or []})


def pack(directory):
    """The archive directory as a tar next to it (symlinks and FIFOs kept as entries)."""
    out = directory + ".tar"
    subprocess.run(["tar", "-C", directory, "-cf", out, "."], check=True)
    return out


def docker_archive(name, layers, tags=("hostile:1",), diff_ids=None, tweak=None):
    """A `docker save` directory: layers are (bytes, uncompressed bytes) pairs. `tweak(dir)`
    replaces files afterwards (symlinks, FIFOs, oversized manifests)."""
    d = os.path.join(OUT, name)
    ids = diff_ids or [sha256(raw) for _, raw in layers]
    config = config_for(ids)
    config_name = sha256(config)[7:] + ".json"
    write(os.path.join(d, config_name), config)
    names = []
    for i, (blob, _) in enumerate(layers):
        names.append(f"l{i}/layer.tar")
        write(os.path.join(d, names[-1]), blob)
    manifest = [{"Config": config_name, "RepoTags": list(tags), "Layers": names}]
    write(os.path.join(d, "manifest.json"), json.dumps(manifest).encode())
    if tweak:
        tweak(d)
    return d


def oci_layout(name, layers, ref="hostile:1", media="application/vnd.oci.image.layer.v1.tar", tweak=None):
    """An OCI image layout directory; `tweak(dir, digests)` gets the manifest, config and layer
    digests to replace files by."""
    d = os.path.join(OUT, name)
    blobs = os.path.join(d, "blobs", "sha256")
    config = config_for([sha256(raw) for _, raw in layers])
    write(os.path.join(blobs, sha256(config)[7:]), config)
    descriptors = []
    for blob, _ in layers:
        write(os.path.join(blobs, sha256(blob)[7:]), blob)
        descriptors.append({"mediaType": media, "digest": sha256(blob), "size": len(blob)})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": sha256(config), "size": len(config)},
                           "layers": descriptors}).encode()
    write(os.path.join(blobs, sha256(manifest)[7:]), manifest)
    entry = {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": sha256(manifest), "size": len(manifest)}
    if ref is not None:
        entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
    write(os.path.join(d, "index.json"), json.dumps({"schemaVersion": 2, "manifests": [entry]}).encode())
    write(os.path.join(d, "oci-layout"), b'{"imageLayoutVersion":"1.0.0"}')
    if tweak:
        tweak(d, {"manifest": sha256(manifest), "config": sha256(config), "layers": [x["digest"] for x in descriptors]})
    return d


def blob_path(d, digest):
    return os.path.join(d, "blobs", "sha256", digest[7:])


def replace(path, symlink=None, fifo=False, data=None):
    os.remove(path)
    if symlink is not None:
        os.symlink(symlink, path)
    elif fifo:
        os.mkfifo(path, 0o644)
    else:
        write(path, data)


def canaries():
    write(os.path.join(OUTSIDE, "canary"), b"untouched\n")
    os.makedirs(os.path.join(OUTSIDE, "dir"), exist_ok=True)
    # A host file whose digest an attacker knows: an archive must not import it by symlink.
    write(os.path.join(OUTSIDE, "host-layer.tar"), GOOD_LAYER)


def bad_compression():
    """Empty and truncated layers (the reader once freed itself twice on these)."""
    whole_gz = gz(tar([member("a", data=os.urandom(1 << 16))]))
    whole_zst = zstd(tar([member("a", data=os.urandom(1 << 16))]))
    bad = {"empty": b"", "gzip-header": whole_gz[:6], "gzip-half": whole_gz[: len(whole_gz) // 2],
           "zstd-header": whole_zst[:5], "zstd-half": whole_zst[: len(whole_zst) // 2]}
    for label, blob in bad.items():
        d = docker_archive(f"docker-{label}", [(blob, b"")], diff_ids=[sha256(b"x")])
        add(f"docker-{label}", d, "refuse", "l0/layer.tar")
        add(f"docker-{label}-tar", pack(d), "refuse", "l0/layer.tar")
        o = oci_layout(f"oci-{label}", [(blob, b"")])
        add(f"oci-{label}", o, "refuse", sha256(blob)[7:])
        add(f"raw-{label}", write_raw(f"raw-{label}", blob), "refuse", f"raw-{label}", ["raw:1"])


def corrupt_checksums():
    """Streams that decompress but fail their own checks: gzip CRC-32 and length, zstd frame checksum."""
    raw = tar([member("a", data=b"payload " * 4096)])
    good_gz = gz(raw)
    good_zst = zstd(raw)
    bad = {"gzip-crc": flip(good_gz, -8), "gzip-length": flip(good_gz, -1), "zstd-checksum": flip(good_zst, -1),
           "gzip-trailing-garbage": good_gz + b"garbage"}
    for label, blob in bad.items():
        d = docker_archive(f"docker-{label}", [(blob, raw)])
        add(f"docker-{label}", d, "refuse", "l0/layer.tar")
        o = oci_layout(f"oci-{label}", [(blob, raw)], media="application/vnd.oci.image.layer.v1.tar+gzip")
        add(f"oci-{label}", o, "refuse", sha256(blob)[7:])
        add(f"raw-{label}", write_raw(f"raw-{label}", blob), "refuse", f"raw-{label}", ["raw:1"])
    d = docker_archive("docker-gzip-good", [(good_gz, raw)])
    add("docker-gzip-good", d, "import", None, ["gzip:good"])


def sparse_member(name, realsize, data):
    """A GNU sparse 1.0 pax member: `data` at offset 0, then a hole up to `realsize`."""
    table = f"1\n0\n{len(data)}\n".encode()
    table += b"\0" * (-len(table) % 512)
    info = tarfile.TarInfo(f"./GNUSparseFile.0/{name}")
    info.size = len(table) + len(data)
    info.mtime = 1_500_000_000
    info.mode = 0o644
    info.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0", "GNU.sparse.name": name,
                        "GNU.sparse.realsize": str(realsize)}
    return info, table + data


def huge_sizes():
    """Layers claiming more than the per-layer apparent-size limit (64 GiB unless set)."""
    tib = 1 << 40
    sparse = tar([sparse_member("huge", tib, b"x" * 4096)])
    many = tar([sparse_member(f"part{i}", 20 << 30, b"y") for i in range(4)])
    for label, raw in {"sparse-1tib": sparse, "sparse-4x20gib": many}.items():
        add(f"raw-{label}", write_raw(f"raw-{label}", raw), "refuse", "ZR_MAX_LAYER_SIZE", ["raw:1"])
        add(f"raw-{label}-gzip", write_raw(f"raw-{label}-gzip", gz(raw)), "refuse", "ZR_MAX_LAYER_SIZE", ["raw:1"])
        d = docker_archive(f"docker-{label}", [(raw, raw)])
        add(f"docker-{label}", d, "refuse", "ZR_MAX_LAYER_SIZE")
    small = tar([sparse_member("small", 1 << 30, b"z" * 100)])
    add("raw-sparse-1gib", write_raw("raw-sparse-1gib", small), "import", None, ["sparse:1"])


def flip(data, index):
    out = bytearray(data)
    out[index] ^= 0x55
    return bytes(out)


def write_raw(name, data):
    path = os.path.join(OUT, name + ".layer")
    write(path, data)
    return path


def escaping_archive_paths():
    """Archive files that are symlinks out, FIFOs, devices or too big to read into memory."""
    layers = [(GOOD_LAYER, GOOD_LAYER)]
    host = os.path.join(OUTSIDE, "host-layer.tar")
    huge = b"[" + b" " * (5 << 20) + b"]"
    docker = {
        "manifest-devzero": (lambda d: replace(os.path.join(d, "manifest.json"), symlink="/dev/zero"), "manifest.json"),
        "manifest-fifo": (lambda d: replace(os.path.join(d, "manifest.json"), fifo=True), "a FIFO"),
        "manifest-huge": (lambda d: replace(os.path.join(d, "manifest.json"), data=huge), "more than"),
        "manifest-dir": (lambda d: (os.remove(os.path.join(d, "manifest.json")), os.mkdir(os.path.join(d, "manifest.json"))), "a directory"),
        "layer-devzero": (lambda d: replace(os.path.join(d, "l0/layer.tar"), symlink="/dev/zero"), "l0/layer.tar"),
        "layer-hostfile": (lambda d: replace(os.path.join(d, "l0/layer.tar"), symlink=host), "l0/layer.tar"),
        "layer-climbing-link": (lambda d: replace(os.path.join(d, "l0/layer.tar"), symlink="../../outside/host-layer.tar"), "l0/layer.tar"),
        "layer-fifo": (lambda d: replace(os.path.join(d, "l0/layer.tar"), fifo=True), "a FIFO"),
        "config-devzero": (lambda d: [replace(os.path.join(d, f), symlink="/dev/zero") for f in os.listdir(d) if f.endswith(".json") and f != "manifest.json"], "not in the archive"),
    }
    for label, (tweak, message) in docker.items():
        d = docker_archive(f"docker-{label}", layers, tweak=tweak)
        add(f"docker-{label}", d, "refuse", message)
        if label != "manifest-dir":
            add(f"docker-{label}-tar", pack(d), "refuse", message)
    oci = {
        "index-devzero": (lambda d, g: replace(os.path.join(d, "index.json"), symlink="/dev/zero"), "index.json"),
        "index-huge": (lambda d, g: replace(os.path.join(d, "index.json"), data=huge), "more than"),
        "manifest-devzero": (lambda d, g: replace(blob_path(d, g["manifest"]), symlink="/dev/zero"), "not in the archive"),
        "config-fifo": (lambda d, g: replace(blob_path(d, g["config"]), fifo=True), "a FIFO"),
        "layer-fifo": (lambda d, g: replace(blob_path(d, g["layers"][0]), fifo=True), "a FIFO"),
        "layer-hostfile": (lambda d, g: replace(blob_path(d, g["layers"][0]), symlink=host), "not in the archive"),
    }
    for label, (tweak, message) in oci.items():
        d = oci_layout(f"oci-{label}", layers, tweak=tweak)
        add(f"oci-{label}", d, "refuse", message)
        add(f"oci-{label}-tar", pack(d), "refuse", message)


def bad_names():
    layers = [(GOOD_LAYER, GOOD_LAYER)]
    for label, tag in {"traversal": "../../../../tmp/outside/evil:latest", "absolute": "/etc/passwd",
                       "empty": "", "spaces": "a b:c", "uppercase": "Evil:1"}.items():
        d = docker_archive(f"docker-name-{label}", layers, tags=(tag,))
        add(f"docker-name-{label}", d, "refuse", "is not an image name")
        o = oci_layout(f"oci-name-{label}", layers, ref=tag)
        add(f"oci-name-{label}", o, "refuse", "is not an image name")
    d = docker_archive("docker-name-given", layers, tags=("../../evil",))
    add("docker-name-given", d, "import", None, ["good:1"])


os.makedirs(OUT, exist_ok=True)
canaries()
bad_compression()
escaping_archive_paths()
corrupt_checksums()
huge_sizes()
bad_names()
with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(CASES, f, indent=1)
print(len(CASES))
