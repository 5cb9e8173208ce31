// --container-save=PATH: at the end of the step, the node's container root is written as a
// SquashFS file at PATH (pyxis's option), atomically: mksquashfs writes a temporary name in
// PATH's directory, which is renamed over PATH only once it is complete.
//
// It runs in slurmstepd (root) when the node's last task has exited, while the holder still
// keeps the container's namespaces. Everything is done by a child that has become the job's user first:
// root never reads a tree the user controls, and the user can only save what the user can
// read. The container's root is reached through /proc/HOLDER/root (the holder is the user's
// own, dumpable process), so the host's mksquashfs runs with the host's libraries. Every mount
// point of the container but its root (/proc, /sys, /dev, /tmp, the home directory, the binds)
// is excluded with its contents, read from /proc/HOLDER/mountinfo: -one-file-system cannot
// tell them, as overlayfs reports the underlying filesystem's device for files that are not
// directories.
#if __has_include(<slurm/spank.h>)  /* see zeroroot.c */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *zr_mksquashfs(void) {
    static const char *candidates[] = {"/usr/bin/mksquashfs", "/usr/sbin/mksquashfs", "/usr/local/bin/mksquashfs", NULL};
    for (const char **c = candidates; *c != NULL; c++)
        if (access(*c, X_OK) == 0) return *c;
    return NULL;
}

int zr_save_check(const char *path, char *message, size_t msize) {
    if (path[0] != '/') {
        snprintf(message, msize, "--container-save %s: must be an absolute path (the nodes write it)", path);
        return -1;
    }
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        snprintf(message, msize, "--container-save %s: is a directory (give the SquashFS file's path)", path);
        return -1;
    }
    char copy[PATH_MAX];
    snprintf(copy, sizeof copy, "%s", path);
    const char *dir = dirname(copy);
    if (access(dir, W_OK | X_OK) != 0) {
        snprintf(message, msize, "--container-save %s: cannot write in %s: %s", path, dir, strerror(errno));
        return -1;
    }
    if (zr_mksquashfs() == NULL) {
        snprintf(message, msize, "--container-save %s: mksquashfs is not installed (squashfs-tools)", path);
        return -1;
    }
    return 0;
}

/// The mount points of the holder's namespace below its root, as mksquashfs -e paths (relative
/// to the root), into `out` (at most `max`); their count, or -1.
static int zr_mount_points(pid_t holder, char **out, int max) {
    char path[64], line[8192];
    snprintf(path, sizeof path, "/proc/%d/mountinfo", (int)holder);
    FILE *f = fopen(path, "re");
    if (f == NULL) return -1;
    int n = 0;
    while (n < max && fgets(line, sizeof line, f) != NULL) {
        // Field 5 is the mount point, with space, tab, newline and backslash as \ooo.
        char *field = line;
        for (int i = 0; i < 4 && field != NULL; i++) field = strchr(field, ' ') ? strchr(field, ' ') + 1 : NULL;
        if (field == NULL) continue;
        char *end = strchr(field, ' ');
        if (end != NULL) *end = '\0';
        char point[PATH_MAX];
        size_t k = 0;
        for (const char *c = field; *c != '\0' && k + 1 < sizeof point; c++) {
            if (c[0] == '\\' && c[1] >= '0' && c[1] <= '3' && c[2] >= '0' && c[2] <= '7' && c[3] >= '0' && c[3] <= '7') {
                point[k++] = (char)((c[1] - '0') * 64 + (c[2] - '0') * 8 + (c[3] - '0'));
                c += 3;
            } else {
                point[k++] = *c;
            }
        }
        point[k] = '\0';
        if (strcmp(point, "/") == 0 || point[0] != '/') continue;
        out[n] = strdup(point + 1);
        if (out[n] == NULL) break;
        n++;
    }
    fclose(f);
    return n;
}

