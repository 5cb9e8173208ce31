// zeroroot SPANK plugin: `srun --container-image=NAME|DIR` runs the step's tasks in a
// zeroroot container, one per node per step, which every local task joins.
//
// Where each callback runs (spank(8)):
//   slurm_spank_init            everywhere: registers the options, parses plugstack arguments
//   slurm_spank_init_post_opt   srun: checks the option values (through Swift), and in a
//                               multi-node allocation builds/pulls the image once and
//                               broadcasts it (zr bcast);
//                               slurmstepd (root, before the tasks fork): the shared node state
//   slurm_spank_task_init       each task, as the user, single-threaded, before exec: the first
//                               creates the container, the others join it (setns)
//   slurm_spank_exit            slurmstepd: stops the holder, frees the state
//   slurm_spank_job_epilog      slurmd's job epilog (root): removes the job's named containers
//                               and, with store_max=, brings the user's store under the cap
//
// Fail closed (docs/architecture.md): a positive return from task_init is only logged and the command
// then runs on the host, so every failure returns -1 (and the plugin must be `required`).
// Without Slurm's headers (libslurm-dev) the shim compiles to nothing, so that the rest of the
// package still builds; slurm/install then refuses the object (no SPANK entry points).
#if __has_include(<slurm/spank.h>)
#include "shim.h"
#include "zr_spank_bridge.h"

#include <errno.h>
#include <slurm/slurm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

SPANK_PLUGIN(zeroroot, 1)

#if __has_include(<zr_commit.h>)
#include <zr_commit.h> /* #define ZR_COMMIT "…", written by scripts/package */
#endif
#ifndef ZR_COMMIT
#define ZR_COMMIT "unknown"
#endif
// The same version and commit as zr --version (both from Package.swift and scripts/package),
// exported so an admin can tell which build a node loads (slurm/README.md, scripts/test-package).
const char zeroroot_version[] = ZR_VERSION " (commit " ZR_COMMIT ")";

static struct zr_node *zr_node = NULL;
/// The GPUs of the whole step on this node, read before the tasks fork: each task's own
/// SLURM_STEP_GPUS may list only its GPU (--gpus-per-task), and the node's one container needs
/// every task's.
static char zr_step_gpus[1024];
static int zr_watch[2] = {-1, -1};
static uid_t zr_job_uid = (uid_t)-1;
static gid_t zr_job_gid = (gid_t)-1;
/// --container-save is written by the step's first node only (every node would write the same file).
static uint32_t zr_node_id = 0;
static uint32_t zr_local_tasks = 0, zr_tasks_exited = 0;
static uint32_t zr_job_id = 0;

static int zr_check_env_names(const char *list, char *message, size_t size);

int slurm_spank_init(spank_t sp, int ac, char **av) {
    slurm_debug("zeroroot %s", zeroroot_version);
    if (zr_config_parse(ac, av, &zr_conf) != 0) return -1;
    // sbatch=no: sbatch and salloc do not know the options (pyxis's sbatch_support=0).
    if (!zr_conf.sbatch && spank_context() == S_CTX_ALLOCATOR) return 0;
    return zr_options_register(sp);
}

/// The site's default mounts, then the user's.
static char *zr_joined_mounts(void) {
    const char *site = zr_conf.mounts, *user = zr_opt.mounts ? zr_opt.mounts : "";
    size_t len = strlen(site) + strlen(user) + 2;
    char *out = malloc(len);
    if (out != NULL) snprintf(out, len, "%s%s%s", site, (site[0] && user[0]) ? "," : "", user);
    return out;
}

