#!/usr/bin/python3
"""Makes a two-platform image index by hand in a plain-HTTP registry, for RegistryTests.swift:
the image at SRC (linux/amd64) and a copy whose config says linux/arm64 (same layers), listed in
an OCI index pushed as DEST. Prints the arm64 config digest.

usage: make-index.py HOST:PORT SRC-REPO SRC-TAG DEST-REPO DEST-TAG
"""
import hashlib, json, sys, urllib.request

host, src, src_tag, dest, dest_tag = sys.argv[1:6]
base = f"http://{host}/v2"
ACCEPT = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"


def request(method, url, data=None, headers=None):
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    with urllib.request.urlopen(req) as resp:
        return resp.status, dict(resp.headers), resp.read()


def digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def put_blob(repo, data):
    d = digest(data)
    _, headers, _ = request("POST", f"{base}/{repo}/blobs/uploads/", b"")
    location = headers["Location"]
    if location.startswith("/"):
        location = f"http://{host}{location}"
    sep = "&" if "?" in location else "?"
    request("PUT", f"{location}{sep}digest={d}", data, {"Content-Type": "application/octet-stream"})
    return d


def put_manifest(repo, ref, data, media_type):
    request("PUT", f"{base}/{repo}/manifests/{ref}", data, {"Content-Type": media_type})


_, headers, manifest_bytes = request("GET", f"{base}/{src}/manifests/{src_tag}", headers={"Accept": ACCEPT})
manifest = json.loads(manifest_bytes)
media_type = manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")
_, _, config_bytes = request("GET", f"{base}/{src}/blobs/{manifest['config']['digest']}")
for layer in manifest["layers"]:
    request("POST", f"{base}/{dest}/blobs/uploads/?mount={layer['digest']}&from={src}", b"")
put_blob(dest, config_bytes)
config = json.loads(config_bytes)
config["architecture"] = "arm64"
arm_config = json.dumps(config, separators=(",", ":")).encode()
arm_config_digest = put_blob(dest, arm_config)
arm = dict(manifest)
arm["config"] = dict(manifest["config"], digest=arm_config_digest, size=len(arm_config))
arm_bytes = json.dumps(arm, separators=(",", ":")).encode()
put_manifest(dest, digest(manifest_bytes), manifest_bytes, media_type)
put_manifest(dest, digest(arm_bytes), arm_bytes, media_type)
index = {
    "schemaVersion": 2,
    "mediaType": "application/vnd.oci.image.index.v1+json",
    "manifests": [
        {"mediaType": media_type, "digest": digest(manifest_bytes), "size": len(manifest_bytes),
         "platform": {"os": "linux", "architecture": "amd64"}},
        {"mediaType": media_type, "digest": digest(arm_bytes), "size": len(arm_bytes),
         "platform": {"os": "linux", "architecture": "arm64"}},
    ],
}
put_manifest(dest, dest_tag, json.dumps(index).encode(), "application/vnd.oci.image.index.v1+json")
print(arm_config_digest)
