// The Swift functions the shim calls (ZRSpank/Bridge.swift, @_cdecl). Each returns 0, or -1
// with a one-line reason in `message`. Call them only where the process is single-threaded
// (srun's init_post_opt, or a task slurmstepd has forked): they may enter namespaces.
#ifndef ZR_SPANK_BRIDGE_H
#define ZR_SPANK_BRIDGE_H

#include <stddef.h>
#include "zr_spank_abi.h"

int zr_spank_check(const struct zr_spank_request *request, char *message, size_t size);
/// `server`: the pid of the container's FUSE server (a SquashFS image mounted in place), or -1;
/// it outlives the calling task, and slurmstepd stops it when the step ends.
int zr_spank_create(const struct zr_spank_request *request, struct zr_spank_buffer workdir,
                    struct zr_spank_buffer env, int *server, char *message, size_t size);
/// `unshare`: the --container-unshare list the creator used (its namespaces are joined too).
int zr_spank_join(int holder, const char *workdir, int root_emulation, const char *unshare, char *message, size_t size);
/// Reads a --container-image value in pyxis's syntax ([USER@][REGISTRY#]IMAGE[:TAG], docker://,
/// dockerd://, paths) and writes the name zeroroot's store and zr use into `out`; returns an
/// enum zr_image_kind, or -1 with the reason in `message`. Pure parsing: safe anywhere.
int zr_spank_image(const char *text, char *out, size_t out_size, char *message, size_t size);
/// Whether the store at `storage` holds image `name` (canonical form): 1, 0, or -1 with a reason.
int zr_spank_has_image(const char *storage, const char *name, char *message, size_t size);
/// Removes the named containers of a finished job from `storage` (job epilog, as the user).
int zr_spank_job_end(const char *storage, unsigned int job_id, char *message, size_t size);
/// plugstack store_max=SIZE: least recently used images removed until the store is at most SIZE.
int zr_spank_store_limit(const char *storage, const char *max, char *message, size_t size);

#endif
