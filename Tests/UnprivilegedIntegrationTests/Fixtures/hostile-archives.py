#!/usr/bin/python3
"""Writes hostile image inputs for HostileImportTests.swift: raw layers, `docker save` archives
and OCI layouts (as directories and as tars), each with what `zr import` must do with it.

usage: hostile-archives.py OUTDIR
       hostile-archives.py --peak-rss COMMAND [ARG...]

The second form runs COMMAND and, after its own output, prints `peak-rss-kib N` (the largest
resident set any process it waited for reached) on standard error, with COMMAND's exit status.

OUTDIR/cases.json lists the cases: {"name", "path", "args" (extra zr import arguments), "env"
(extra environment), "expect": "refuse" or "import", "message" (a substring of the error, for
refusals)}.
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


def add(name, path, expect, message=None, args=None, env=None):
    CASES.append({"name": name, "path": path, "expect": expect, "message": message, "args": args or [],
                  "env": env or {}})


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


UP = "../" * 40
CANARY = os.path.join(OUTSIDE, "canary")


def hostile_layers():
    """Raw layers whose entries aim outside the image root (traversal, symlink and hard-link
    escapes), special files, forged reserved attributes, names the kernel refuses and bombs.
    The canaries in OUTSIDE are where an escape would land: the test checks them afterwards."""
    refused = {
        "dotdot-to-canary": ([member(UP + CANARY.lstrip("/"), data=b"owned\n")], "canary"),
        "dotdot-inside-name": ([member("a/../../x", data=b"x")], "a/../../x"),
        "hardlink-dotdot": ([member("hlink-escape", "hardlink", link=UP + CANARY.lstrip("/"))], "hlink-escape"),
        "hardlink-host-path": ([member("hlink-abs", "hardlink", link=CANARY)], "hlink-abs"),
        "hardlink-through-symlink": ([member("s", "symlink", link=OUTSIDE), member("hlink-s", "hardlink", link="s/canary")], "hlink-s"),
        "hardlink-missing": ([member("hlink-none", "hardlink", link="nowhere")], "hlink-none"),
        "hardlink-directory": ([member("d/", "dir", mode=0o755), member("hlink-dir", "hardlink", link="d")], "hlink-dir"),
        "symlink-host-dir-write": ([member("escape", "symlink", link=OUTSIDE), member("escape/canary", data=b"owned\n")], "escape/canary"),
        "symlink-dotdot-write": ([member("e2", "symlink", link=UP + OUTSIDE.lstrip("/")), member("e2/canary", data=b"owned\n")], "e2/canary"),
        "symlink-loop": ([member("a", "symlink", link="b"), member("b", "symlink", link="a"), member("a/f", data=b"x")], "a/f"),
        "symlink-empty-target": ([member("empty", "symlink", link="")], "empty"),
        "whiteout-dotdot": ([member(".wh..", data=b"")], ".wh.."),
        "giant-name": ([member("dir/" + "n" * 300, data=b"x")], "dir/nnnn"),
        # A whiteout below a symlink to the host: resolved in the image, the parent is missing.
        "whiteout-through-host-symlink": ([member("s", "symlink", link=OUTSIDE), member("s/.wh.canary", data=b"")], "does not exist in the image"),
        "opaque-through-host-symlink": ([member("s", "symlink", link=OUTSIDE), member("s/.wh..wh..opq", data=b"")], "does not exist in the image"),
    }
    for label, (members, message) in refused.items():
        add(f"layer-{label}", write_raw(f"layer-{label}", tar(members)), "refuse", message, ["layer:1"])
    imported = {
        "absolute-names": [member("/abs/file", data=b"in"), member("//double/slash", data=b"in")],
        "symlink-to-root-parent": [member("up", "symlink", link="/"), member("up/evil", data=b"in")],
        "symlink-clamped": [member("d/", "dir", mode=0o755), member("d/up", "symlink", link="../../../../"), member("d/up/evil", data=b"in")],
        "file-replaces-host-symlink": [member("f", "symlink", link=CANARY), member("f", data=b"new")],
        "hardlink-to-host-symlink": [member("s", "symlink", link=CANARY), member("h", "hardlink", link="s")],
        "devices": [member("dev/", "dir", mode=0o755), member("dev/null", "char", mode=0o666, dev=(1, 3)),
                    member("dev/zero-as-file", "char", mode=0o666, dev=(1, 5)), member("dev/sda", "block", mode=0o660, dev=(8, 0))],
        "fifo": [member("run/initctl", "fifo", mode=0o600)],
        "setuid-and-odd-modes": [member("bin/su", data=b"#!", mode=0o4755), member("bin/none", data=b"", mode=0o000),
                                 member("locked/", "dir", mode=0o000), member("locked/f", data=b"x")],
        "forged-owner-record": [member("etc/shadow", data=b"root:*:1::::::\n", pax={"SCHILY.xattr.user.zr.owner": "0:0"})],
        "forged-device-record": [member("dev-placeholder", data=b"", pax={"SCHILY.xattr.user.zr.device": "c 1 5"})],
        "foreign-xattrs": [member("f", data=b"x", pax={"SCHILY.xattr.trusted.overlay.opaque": "y",
                                                       "SCHILY.xattr.security.selinux": "system_u:object_r:shadow_t:s0"})],
        "huge-owner-ids": [member("f", data=b"x", uid=4294967294, gid=4294967294)],
        "duplicate-entries": [member("same", data=str(i).encode()) for i in range(1000)],
        "many-files": [member(f"m/{i // 100}/{i}", data=b"") for i in range(20000)],
        "deep-directories": [member("/".join(["d"] * 1000) + "/f", data=b"x")],
        "directory-over-file": [member("x", data=b"file"), member("x/", "dir", mode=0o755), member("x/y", data=b"in")],
    }
    for label, members in imported.items():
        add(f"layer-{label}", write_raw(f"layer-{label}", tar(members)), "import", None, [f"layer-{label}:1"])
    # Bombs: a few hundred KB that inflate to 256 MiB, against a 64 MiB layer limit.
    zeros = tar([member("zeros", data=bytes(256 << 20))])
    for label, blob in {"gzip": gz(zeros), "zstd": zstd(zeros)}.items():
        add(f"layer-bomb-{label}", write_raw(f"layer-bomb-{label}", blob), "refuse", "ZR_MAX_LAYER_SIZE", ["bomb:1"],
            {"ZR_MAX_LAYER_SIZE": "64M"})
    add("layer-not-a-tar", write_raw("layer-not-a-tar", bytes((i * 7919) & 0xFF for i in range(4096))), "refuse",
        "layer-not-a-tar", ["garbage:1"])
    # A root filesystem that ships a manifest.json of its own is not a docker archive.
    rootfs = tar([member("etc/", "dir", mode=0o755), member("etc/hello", data=b"hi\n"),
                  member("manifest.json", data=b'{"name": "app", "version": "1.0"}\n')])
    add("rootfs-with-manifest-json", write_raw("rootfs-with-manifest-json", rootfs), "import", None, ["rootfs:1"])


def special_archive_members():
    """Docker archives, as tars, whose manifest or layer entry is not a regular file: a device
    (unprivileged unpacking cannot make it; it must never stand in for the file), a hard link
    out of the archive, a hard link to another member."""
    d = docker_archive("docker-special-base", [(GOOD_LAYER, GOOD_LAYER)])
    names = sorted(os.path.relpath(os.path.join(r, f), d) for r, _, fs in os.walk(d) for f in fs)
    def pack_with(label, target, info, message):
        members = []
        for n in names:
            if n == target:
                i = info(n)
                members.append((i, b""))
            else:
                with open(os.path.join(d, n), "rb") as f:
                    members.append(member(n, data=f.read()))
        path = os.path.join(OUT, f"docker-special-{label}.tar")
        write(path, tar(members))
        add(f"docker-special-{label}", path, "refuse", message)
    for target, short in (("l0/layer.tar", "layer"), ("manifest.json", "manifest")):
        pack_with(f"{short}-chardev", target, lambda n: member(n, "char", dev=(1, 5))[0], target)
        pack_with(f"{short}-blockdev", target, lambda n: member(n, "block", dev=(8, 0))[0], target)
        pack_with(f"{short}-hardlink-out", target, lambda n: member(n, "hardlink", link=UP + CANARY.lstrip("/"))[0], target)
        pack_with(f"{short}-symlink-abs", target, lambda n: member(n, "symlink", link=CANARY)[0], target)


def more_bad_names():
    layers = [(GOOD_LAYER, GOOD_LAYER)]
    for label, tag in {"too-long": "a" * 300 + ":1", "control-chars": "evil\n:1",
                       "tag-too-long": "ok:" + "t" * 200, "dot-dot-component": "a/../b:1"}.items():
        d = docker_archive(f"docker-name-{label}", layers, tags=(tag,))
        add(f"docker-name-{label}", d, "refuse", "is not an image name")


def peak_rss(argv):
    import resource
    status = subprocess.run(argv).returncode
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(f"peak-rss-kib {peak}", file=sys.stderr)
    sys.exit(status if status >= 0 else 128 - status)


if OUT == "--peak-rss":
    peak_rss(sys.argv[2:])
os.makedirs(OUT, exist_ok=True)
canaries()
bad_compression()
escaping_archive_paths()
corrupt_checksums()
huge_sizes()
bad_names()
hostile_layers()
special_archive_members()
more_bad_names()
with open(os.path.join(OUT, "cases.json"), "w") as f:
    json.dump(CASES, f, indent=1)
print(len(CASES))
