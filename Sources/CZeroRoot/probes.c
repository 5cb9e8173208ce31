// Kernel feature probes: each feature zeroroot can use is called once, the way the code that
// needs it calls it, and the errno is the answer. Version numbers say little on distribution
// kernels (Red Hat backports features into 4.18 and 5.14), so nothing here reads uname.
// Calls that change the calling process for good (a seccomp filter, a user namespace) run in a
// forked child, which uses only async-signal-safe calls before _exit.
#include "czeroroot.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/filter.h>
#include <linux/openat2.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// Newer than the headers zeroroot builds against (Linux 6.1): values from the kernel's uapi.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

const unsigned int ZR_PIDFD_THREAD = PIDFD_THREAD;
const unsigned long ZR_SECCOMP_IOCTL_NOTIF_SET_FLAGS = SECCOMP_IOCTL_NOTIF_SET_FLAGS;
const unsigned long ZR_SECCOMP_IOCTL_NOTIF_ADDFD = SECCOMP_IOCTL_NOTIF_ADDFD;
const unsigned long ZR_SECCOMP_FILTER_FLAG_NEW_LISTENER = SECCOMP_FILTER_FLAG_NEW_LISTENER;
const unsigned long ZR_SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV = SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;

static int answer(long rc) { return rc < 0 ? errno : 0; }

int zr_probe_openat2(void) {
    int fd = zr_openat2(AT_FDCWD, "/", O_PATH | O_CLOEXEC, 0, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

// An empty range far above any open descriptor: closes nothing.
int zr_probe_close_range(void) { return answer(syscall(SYS_close_range, UINT_MAX - 1, UINT_MAX - 1, 0)); }

static int pidfd(pid_t pid, unsigned int flags) {
    int fd = (int)syscall(SYS_pidfd_open, pid, flags);
    if (fd < 0) return errno;
    close(fd);
    return 0;
}

int zr_probe_pidfd_open(void) { return pidfd(getpid(), 0); }

// The main thread's id is the process id, so only the flag can make this fail (EINVAL).
int zr_probe_pidfd_thread(void) { return pidfd(getpid(), PIDFD_THREAD); }

// clone3 with a size below the smallest struct clone_args: EINVAL where the call exists,
// ENOSYS where it does not, and no child either way.
int zr_probe_clone3(void) {
    long rc = syscall(SYS_clone3, NULL, 0);
    if (rc >= 0) return 0;
    return errno == EINVAL ? 0 : errno;
}

/// Runs `body` in a forked child and returns what it _exits with (an errno, 0 for success).
static int in_child(int (*body)(const void *), const void *context) {
    pid_t pid = fork();
    if (pid < 0) return errno;
    if (pid == 0) _exit(body(context) & 0xff);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return errno;
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return ECHILD;
}

// The seccomp probes share one child: a filter chain may hold one listener (EBUSY), so the
// listener found first is used for the ioctl probes. Results go back over a pipe.
struct seccomp_probe { int pipe; };

static int seccomp_child(const void *context) {
    const struct seccomp_probe *probe = context;
    int results[4] = {0, 0, 0, 0};  // listener, WAIT_KILLABLE_RECV, ADDFD, SYNC_WAKE_UP
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {.len = 1, .filter = allow};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        results[0] = results[1] = results[2] = results[3] = errno;
    } else {
        long listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                                SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
        results[1] = listener < 0 ? errno : 0;
        if (listener < 0)
            listener = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        results[0] = listener < 0 ? errno : 0;
        if (listener < 0) {
            results[2] = results[3] = results[0];
        } else {
            // No notification has this id: ENOENT means the kernel knows the ioctl (an unknown
            // one is EINVAL).
            struct seccomp_notif_addfd addfd;
            memset(&addfd, 0, sizeof addfd);
            addfd.id = 1;
            addfd.srcfd = 0;
            long rc = ioctl((int)listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
            results[2] = rc < 0 && errno == ENOENT ? 0 : (rc < 0 ? errno : 0);
            rc = ioctl((int)listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP);
            results[3] = rc < 0 ? errno : 0;
        }
    }
    ssize_t written = write(probe->pipe, results, sizeof results);
    return written == (ssize_t)sizeof results ? 0 : EIO;
}

int zr_probe_seccomp(int results[4]) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) return errno;
    struct seccomp_probe probe = {.pipe = fds[1]};
    int rc = in_child(seccomp_child, &probe);
    close(fds[1]);
    ssize_t n = rc == 0 ? read(fds[0], results, 4 * sizeof(int)) : -1;
    close(fds[0]);
    if (rc != 0) return rc;
    return n == (ssize_t)(4 * sizeof(int)) ? 0 : EIO;
}

// The overlay probe: the strings are built before fork, so the child only makes system calls.
struct overlay_probe {
    char setgroups_path[32], uid_map[64], gid_map[64];
    const char *scratch;
    char lower[PATH_MAX], upper[PATH_MAX], work[PATH_MAX], merged[PATH_MAX];
    char options[4 * PATH_MAX + 64];
};

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return errno;
    ssize_t n = write(fd, text, strlen(text));
    int e = n < 0 ? errno : 0;
    close(fd);
    return e;
}

static int overlay_child(const void *context) {
    const struct overlay_probe *p = context;
    if (unshare(CLONE_NEWUSER | CLONE_NEWNS) != 0) return errno;
    int e;
    if ((e = write_file("/proc/self/setgroups", "deny")) != 0) return e;
    if ((e = write_file("/proc/self/uid_map", p->uid_map)) != 0) return e;
    if ((e = write_file("/proc/self/gid_map", p->gid_map)) != 0) return e;
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return errno;
    // A tmpfs of our own, so the probe writes nothing on the host's disks.
    if (mount("tmpfs", p->scratch, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m") != 0) return errno;
    const char *dirs[] = {p->lower, p->upper, p->work, p->merged};
    for (int i = 0; i < 4; i++)
        if (mkdir(dirs[i], 0700) != 0) return errno;
    // The call and options the runtime uses (Mount.overlay): flags 0, userxattr.
    if (mount("overlay", p->merged, "overlay", 0, p->options) != 0) return errno;
    return 0;
}

int zr_probe_overlay(const char *scratch) {
    struct overlay_probe p;
    memset(&p, 0, sizeof p);
    p.scratch = scratch;
    snprintf(p.uid_map, sizeof p.uid_map, "0 %u 1", (unsigned)getuid());
    snprintf(p.gid_map, sizeof p.gid_map, "0 %u 1", (unsigned)getgid());
    snprintf(p.lower, sizeof p.lower, "%s/l", scratch);
    snprintf(p.upper, sizeof p.upper, "%s/u", scratch);
    snprintf(p.work, sizeof p.work, "%s/w", scratch);
    snprintf(p.merged, sizeof p.merged, "%s/m", scratch);
    snprintf(p.options, sizeof p.options, "lowerdir=%s,upperdir=%s,workdir=%s,userxattr", p.lower, p.upper, p.work);
    return in_child(overlay_child, &p);
}

int zr_is_procfs(int fd) {
    struct statfs fs;
    if (fstatfs(fd, &fs) != 0) return -1;
    return fs.f_type == PROC_SUPER_MAGIC;
}