static int zr_check_local(void) {
    char message[ZR_MESSAGE_SIZE] = "";
    int rc = -1;
    char *mounts = NULL;
    if (zr_opt.conflict[0] != '\0') {
        slurm_error("zeroroot: %s", zr_opt.conflict);
        goto fail;
    }
    mounts = zr_joined_mounts();
    if (mounts == NULL) goto fail;
    struct zr_spank_request request = {
        /* a build's image does not exist yet: check the other options against a placeholder */
        .image = zr_opt.build != NULL ? "srun-build" : zr_opt.image, .name = zr_opt.name, .job_id = 0,
        .storage = "/", .mounts = mounts,
        .workdir = zr_opt.workdir,
        .home = NULL, .pmix_dir = NULL, .writable = zr_opt.writable == ZR_ON,
        .remap_root = zr_opt.remap_root == ZR_ON, .root_emulation = zr_opt.root_emulation == ZR_ON,
        .devices = zr_opt.devices, .cdi_dirs = NULL, .gpus = NULL, .nvidia_visible = NULL, .unshare = zr_opt.unshare,
    };
    if (zr_opt.build != NULL && zr_opt.image != NULL) {
        slurm_error("zeroroot: --container-build and --container-image conflict (the build makes the image)");
        goto fail;
    }
    if (zr_opt.build != NULL && !zr_conf.builds) {
        slurm_error("zeroroot: --container-build: builds are disabled on this cluster (plugstack builds=no)");
        goto fail;
    }
    if (zr_opt.save != NULL && zr_save_check(zr_opt.save, message, sizeof message) != 0) {
        slurm_error("zeroroot: %s", message);
        goto fail;
    }
    if (zr_opt.env != NULL && zr_check_env_names(zr_opt.env, message, sizeof message) != 0) {
        slurm_error("zeroroot: %s", message);
        goto fail;
    }
    if (zr_spank_check(&request, message, sizeof message) != 0) {
        slurm_error("zeroroot: %s", message);
        goto fail;
    }
    rc = 0;
fail:
    free(mounts);
    return rc;
}

/// --container-image read in pyxis's syntax, replaced by the name the store and zr use.
static int zr_resolve_image(void) {
    if (zr_opt.image == NULL) return 0;
    char canonical[PATH_MAX], message[ZR_MESSAGE_SIZE] = "";
    int kind = zr_spank_image(zr_opt.image, canonical, sizeof canonical, message, sizeof message);
    if (kind < 0) {
        slurm_error("zeroroot: %s", message);
        return -1;
    }
    char *copy = strdup(canonical);
    if (copy == NULL) return -1;
    free(zr_opt.image);
    zr_opt.image = copy;
    zr_opt.image_kind = kind;
    return 0;
}

int slurm_spank_init_post_opt(spank_t sp, int ac, char **av) {
    (void)ac;
    (void)av;
    int remote = spank_remote(sp);
    // zr bcast's own helper sruns inherit the job's environment but are not container steps.
    char bcast[8];
    int helper = remote ? spank_getenv(sp, "ZR_BCAST_ACTIVE", bcast, sizeof bcast) == ESPANK_SUCCESS
                        : getenv("ZR_BCAST_ACTIVE") != NULL;
    if (!helper && zr_options_from_env(sp, remote) != 0) return -1;
    int checks = spank_context() == S_CTX_LOCAL || spank_context() == S_CTX_ALLOCATOR;
    if (zr_opt.image == NULL && zr_opt.name == NULL && zr_opt.build == NULL) {
        const char *given = zr_options_without_image();
        if (given != NULL && checks) {
            slurm_error("zeroroot: %s needs --container-image (or --container-name of an earlier step, or --container-build)", given);
            return -1;
        }
        return 0;
    }
    if (zr_resolve_image() != 0) return -1;
    // pyxis users get root emulation with --container-remap-root (pyxis's seccomp filter fakes
    // chown and set*id) and a writable root (enroot's): ours is the zero-consistency filter,
    // and a root whose changes go with the step's container, unless --container-readonly.
    if (zr_opt.remap_root == ZR_ON) {
        zr_opt.root_emulation = ZR_ON;
        if (zr_opt.writable == ZR_UNSET) zr_opt.writable = ZR_ON;
    }
    if (checks) {
        if (zr_check_local() != 0) return -1;
        if (spank_context() == S_CTX_ALLOCATOR) return 0; /* sbatch/salloc: the steps do the work */
        char message[ZR_MESSAGE_SIZE] = "";
        if (zr_local_prepare(message, sizeof message) != 0) {
            slurm_error("zeroroot: %s; the step does not start", message);
            return -1;
        }
        return 0;
    }
    if (!spank_remote(sp)) return 0;

    uint32_t step = 0;
    if (spank_get_item(sp, S_JOB_STEPID, &step) != ESPANK_SUCCESS) {
        slurm_error("zeroroot: cannot get the step id");
        return -1;
    }
    // The batch step's task_init would pivot the batch shell into the container and its
    // script in the spool dir would vanish; the extern step has no user command.
    if (step == SLURM_BATCH_SCRIPT || step == SLURM_EXTERN_CONT) return 0;
    if (zr_opt.conflict[0] != '\0') {
        slurm_error("zeroroot: %s", zr_opt.conflict);
        return -1;
    }
    if (spank_get_item(sp, S_JOB_UID, &zr_job_uid) != ESPANK_SUCCESS || spank_get_item(sp, S_JOB_GID, &zr_job_gid) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_NODEID, &zr_node_id) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_LOCAL_TASK_COUNT, &zr_local_tasks) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_ID, &zr_job_id) != ESPANK_SUCCESS) {
        slurm_error("zeroroot: cannot get the job's uid and id");
        return -1;
    }
    return zr_node_open(&zr_node, zr_watch);
}

