// --container-build: the step's image is built on the node, by the first local task, with
// `zr build` run as the task's user (the task is single-threaded and unprivileged here). Its
// output goes to the task's stderr, so the user sees the build in srun's output.
#if __has_include(<slurm/spank.h>)  /* see zeroroot.c */
#include "shim.h"
#include "zr_spank_bridge.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/// The zr to run: the plugstack's zr=PATH, else /usr/local/bin/zr, else the job's PATH (from
/// the task's job environment, or srun's own environment when `sp` is NULL).
int zr_find_zr(spank_t sp, char *out, size_t size) {
    if (zr_conf.zr[0] != '\0') {
        snprintf(out, size, "%s", zr_conf.zr);
        return access(out, X_OK);
    }
    snprintf(out, size, "/usr/local/bin/zr");
    if (access(out, X_OK) == 0) return 0;
    char path[4096];
    if (sp != NULL) {
        if (spank_getenv(sp, "PATH", path, sizeof path) != ESPANK_SUCCESS) return -1;
    } else {
        const char *env = getenv("PATH");
        if (env == NULL || strlen(env) >= sizeof path) return -1;
        snprintf(path, sizeof path, "%s", env);
    }
    for (char *dir = strtok(path, ":"); dir != NULL; dir = strtok(NULL, ":")) {
        if (dir[0] != '/') continue;
        snprintf(out, size, "%s/zr", dir);
        if (access(out, X_OK) == 0) return 0;
    }
    return -1;
}

/// NAME=VALUE from the job's environment into `env` (at most `max` entries), if set.
static void zr_pass_env(spank_t sp, const char *name, char **env, int *count, int max) {
    char value[4096];
    if (*count >= max || spank_getenv(sp, name, value, sizeof value) != ESPANK_SUCCESS) return;
    size_t len = strlen(name) + strlen(value) + 2;
    char *item = malloc(len);
    if (item == NULL) return;
    snprintf(item, len, "%s=%s", name, value);
    env[(*count)++] = item;
}

/// Runs `zr ARGS...` and waits. In a task (`sp` set): as the task's user with the job's
/// environment (proxies, credentials' HOME) and ZR_STORAGE. In srun (`sp` NULL): with srun's
/// own environment and ZR_STORAGE. Output goes to stderr (or nowhere, `quiet`); standard
/// output to `out` instead when that is not -1. Returns the wait status, or -1 with a reason
/// in `message`.
static int zr_run_zr_to(spank_t sp, const char *storage, char **args, int quiet, int out, char *message, size_t msize) {
    extern char **environ;
    char zr[PATH_MAX], storage_env[PATH_MAX + 16];
    char *argv[16] = {0};
    char **env = NULL;
    int envc = 0, status = -1, owned_from = 1;
    if (zr_find_zr(sp, zr, sizeof zr) != 0) {
        snprintf(message, msize, "no zr program (install it in /usr/local/bin or on PATH, or set plugstack zr=PATH)");
        return -1;
    }
    argv[0] = zr;
    for (int i = 0; args[i] != NULL && i < 14; i++) argv[i + 1] = args[i];
    snprintf(storage_env, sizeof storage_env, "ZR_STORAGE=%s", storage);
    size_t outer = 0;
    if (sp == NULL) while (environ[outer] != NULL) outer++;
    env = calloc(outer + 24, sizeof *env);
    if (env == NULL) {
        snprintf(message, msize, "out of memory");
        return -1;
    }
    env[envc++] = storage_env;
    if (sp == NULL) {
        /* srun's environment is the user's own: pass it on (not ours to free) */
        for (size_t i = 0; i < outer; i++)
            if (strncmp(environ[i], "ZR_STORAGE=", 11) != 0) env[envc++] = environ[i];
        owned_from = envc;
    } else {
        const char *passed[] = {"PATH", "HOME", "USER", "LANG", "TMPDIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                                "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "DOCKER_CONFIG",
                                "ZR_INSECURE_REGISTRIES", "ZR_CONSISTENCY"};
        for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++) zr_pass_env(sp, passed[i], env, &envc, 23);
    }
    pid_t child = fork();
    if (child < 0) {
        snprintf(message, msize, "fork: %s", strerror(errno));
        goto out;
    }
    if (child == 0) {
        if (quiet) {
            int null = open("/dev/null", O_RDWR);
            if (null >= 0) { dup2(null, 1); dup2(null, 2); }
        } else {
            dup2(2, 1); /* all output on stderr */
        }
        if (out != -1) dup2(out, 1);
        execve(zr, argv, env);
        _exit(127);
    }
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
out:
    for (int i = owned_from; i < envc; i++) free(env[i]);
    free(env);
    return status;
}

