// The C ABI between the Slurm SPANK shim (slurm/shim, C) and its Swift side (ZRSpank).
// Plain C types only, so the shim never sees Swift and Swift never sees Slurm. The functions
// themselves are declared in slurm/shim/include/zr_spank_bridge.h and defined in Swift with
// @_cdecl; each returns 0 or -1 and, on -1, writes a one-line reason into the caller's buffer.
#ifndef ZR_SPANK_ABI_H
#define ZR_SPANK_ABI_H

#include <stddef.h>

#define ZR_SPANK_ABI_VERSION 4

/// One container request, as the user asked for it (options) and the site configured it
/// (plugstack arguments). Strings are NUL-terminated; NULL means "not given".
struct zr_spank_request {
    /// A store image name, or a directory holding a root filesystem (starts with '/' or '.');
    /// NULL only with `name` (an existing named container).
    const char *image;
    /// --container-name: a container kept (writable) across the steps of job `job_id`.
    const char *name;
    unsigned int job_id;
    /// The store directory (already resolved: $ZR_STORAGE or the plugstack default).
    const char *storage;
    /// SRC[:DST][:ro] items separated by ','; site defaults first, then the user's.
    const char *mounts;
    /// Working directory inside; NULL: the image's WorkingDir, else the current directory if
    /// it exists inside, else '/'.
    const char *workdir;
    /// The user's home, bound at the same path; NULL: not bound.
    const char *home;
    /// Slurm's PMIx server directory (PMIX_SERVER_TMPDIR), bound at the same path; NULL: none.
    const char *pmix_dir;
    int writable;
    int remap_root;
    /// Install the zero-consistency seccomp filter in every task (implies remap_root).
    int root_emulation;
    /// --container-devices: CDI device names separated by ','; NULL: none.
    const char *devices;
    /// CDI spec directories separated by ':' (plugstack cdi_dirs=); NULL: /etc/cdi:/var/run/cdi.
    const char *cdi_dirs;
    /// The GPUs Slurm gave the step on this node (SLURM_STEP_GPUS, else SLURM_JOB_GPUS: indices
    /// separated by ','), when the site has plugstack gpus=auto (the default); NULL: none.
    const char *gpus;
    /// NVIDIA_VISIBLE_DEVICES of the job's environment; NULL: unset.
    const char *nvidia_visible;
    /// --container-unshare: namespaces of its own among net, ipc, uts, separated by ','; NULL: none.
    const char *unshare;
    /// NVIDIA_DRIVER_CAPABILITIES of the job's environment; NULL: unset.
    const char *nvidia_capabilities;
};

/// What zr_spank_image found a --container-image value to name (its return value).
enum zr_image_kind {
    /// A directory or a SquashFS file (starts with '/' or '.').
    ZR_IMAGE_PATH = 0,
    /// No registry named (ubuntu:22.04): the store first, then the default registry.
    ZR_IMAGE_STORE_THEN_REGISTRY = 1,
    /// A registry named (nvcr.io#nvidia/cuda, ghcr.io/org/app): pulled unless in the store.
    ZR_IMAGE_REGISTRY = 2,
    /// dockerd://NAME: the store only.
    ZR_IMAGE_STORE = 3,
};

/// A caller-owned output buffer.
struct zr_spank_buffer {
    char *data;
    size_t size;
};

#endif
