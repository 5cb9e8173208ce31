// --container-build: the step's image is built on the node, by the first local task, with
// `zr build` run as the task's user (the task is single-threaded and unprivileged here). Its
// output goes to the task's stderr, so the user sees the build in srun's output.
#if __has_include(<slurm/spank.h>)  /* see zeroroot.c */
#include "shim.h"

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

/// Runs `zr ARGS...` as the task's user with the job's environment (proxies, credentials'
/// HOME) and ZR_STORAGE, its output on the task's stderr (or nowhere, `quiet`). Returns the
/// wait status, or -1 with a reason in `message`.
static int zr_run_zr(spank_t sp, const char *storage, char **args, int quiet, char *message, size_t msize) {
    char zr[PATH_MAX], storage_env[PATH_MAX + 16];
    char *env[20] = {0};
    char *argv[16] = {0};
    int envc = 0, status = -1;
    if (zr_find_zr(sp, zr, sizeof zr) != 0) {
        snprintf(message, msize, "no zr program (install it in /usr/local/bin or on PATH, or set plugstack zr=PATH)");
        return -1;
    }
    argv[0] = zr;
    for (int i = 0; args[i] != NULL && i < 14; i++) argv[i + 1] = args[i];
    snprintf(storage_env, sizeof storage_env, "ZR_STORAGE=%s", storage);
    env[envc++] = storage_env;
    const char *passed[] = {"PATH", "HOME", "USER", "LANG", "TMPDIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
                            "http_proxy", "https_proxy", "no_proxy", "SSL_CERT_FILE", "DOCKER_CONFIG",
                            "ZR_INSECURE_REGISTRIES"};
    for (size_t i = 0; i < sizeof passed / sizeof passed[0]; i++) zr_pass_env(sp, passed[i], env, &envc, 19);
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
            dup2(2, 1); /* all output on the task's stderr */
        }
        execve(zr, argv, env);
        _exit(127);
    }
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
out:
    for (int i = 1; i < envc; i++) free(env[i]);
    return status;
}

static void zr_status_text(int status, char *out, size_t size) {
    if (WIFEXITED(status)) snprintf(out, size, "exit status %d", WEXITSTATUS(status));
    else snprintf(out, size, "signal %d", WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

int zr_build_image(spank_t sp, const char *spec, const char *storage, uint32_t job, uint32_t step,
                   char *image, size_t isize, char *message, size_t msize) {
    char context[PATH_MAX], file[PATH_MAX], how[64];
    if (!zr_conf.builds) {
        snprintf(message, msize, "--container-build: builds are disabled on this cluster (plugstack builds=no)");
        return -1;
    }
    struct stat st;
    if (realpath(spec, context) == NULL || stat(context, &st) != 0) {
        snprintf(message, msize, "--container-build %s: %s", spec, strerror(errno));
        return -1;
    }
    file[0] = '\0';
    if (S_ISREG(st.st_mode)) {
        snprintf(file, sizeof file, "%s", context);
        char *dir = dirname(context); /* modifies context in place */
        memmove(context, dir, strlen(dir) + 1);
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(message, msize, "--container-build %s: neither a Dockerfile nor a directory", spec);
        return -1;
    }
    snprintf(image, isize, "srun-build:%u.%u", (unsigned)job, (unsigned)step);
    char *args[] = {"build", "--progress=plain", "-t", image, file[0] ? "-f" : context, file[0] ? file : NULL,
                    file[0] ? context : NULL, NULL};
    fprintf(stderr, "zeroroot: building %s on this node (zr build -t %s)\n", spec, image);
    fflush(stderr);
    int status = zr_run_zr(sp, storage, args, 0, message, msize);
    if (status == -1) {
        char reason[ZR_MESSAGE_SIZE];
        snprintf(reason, sizeof reason, "%s", message);
        snprintf(message, msize, "--container-build: %s", reason);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    zr_status_text(status, how, sizeof how);
    snprintf(message, msize, "--container-build %s: zr build failed (%s; its output is above)", spec, how);
    return -1;
}

void zr_autobcast(void) {
    const char *job = getenv("SLURM_JOB_ID"), *nodes = getenv("SLURM_JOB_NUM_NODES");
    if (!zr_conf.bcast || zr_opt.image == NULL || job == NULL || nodes == NULL || atoi(nodes) < 2) return;
    if (getenv("ZR_BCAST_ACTIVE") != NULL) return; /* zr bcast's own steps */
    if (zr_opt.image[0] == '/' || zr_opt.image[0] == '.') return; /* files: handled on each node */
    char zr[PATH_MAX];
    if (zr_find_zr(NULL, zr, sizeof zr) != 0) return; /* no zr here: each node must have the image */
    pid_t child = fork();
    if (child < 0) return;
    if (child == 0) {
        setenv("ZR_BCAST_ACTIVE", "1", 1);
        char *argv[] = {zr, "bcast", "--if-present", zr_opt.image, NULL};
        execv(zr, argv);
        _exit(127);
    }
    int status;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        slurm_error("zeroroot: zr bcast %s failed; nodes without the image will refuse the step", zr_opt.image);
}

int zr_image_is_reference(const char *image) {
    if (image == NULL || image[0] == '/' || image[0] == '.') return 0;
    const char *slash = strchr(image, '/');
    if (slash == NULL) return 0;
    size_t n = (size_t)(slash - image);
    /* docker's rule: the first component is a registry if it has a '.' or ':' or is localhost */
    return memchr(image, '.', n) != NULL || memchr(image, ':', n) != NULL || (n == 9 && strncmp(image, "localhost", 9) == 0);
}

int zr_pull_image(spank_t sp, const char *image, const char *storage, char *message, size_t msize) {
    char how[64];
    char *inspect[] = {"inspect", (char *)image, NULL};
    int status = zr_run_zr(sp, storage, inspect, 1, message, msize);
    if (status == -1) {
        char reason[ZR_MESSAGE_SIZE];
        snprintf(reason, sizeof reason, "%s", message);
        snprintf(message, msize, "--container-image %s is a registry reference, but %s", image, reason);
        return -1;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0; /* already here */
    fprintf(stderr, "zeroroot: pulling %s on this node (zr pull)\n", image);
    fflush(stderr);
    char *pull[] = {"pull", "--quiet", (char *)image, NULL};
    status = zr_run_zr(sp, storage, pull, 0, message, msize);
    if (status == -1) return -1;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return 0;
    zr_status_text(status, how, sizeof how);
    snprintf(message, msize, "--container-image %s: zr pull failed (%s; its output is above)", image, how);
    return -1;
}
#endif
