// Declarations shared by the shim's files. Every symbol is prefixed zr_; the linker version
// script (slurm/zeroroot.map) exports only the SPANK entry points.
#ifndef ZR_SHIM_H
#define ZR_SHIM_H

#include <limits.h>
#include <pthread.h>
#include <slurm/spank.h>
#include <stdint.h>
#include <sys/types.h>

#define ZR_MESSAGE_SIZE 1024
#define ZR_ENV_SIZE 32768

/// Tri-state option value: unset, or explicitly off/on (pyxis's model), so that defaults can
/// come from plugstack and conflicts are detected.
enum { ZR_UNSET = -1, ZR_OFF = 0, ZR_ON = 1 };

/// The user's options (callbacks fill it, in srun and again in slurmstepd).
struct zr_options {
    char *image;
    /// What --container-image names once read (enum zr_image_kind), set by init_post_opt.
    int image_kind;
    char *mounts;
    char *workdir;
    /// --container-env: names whose host value wins over the image's Env, comma-separated.
    char *env;
    /// --container-name: kept across the job's steps.
    char *name;
    /// --container-build: a Dockerfile or a context directory, built on each node.
    char *build;
    /// --container-devices: CDI device names, comma-separated.
    char *devices;
    /// --container-unshare: net, ipc, uts, comma-separated.
    char *unshare;
    /// --container-save: the SquashFS file the container's root is written to at step end.
    char *save;
    int writable;
    int remap_root;
    int mount_home;
    int root_emulation;
    /// Set by a callback that found a conflict; reported in init_post_opt.
    char conflict[256];
};

/// plugstack.conf arguments (zr_config_parse is the one place that reads them).
struct zr_config {
    /// Store location template: %u user name, %U uid, %% a percent sign.
    char storage[PATH_MAX];
    /// Mounts every container gets, before the user's (SRC[:DST][:ro],...).
    char mounts[4096];
    /// builds=no forbids --container-build.
    int builds;
    /// sbatch=no: the options are not offered to sbatch and salloc.
    int sbatch;
    /// bcast=no: srun does not broadcast images to the allocation's nodes.
    int bcast;
    /// The zr program --container-build runs (zr=PATH); empty: /usr/local/bin/zr, else PATH.
    char zr[PATH_MAX];
    /// CDI spec directories (cdi_dirs=DIR[:DIR...]); empty: /etc/cdi:/var/run/cdi.
    char cdi_dirs[4096];
    /// gpus=auto (1, the default): the GPUs Slurm allocates are given to the container.
    int gpus;
    /// image_cache=DIR: the cluster-wide image cache on a shared filesystem (zr cache); empty: none.
    char image_cache[PATH_MAX];
    /// image_cache_max=SIZE: the cache is pruned to this after a publish; empty: no cap.
    char image_cache_max[32];
    /// store_max=SIZE: each job's epilog brings the node's store under this; empty: no cap.
    char store_max[32];
};

extern struct zr_options zr_opt;
extern struct zr_config zr_conf;

int zr_options_register(spank_t sp);
/// Options the command line did not give, from ZR_CONTAINER_* or PYXIS_CONTAINER_* (srun's
/// environment, or the job's in slurmstepd when `remote`); -1 after logging a bad value.
int zr_options_from_env(spank_t sp, int remote);
/// The first container option given, for "needs --container-image"; NULL if none.
const char *zr_options_without_image(void);
void zr_options_free(void);
/// 0, or -1 after logging which argument is wrong.
int zr_config_parse(int ac, char **av, struct zr_config *conf);
/// Expands the storage template for the calling user; -1 with a reason in `message`.
int zr_storage_path(const char *template, char *out, size_t size, char *message, size_t msize);

/// --container-build: builds `spec` with `zr build -t NAME` as the task's user (output on the
/// task's stderr) unless srun built and broadcast it already, and writes NAME into `image`;
/// -1 with a reason in `message`.
int zr_build_image(spank_t sp, const char *spec, const char *storage, uint32_t job,
                   char *image, size_t isize, char *message, size_t msize);

/// srun inside a multi-node allocation: the image is made ready on this node once (built,
/// pulled, or already in its store) and `zr bcast` copies it to the allocation's nodes, so they
/// neither build nor pull it N times; -1 with a reason in `message` (the step must not start).
int zr_local_prepare(char *message, size_t msize);
/// The cache file srun chose for this step's image (ZR_CACHED_IMAGE, for ZR_CACHED_FOR the
/// image or build it was chosen for), copied to `out`; 0, or -1 when there is none to use.
int zr_cached_image(spank_t sp, const char *image, uint32_t job, char *out, size_t size);
int zr_find_zr(spank_t sp, char *out, size_t size);

/// A registry reference not yet in the store is pulled once (zr pull, as the task's user,
/// output on the task's stderr); -1 with a reason in `message`.
int zr_pull_image(spank_t sp, const char *image, const char *storage, char *message, size_t msize);
/// A store name not in the store is pulled from the default registry when a zr is there to
/// pull it; 0 (found, pulled, or left to the store's "not found"), or -1 with a reason.
int zr_store_or_pull(spank_t sp, const char *image, const char *storage, char *message, size_t msize);

/// --container-save PATH, checked in srun/sbatch: absolute, not a directory, its directory
/// writable, mksquashfs installed; -1 with a reason in `message`.
int zr_save_check(const char *path, char *message, size_t msize);
/// slurmstepd at step end: writes the container that `holder` keeps to `path` as the job's
/// user (atomically); 0, or -1 after logging why.
int zr_save_container(pid_t holder, uid_t uid, gid_t gid, const char *path);

/// The node's shared state for one job step, in an anonymous MAP_SHARED mapping that
/// slurmstepd creates before it forks the tasks, so every local task sees the same one.
enum zr_phase { ZR_PHASE_EMPTY = 0, ZR_PHASE_READY = 1, ZR_PHASE_FAILED = 2 };
struct zr_node {
    pthread_mutex_t lock; /* process-shared, robust: a task that dies holding it is seen */
    int phase;
    pid_t holder;         /* keeps the container's namespaces alive until the step ends */
    pid_t server;         /* a SquashFS image's FUSE server, or -1: stopped with the holder */
    char workdir[PATH_MAX];
    char message[ZR_MESSAGE_SIZE];
    char env[ZR_ENV_SIZE]; /* image Env: NAME=VALUE\0...\0\0 */
};

/// slurmstepd side (root): create before the tasks fork, destroy at exit.
int zr_node_open(struct zr_node **out, int watch[2]);
void zr_node_close(struct zr_node *node, int watch[2], uid_t uid);
/// Task side: lock (a dead previous owner marks the container failed) and unlock.
int zr_node_lock(struct zr_node *node);
void zr_node_unlock(struct zr_node *node);
/// Forks the holder (double fork: it is nobody's child in the task's tree); its pid, or -1.
pid_t zr_holder_start(int watch_fd);

#endif