/// The child's work, as the user: mksquashfs into a temporary name, then rename. Its exit
/// status says what failed (logged by the parent).
static void zr_save_child(pid_t holder, uid_t uid, gid_t gid, const char *path) {
    if (setgroups(0, NULL) != 0 || setresgid(gid, gid, gid) != 0 || setresuid(uid, uid, uid) != 0) _exit(10);
    const char *mksquashfs = zr_mksquashfs();
    if (mksquashfs == NULL) _exit(11);
    char root[64], tmp[PATH_MAX + 32];
    /* the trailing slash: the directory the magic link leads to, not the link itself */
    snprintf(root, sizeof root, "/proc/%d/root/", (int)holder);
    snprintf(tmp, sizeof tmp, "%s.zr-save-%d", path, (int)getpid());
    enum { ZR_MAX_MOUNTS = 4096 };
    char **argv = calloc(ZR_MAX_MOUNTS + 16, sizeof *argv);
    if (argv == NULL) _exit(12);
    int argc = 0;
    argv[argc++] = (char *)mksquashfs;
    argv[argc++] = root;
    argv[argc++] = tmp;
    argv[argc++] = "-noappend";
    argv[argc++] = "-quiet";
    argv[argc++] = "-no-progress";
    // Extended attributes read through /proc/PID/root fail (ENOENT) for overlayfs entries,
    // and an image's user.* attributes are not what a container root is saved for.
    argv[argc++] = "-no-xattrs";
    argv[argc++] = "-e"; /* the rest are excluded paths */
    int points = zr_mount_points(holder, argv + argc, ZR_MAX_MOUNTS);
    if (points < 0) _exit(15);
    if (points == 0) argc--; /* no -e without a path */
    argc += points;
    argv[argc] = NULL;
    // mksquashfs's output is kept, so that a failure's reason reaches the log.
    int out[2];
    if (pipe2(out, O_CLOEXEC) != 0) _exit(12);
    pid_t child = fork();
    if (child < 0) _exit(12);
    if (child == 0) {
        char *envp[] = {"PATH=/usr/bin:/bin", NULL};
        dup2(out[1], 1);
        dup2(out[1], 2);
        if (chdir("/") != 0) _exit(126);
        execve(mksquashfs, argv, envp);
        _exit(127);
    }
    close(out[1]);
    char said[1024] = "";
    size_t have = 0;
    for (;;) {
        char chunk[512];
        ssize_t n = read(out[0], chunk, sizeof chunk);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; i++) {
            if (have + 1 >= sizeof said) { memmove(said, said + 512, have - 512); have -= 512; }
            said[have++] = chunk[i] == '\n' ? ' ' : chunk[i];
        }
    }
    said[have] = '\0';
    close(out[0]);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        slurm_error("zeroroot: --container-save %s: mksquashfs: %s", path, said);
        unlink(tmp);
        _exit(13);
    }
    if (rename(tmp, path) != 0) {
        unlink(tmp);
        _exit(14);
    }
    _exit(0);
}

int zr_save_container(pid_t holder, uid_t uid, gid_t gid, const char *path) {
    if (holder <= 1 || uid == 0) return -1;
    pid_t child = fork();
    if (child < 0) {
        slurm_error("zeroroot: --container-save %s: fork: %m", path);
        return -1;
    }
    if (child == 0) zr_save_child(holder, uid, gid, path);
    int status = 0;
    while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        slurm_info("zeroroot: container saved to %s", path);
        return 0;
    }
    static const char *why[] = {[10] = "cannot become the job's user", [11] = "mksquashfs is not installed",
                                [12] = "fork failed", [13] = "mksquashfs failed", [14] = "rename failed",
                                [15] = "cannot read the container's mounts"};
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 0;
    slurm_error("zeroroot: --container-save %s: %s (status %d)", path,
                code >= 10 && code <= 15 ? why[code] : "the saving process died", status);
    return -1;
}
#endif