static int zr_run_zr(spank_t sp, const char *storage, char **args, int quiet, char *message, size_t msize) {
    return zr_run_zr_to(sp, storage, args, quiet, -1, message, msize);
}

static void zr_status_text(int status, char *out, size_t size) {
    if (WIFEXITED(status)) snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    else snprintf(out, size, "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/// Runs zr; 0 if it exited 0, else -1 with "WHAT: zr ... failed (status; its output is above)".
static int zr_run_checked(spank_t sp, const char *storage, char **args, const char *what, char *message, size_t msize) {
    char how[64], reason[ZR_MESSAGE_SIZE];
    int status = zr_run_zr(sp, storage, args, 0, reason, sizeof reason);
    if (status == -1) {
        snprintf(message, msize, "%s: %s", what, reason);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    zr_status_text(status, how, sizeof how);
    snprintf(message, msize, "%s: zr %s failed (%s; its output is above)", what, args[0], how);
    return -1;
}

/// Whether the store has `image` (zr inspect): 1 or 0, or -1 with a reason in `message`.
static int zr_has_image(spank_t sp, const char *storage, const char *image, char *message, size_t msize) {
    char *inspect[] = {"inspect", (char *)image, NULL};
    int status = zr_run_zr(sp, storage, inspect, 1, message, msize);
    if (status == -1) return -1;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/// `zr pull --quiet REF`; 0, or -1 with a reason in `message`.
static int zr_pull(spank_t sp, const char *storage, const char *image, char *message, size_t msize) {
    char *pull[] = {"pull", "--quiet", (char *)image, NULL};
    char what[512];
    snprintf(what, sizeof what, "--container-image %s", image);
    return zr_run_checked(sp, storage, pull, what, message, msize);
}

/// What --container-build SPEC builds: the context directory, the Dockerfile if SPEC names
/// one, and the image name `srun-build:JOB-HASH`. The name depends only on the job and the
/// spec's real paths, so srun (which may build it once for every node) and each node's first
/// task agree on it without talking to each other.
struct zr_build_spec {
    char context[PATH_MAX], file[PATH_MAX], image[128];
};

static int zr_build_resolve(const char *spec, const char *job, struct zr_build_spec *b, char *message, size_t msize) {
    struct stat st;
    if (realpath(spec, b->context) == NULL || stat(b->context, &st) != 0) {
        snprintf(message, msize, "--container-build %s: %s", spec, strerror(errno));
        return -1;
    }
    b->file[0] = '\0';
    if (S_ISREG(st.st_mode)) {
        snprintf(b->file, sizeof b->file, "%s", b->context);
        char *dir = dirname(b->context); /* modifies context in place */
        memmove(b->context, dir, strlen(dir) + 1);
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(message, msize, "--container-build %s: neither a Dockerfile nor a directory", spec);
        return -1;
    }
    uint64_t hash = 1469598103934665603ULL; /* FNV-1a: a short, stable tag, not a security check */
    for (const char *parts[] = {b->context, "\n", b->file, NULL}, **p = parts; *p != NULL; p++)
        for (const unsigned char *c = (const unsigned char *)*p; *c != '\0'; c++) hash = (hash ^ *c) * 1099511628211ULL;
    snprintf(b->image, sizeof b->image, "srun-build:%s-%012llx", job, (unsigned long long)(hash & 0xffffffffffffULL));
    return 0;
}

static int zr_build_run(spank_t sp, const char *spec, const struct zr_build_spec *b, const char *storage,
                        char *message, size_t msize) {
    char *args[] = {"build", "--progress=plain", "-t", (char *)b->image, b->file[0] ? "-f" : (char *)b->context,
                    b->file[0] ? (char *)b->file : NULL, b->file[0] ? (char *)b->context : NULL, NULL};
    char what[PATH_MAX + 32];
    snprintf(what, sizeof what, "--container-build %s", spec);
    return zr_run_checked(sp, storage, args, what, message, msize);
}

int zr_build_image(spank_t sp, const char *spec, const char *storage, uint32_t job,
                   char *image, size_t isize, char *message, size_t msize) {
    char job_text[16], built[128];
    struct zr_build_spec b;
    if (!zr_conf.builds) {
        snprintf(message, msize, "--container-build: builds are disabled on this cluster (plugstack builds=no)");
        return -1;
    }
    snprintf(job_text, sizeof job_text, "%u", (unsigned)job);
    if (zr_build_resolve(spec, job_text, &b, message, msize) != 0) return -1;
    snprintf(image, isize, "%s", b.image);
    // srun built it once and broadcast it to every node (zr_local_prepare): use that copy.
    if (spank_getenv(sp, "ZR_BUILT_IMAGE", built, sizeof built) == ESPANK_SUCCESS && strcmp(built, b.image) == 0 &&
        zr_has_image(sp, storage, b.image, message, msize) == 1)
        return 0;
    fprintf(stderr, "zeroroot: building %s on this node (zr build -t %s)\n", spec, b.image);
    fflush(stderr);
    return zr_build_run(sp, spec, &b, storage, message, msize);
}

/// `zr cache get` in srun: the step's image as a file of the image cache, published now if
/// the cache lacks it, its path in `path`. 0; 3 when another writer is publishing it; else
/// -1 with a reason in `message`. Both non-zero answers leave the step to the other paths.
static int zr_cache_get(const char *storage, const char *image, const char *source, char *path, size_t psize,
                        char *message, size_t msize) {
    char src[32], cap[64];
    snprintf(src, sizeof src, "--source=%s", source);
    snprintf(cap, sizeof cap, "--max-size=%s", zr_conf.image_cache_max);
    char *args[] = {"cache", "get", "--cache", zr_conf.image_cache, src, (char *)image,
                    zr_conf.image_cache_max[0] ? cap : NULL, NULL};
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        snprintf(message, msize, "pipe: %s", strerror(errno));
        return -1;
    }
    fcntl(pipefd[0], F_SETFD, FD_CLOEXEC);
    int status = zr_run_zr_to(NULL, storage, args, 0, pipefd[1], message, msize);
    close(pipefd[1]);
    size_t n = 0;
    ssize_t got;
    while (n + 1 < psize && (got = read(pipefd[0], path + n, psize - 1 - n)) != 0) {
        if (got < 0) {
            if (errno == EINTR) continue;
            break;
        }
        n += (size_t)got;
    }
    close(pipefd[0]);
    path[n] = '\0';
    path[strcspn(path, "\n")] = '\0';
    if (status == -1) return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 3) return 3;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 || path[0] != '/') {
        char how[64];
        zr_status_text(status, how, sizeof how);
        snprintf(message, msize, "zr cache get %s failed (%s; its output is above)", image, how);
        return -1;
    }
    return 0;
}

/// srun: the step's image made ready once for all the step's nodes. With an image cache
/// (plugstack image_cache=), on any number of nodes: built here if it is a build, then
/// found in or published to the cache (`zr cache get`), and the nodes start from that file
/// (ZR_CACHED_IMAGE in the tasks' environment). Otherwise, or when the cache cannot serve it,
/// inside an allocation of two or more nodes: built or pulled here once and copied to the
/// nodes with `zr bcast` (sbcast's tree fan-out), so the nodes neither build nor pull it N
/// times. An image in no store here (a name only the nodes have) is left to the nodes.
/// -1 with a reason.
int zr_local_prepare(char *message, size_t msize) {
    const char *job = getenv("SLURM_JOB_ID"), *nodes = getenv("SLURM_JOB_NUM_NODES");
    /* only this srun's own results count (a nested srun inherits them) */
    unsetenv("ZR_BUILT_IMAGE");
    unsetenv("ZR_CACHED_IMAGE");
    unsetenv("ZR_CACHED_FOR");
    int bcast = zr_conf.bcast && job != NULL && nodes != NULL && atoi(nodes) >= 2;
    int cache = zr_conf.image_cache[0] != '\0' && (zr_opt.build == NULL || job != NULL);
    if (!bcast && !cache) return 0;
    if (getenv("ZR_BCAST_ACTIVE") != NULL) return 0; /* zr bcast's own steps */
    const char *image = zr_opt.image;
    if (zr_opt.build == NULL && (image == NULL || zr_opt.image_kind == ZR_IMAGE_PATH))
        return 0; /* a directory or SquashFS file: each node reads it (once per node per file) */
    if (zr_opt.build != NULL && !zr_conf.builds) return 0; /* zr_check_local has said so */
    char zr[PATH_MAX], storage[PATH_MAX];
    if (zr_find_zr(NULL, zr, sizeof zr) != 0) return 0; /* no zr here: each node fends for itself */
    const char *template = getenv("ZR_STORAGE");
    if (template == NULL || template[0] == '\0') template = zr_conf.storage;
    if (zr_storage_path(template, storage, sizeof storage, message, msize) != 0) return -1;
    setenv("ZR_BCAST_ACTIVE", "1", 1); /* zr bcast's helper sruns skip this plugin's preparation */
    int rc = -1;
    struct zr_build_spec b;
    if (zr_opt.build != NULL) {
        if (zr_build_resolve(zr_opt.build, job, &b, message, msize) != 0) goto out;
        if (bcast)
            fprintf(stderr, "zeroroot: building %s once for the job's %s nodes (zr build -t %s)\n", zr_opt.build, nodes, b.image);
        else
            fprintf(stderr, "zeroroot: building %s once for the step (zr build -t %s)\n", zr_opt.build, b.image);
        fflush(stderr);
        if (zr_build_run(NULL, zr_opt.build, &b, storage, message, msize) != 0) goto out;
        image = b.image;
    }
    if (cache) {
        char path[PATH_MAX], reason[ZR_MESSAGE_SIZE] = "";
        const char *source = zr_opt.build != NULL || zr_opt.image_kind == ZR_IMAGE_STORE ? "store"
                             : zr_opt.image_kind == ZR_IMAGE_REGISTRY                  ? "registry"
                                                                                       : "auto";
        int got = zr_cache_get(storage, image, source, path, sizeof path, reason, sizeof reason);
        if (got == 0) {
            fprintf(stderr, "zeroroot: %s: the step's nodes start from the image cache's %s\n", image, path);
            setenv("ZR_CACHED_IMAGE", path, 1);
            setenv("ZR_CACHED_FOR", image, 1);
            rc = 0;
            goto out;
        }
        if (got == -1) fprintf(stderr, "zeroroot: warning: image cache: %s; the step starts without it\n", reason);
        fflush(stderr);
    }
    if (!bcast) {
        if (zr_opt.build != NULL) setenv("ZR_BUILT_IMAGE", image, 1);
        rc = 0;
        goto out;
    }
    if (zr_opt.image_kind == ZR_IMAGE_REGISTRY && zr_opt.build == NULL) {
        int have = zr_has_image(NULL, storage, image, message, msize);
        if (have == -1) goto out;
        if (!have) {
            fprintf(stderr, "zeroroot: pulling %s once for the job's %s nodes (zr pull), then zr bcast\n", image, nodes);
            fflush(stderr);
            if (zr_pull(NULL, storage, image, message, msize) != 0) goto out;
        }
    }
    char *bcast_args[] = {"bcast", "--if-present", (char *)image, NULL};
    char what[512];
    snprintf(what, sizeof what, "copying %s to the job's %s nodes", image, nodes);
    if (zr_run_checked(NULL, storage, bcast_args, what, message, msize) != 0) goto out;
    if (zr_opt.build != NULL) setenv("ZR_BUILT_IMAGE", image, 1); /* the tasks' environment: use it */
    rc = 0;
out:
    unsetenv("ZR_BCAST_ACTIVE");
    return rc;
}

int zr_cached_image(spank_t sp, const char *image, uint32_t job, char *out, size_t size) {
    char cached_for[PATH_MAX], job_text[16];
    if (zr_conf.image_cache[0] == '\0') return -1;
    if (spank_getenv(sp, "ZR_CACHED_IMAGE", out, (int)size) != ESPANK_SUCCESS ||
        spank_getenv(sp, "ZR_CACHED_FOR", cached_for, sizeof cached_for) != ESPANK_SUCCESS)
        return -1;
    if (zr_opt.build != NULL) {
        struct zr_build_spec b;
        char ignored[ZR_MESSAGE_SIZE];
        snprintf(job_text, sizeof job_text, "%u", (unsigned)job);
        if (zr_build_resolve(zr_opt.build, job_text, &b, ignored, sizeof ignored) != 0) return -1;
        image = b.image;
    }
    // Only a file under the plugstack's cache, for this step's own image.
    size_t len = strlen(zr_conf.image_cache);
    if (image == NULL || strcmp(cached_for, image) != 0 || strncmp(out, zr_conf.image_cache, len) != 0 ||
        out[len] != '/' || strstr(out, "/../") != NULL)
        return -1;
    return 0;
}

int zr_pull_image(spank_t sp, const char *image, const char *storage, char *message, size_t msize) {
    int have = zr_has_image(sp, storage, image, message, msize);
    if (have == -1) {
        char reason[ZR_MESSAGE_SIZE];
        snprintf(reason, sizeof reason, "%s", message);
        snprintf(message, msize, "--container-image %s is a registry reference, but %s", image, reason);
        return -1;
    }
    if (have) return 0; /* already here (or broadcast by srun) */
    fprintf(stderr, "zeroroot: pulling %s on this node (zr pull)\n", image);
    fflush(stderr);
    return zr_pull(sp, storage, image, message, msize);
}
/// A name without a registry (ubuntu:22.04): the store first, then the default registry, as
/// pyxis reads such a name as a Docker Hub image. Without a zr to pull with, the store's own
/// "not found" (which says what to do) is the answer.
int zr_store_or_pull(spank_t sp, const char *image, const char *storage, char *message, size_t msize) {
    char zr[PATH_MAX];
    int have = zr_spank_has_image(storage, image, message, msize);
    if (have != 0) return have == 1 ? 0 : -1;
    if (zr_find_zr(sp, zr, sizeof zr) != 0) return 0;
    fprintf(stderr, "zeroroot: %s is not in this node's store: pulling it from the default registry (zr pull)\n", image);
    fflush(stderr);
    return zr_pull(sp, storage, image, message, msize);
}
#endif