/// slurmstepd, as the user, once per node before the tasks fork: the step's environment still
/// has the step's GPUs, not one task's.
int slurm_spank_user_init(spank_t sp, int ac, char **av) {
    (void)ac;
    (void)av;
    if (zr_node == NULL || !zr_conf.gpus) return 0;
    if (spank_getenv(sp, "SLURM_STEP_GPUS", zr_step_gpus, sizeof zr_step_gpus) != ESPANK_SUCCESS)
        zr_step_gpus[0] = '\0';
    slurm_debug("zeroroot: step GPUs on this node: %s", zr_step_gpus[0] ? zr_step_gpus : "none");
    return 0;
}

/// Copies a job environment variable; NULL if unset. `buf` holds at least PATH_MAX bytes.
static const char *zr_getenv(spank_t sp, const char *name, char *buf, int size) {
    if (spank_getenv(sp, name, buf, size) != ESPANK_SUCCESS || buf[0] == '\0') return NULL;
    return buf;
}

/// --container-env NAME[,NAME...]: each a shell variable name.
static int zr_check_env_names(const char *list, char *message, size_t size) {
    const char *p = list;
    while (*p != '\0') {
        size_t n = strcspn(p, ",");
        int ok = n > 0 && !(p[0] >= '0' && p[0] <= '9');
        for (size_t i = 0; i < n && ok; i++)
            ok = p[i] == '_' || (p[i] >= 'A' && p[i] <= 'Z') || (p[i] >= 'a' && p[i] <= 'z') || (p[i] >= '0' && p[i] <= '9');
        if (!ok) {
            snprintf(message, size, "--container-env: \"%.*s\" is not a variable name", (int)n, p);
            return -1;
        }
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

/// Whether NAME (len bytes) is listed in --container-env.
static int zr_env_kept(const char *name, size_t len) {
    if (zr_opt.env == NULL) return 0;
    for (const char *p = zr_opt.env; *p != '\0';) {
        size_t n = strcspn(p, ",");
        if (n == len && strncmp(p, name, len) == 0) return 1;
        p += n;
        if (*p == ',') p++;
    }
    return 0;
}

/// Applies the image's environment to this task, leaving PMIX_* and SLURM_* exactly as
/// Slurm set them for this rank, and the variables --container-env names as the job has them.
static int zr_apply_env(spank_t sp, const char *env, char *message, size_t size) {
    for (const char *item = env; *item != '\0'; item += strlen(item) + 1) {
        const char *eq = strchr(item, '=');
        if (eq == NULL || eq == item) continue;
        size_t nlen = (size_t)(eq - item);
        if ((nlen >= 5 && strncmp(item, "PMIX_", 5) == 0) || (nlen >= 6 && strncmp(item, "SLURM_", 6) == 0))
            continue;
        if (zr_env_kept(item, nlen)) continue;
        char name[256];
        if (nlen >= sizeof name) continue;
        memcpy(name, item, nlen);
        name[nlen] = '\0';
        if (spank_setenv(sp, name, eq + 1, 1) != ESPANK_SUCCESS) {
            snprintf(message, size, "cannot set %s in the task's environment", name);
            return -1;
        }
    }
    if (spank_setenv(sp, "ZR_RUNNING", "1", 1) != ESPANK_SUCCESS) {
        snprintf(message, size, "cannot set ZR_RUNNING in the task's environment");
        return -1;
    }
    return 0;
}

/// First task of the node: create the container around this process and start the holder.
/// Called with the node lock held.
static int zr_create(spank_t sp, char *message, size_t size) {
    char storage[PATH_MAX], home[PATH_MAX], pmix[PATH_MAX], env_storage[PATH_MAX];
    char *mounts = NULL;
    int rc = -1;
    const char *template = zr_getenv(sp, "ZR_STORAGE", env_storage, sizeof env_storage);
    if (template == NULL) template = zr_conf.storage;
    if (zr_storage_path(template, storage, sizeof storage, message, size) != 0) goto fail;
    const char *home_dir = NULL;
    if (zr_opt.mount_home != ZR_OFF) home_dir = zr_getenv(sp, "HOME", home, sizeof home);
    // Slurm's PMIx plugin (--mpi=pmix) keeps its server directory under the slurmd spool dir;
    // the ranks must see it at the same path.
    const char *pmix_dir = zr_getenv(sp, "PMIX_SERVER_TMPDIR", pmix, sizeof pmix);
    // The GPUs of the step on this node (the gres/gpu plugin's variables), for gpus=auto.
    char step_gpus[1024], nvidia_visible[1024], nvidia_capabilities[256];
    const char *gpus = NULL;
    if (zr_conf.gpus) {
        gpus = zr_step_gpus[0] != '\0' ? zr_step_gpus : zr_getenv(sp, "SLURM_STEP_GPUS", step_gpus, sizeof step_gpus);
        if (gpus == NULL) gpus = zr_getenv(sp, "SLURM_JOB_GPUS", step_gpus, sizeof step_gpus);
    }
    const char *visible = zr_getenv(sp, "NVIDIA_VISIBLE_DEVICES", nvidia_visible, sizeof nvidia_visible);
    const char *capabilities =
        zr_getenv(sp, "NVIDIA_DRIVER_CAPABILITIES", nvidia_capabilities, sizeof nvidia_capabilities);
    mounts = zr_joined_mounts();
    if (mounts == NULL) {
        snprintf(message, size, "out of memory");
        goto fail;
    }
    char built[256], cached[PATH_MAX];
    const char *image = zr_opt.image;
    if (zr_cached_image(sp, zr_opt.image, zr_job_id, cached, sizeof cached) == 0) {
        image = cached; /* srun found or published it in the image cache */
    } else if (zr_opt.build != NULL) {
        if (zr_build_image(sp, zr_opt.build, storage, zr_job_id, built, sizeof built, message, size) != 0)
            goto fail;
        image = built;
    } else if (zr_opt.image_kind == ZR_IMAGE_REGISTRY) {
        if (zr_pull_image(sp, image, storage, message, size) != 0) goto fail;
    } else if (zr_opt.image_kind == ZR_IMAGE_STORE_THEN_REGISTRY) {
        if (zr_store_or_pull(sp, image, storage, message, size) != 0) goto fail;
    }
    struct zr_spank_request request = {
        .image = image, .name = zr_opt.name, .job_id = zr_job_id, .storage = storage, .mounts = mounts,
        .workdir = zr_opt.workdir,
        .home = home_dir, .pmix_dir = pmix_dir, .writable = zr_opt.writable == ZR_ON,
        .remap_root = zr_opt.remap_root == ZR_ON, .root_emulation = zr_opt.root_emulation == ZR_ON,
        .devices = zr_opt.devices, .cdi_dirs = zr_conf.cdi_dirs[0] != '\0' ? zr_conf.cdi_dirs : NULL,
        .gpus = gpus, .nvidia_visible = visible, .unshare = zr_opt.unshare,
        .nvidia_capabilities = capabilities,
    };
    struct zr_spank_buffer workdir = {zr_node->workdir, sizeof zr_node->workdir};
    struct zr_spank_buffer env = {zr_node->env, sizeof zr_node->env};
    int server = -1;
    if (zr_spank_create(&request, workdir, env, &server, message, size) != 0) goto fail;
    zr_node->server = server;
    pid_t holder = zr_holder_start(zr_watch[0]);
    if (holder < 0) {
        snprintf(message, size, "cannot start the namespace holder: %s", strerror(errno));
        goto fail;
    }
    zr_node->holder = holder;
    rc = 0;
fail:
    free(mounts);
    return rc;
}

int slurm_spank_task_init(spank_t sp, int ac, char **av) {
    (void)ac;
    (void)av;
    if (zr_node == NULL) return 0; /* no container asked for, or the batch/extern step */
    char message[ZR_MESSAGE_SIZE] = "";
    int locked = 0;

    if (zr_node_lock(zr_node) != 0) {
        snprintf(message, sizeof message, "cannot lock the node state");
        goto fail;
    }
    locked = 1;
    switch (zr_node->phase) {
    case ZR_PHASE_EMPTY:
        if (zr_create(sp, message, sizeof message) != 0) {
            zr_node->phase = ZR_PHASE_FAILED;
            snprintf(zr_node->message, sizeof zr_node->message, "%s", message);
            goto fail;
        }
        zr_node->phase = ZR_PHASE_READY;
        break;
    case ZR_PHASE_READY: {
        pid_t holder = zr_node->holder;
        zr_node_unlock(zr_node);
        locked = 0;
        if (zr_spank_join(holder, zr_node->workdir, zr_opt.root_emulation == ZR_ON, zr_opt.unshare, message, sizeof message) != 0)
            goto fail;
        break;
    }
    default:
        snprintf(message, sizeof message, "this node's container could not be created: %s", zr_node->message);
        goto fail;
    }
    if (locked) zr_node_unlock(zr_node);
    locked = 0;
    if (zr_apply_env(sp, zr_node->env, message, sizeof message) != 0) goto fail;
    return 0;
fail:
    if (locked) zr_node_unlock(zr_node);
    slurm_error("zeroroot: %s", message);
    return -1;
}

/// Job end, on each node (slurmd, root): the job's named containers go. The removal runs in a
/// child that has become the job's user, so root never walks a directory the user controls.
/// Only the plugstack storage location is known here; containers under a user's own
/// ZR_STORAGE stay until `zr gc --containers`.
int slurm_spank_job_epilog(spank_t sp, int ac, char **av) {
    // The job script context may not have run slurm_spank_init: read the arguments here.
    if (zr_config_parse(ac, av, &zr_conf) != 0) return 0;
    uid_t uid;
    gid_t gid;
    uint32_t job;
    if (spank_get_item(sp, S_JOB_UID, &uid) != ESPANK_SUCCESS || spank_get_item(sp, S_JOB_GID, &gid) != ESPANK_SUCCESS ||
        spank_get_item(sp, S_JOB_ID, &job) != ESPANK_SUCCESS)
        return 0; /* nothing to clean that we could find */
    if (uid == 0) return 0;
    pid_t child = fork();
    if (child < 0) {
        slurm_error("zeroroot: job epilog: fork: %m");
        return 0;
    }
    if (child == 0) {
        char storage[PATH_MAX], message[ZR_MESSAGE_SIZE] = "";
        if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(4);
        if (zr_storage_path(zr_conf.storage, storage, sizeof storage, message, sizeof message) != 0) _exit(5);
        if (access(storage, F_OK) != 0) _exit(6); /* the user has no store here: nothing to do */
        int rc = zr_spank_job_end(storage, job, message, sizeof message);
        if (rc != 0) slurm_error("zeroroot: job epilog: %s", message);
        // store_max=: after the job's containers went, its images are no longer pinned.
        if (zr_conf.store_max[0] != '\0' && zr_spank_store_limit(storage, zr_conf.store_max, message, sizeof message) != 0) {
            slurm_error("zeroroot: job epilog: store_max=%s: %s", zr_conf.store_max, message);
            rc = -1;
        }
        _exit(rc == 0 ? 0 : 3);
    }
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || (WEXITSTATUS(status) != 0 && WEXITSTATUS(status) != 6))
        slurm_error("zeroroot: job epilog: removing job %u's named containers failed (status %d)", job, status);
    return 0;
}

/// slurmstepd, as each task of the node exits: after the last one, --container-save writes the
/// container while the holder still keeps it (once the step's tasks are gone, Slurm's process
/// tracking kills what is left of the step, the holder too, before slurm_spank_exit).
int slurm_spank_task_exit(spank_t sp, int ac, char **av) {
    (void)ac;
    (void)av;
    if (!spank_remote(sp) || zr_node == NULL || zr_opt.save == NULL) return 0;
    if (++zr_tasks_exited != zr_local_tasks || zr_node_id != 0 || zr_node->phase != ZR_PHASE_READY) return 0;
    zr_save_container(zr_node->holder, zr_job_uid, zr_job_gid, zr_opt.save);
    return 0;
}

int slurm_spank_exit(spank_t sp, int ac, char **av) {
    (void)ac;
    (void)av;
    if (spank_remote(sp) && zr_node != NULL) {
        zr_node_close(zr_node, zr_watch, zr_job_uid);
        zr_node = NULL;
    }
    zr_options_free();
    return 0;
}
#endif
