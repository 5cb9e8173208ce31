#include "czeroroot.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <locale.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <net/if.h>
#include <sys/ioctl.h>

const int ZR_CLONE_NEWUSER = CLONE_NEWUSER;
const int ZR_CLONE_NEWNS = CLONE_NEWNS;
const int ZR_CLONE_NEWPID = CLONE_NEWPID;
const int ZR_CLONE_NEWNET = CLONE_NEWNET;
const int ZR_CLONE_NEWIPC = CLONE_NEWIPC;
const int ZR_CLONE_NEWUTS = CLONE_NEWUTS;
const int ZR_PR_SET_DUMPABLE = PR_SET_DUMPABLE;
const unsigned int ZR_MFD_CLOEXEC = MFD_CLOEXEC;
const int ZR_O_PATH = O_PATH;

int zr_locked_mount_flags(const char *path, unsigned long *flags) {
    struct statvfs vfs;
    if (statvfs(path, &vfs) != 0) return -1;
    static const struct { unsigned long st, ms; } kept[] = {
        {ST_RDONLY, MS_RDONLY}, {ST_NOSUID, MS_NOSUID}, {ST_NODEV, MS_NODEV}, {ST_NOEXEC, MS_NOEXEC},
        {ST_NOATIME, MS_NOATIME}, {ST_NODIRATIME, MS_NODIRATIME}, {ST_RELATIME, MS_RELATIME},
    };
    *flags = 0;
    for (size_t i = 0; i < sizeof kept / sizeof kept[0]; i++)
        if (vfs.f_flag & kept[i].st) *flags |= kept[i].ms;
    return 0;
}
const uint64_t ZR_RESOLVE_IN_ROOT = RESOLVE_IN_ROOT;
const uint64_t ZR_RESOLVE_NO_MAGICLINKS = RESOLVE_NO_MAGICLINKS;
const uint64_t ZR_RESOLVE_NO_XDEV = RESOLVE_NO_XDEV;

void *zr_use_utf8_locale(void) {
    static locale_t utf8 = (locale_t)0;
    if (utf8 == (locale_t)0) utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (utf8 == (locale_t)0) return NULL;
    return uselocale(utf8);
}

void zr_restore_locale(void *previous) {
    if (previous != NULL) uselocale((locale_t)previous);
}

const char *zr_errno_name(int err) { return strerrorname_np(err); }

#if __has_include(<zr_commit.h>)
#include <zr_commit.h> /* #define ZR_COMMIT "…", written by scripts/package */
#endif
#ifndef ZR_COMMIT
#define ZR_COMMIT "unknown"
#endif
const char *zr_version_string(void) { return ZR_VERSION " (commit " ZR_COMMIT ")"; }

int zr_prctl(int option, unsigned long a2, unsigned long a3, unsigned long a4, unsigned long a5) {
    return prctl(option, a2, a3, a4, a5);
}

int zr_unshare(int flags) { return unshare(flags); }

int zr_loopback_up(void) {
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    int rc = ioctl(fd, SIOCGIFFLAGS, &ifr);
    if (rc == 0) {
        ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
        rc = ioctl(fd, SIOCSIFFLAGS, &ifr);
    }
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int zr_setns(int fd, int nstype) { return setns(fd, nstype); }

int zr_pivot_root(const char *new_root, const char *put_old) {
    return (int)syscall(SYS_pivot_root, new_root, put_old);
}

int zr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = flags;
    how.mode = mode;
    how.resolve = resolve;
    // EAGAIN: a rename or mount somewhere on the system raced the scoped lookup
    // (RESOLVE_IN_ROOT checks for that), and openat2(2) says to try again. Bounded, so a system
    // renaming without pause cannot keep us here.
    int fd;
    int tries = 0;
    do {
        fd = (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
    } while (fd < 0 && errno == EAGAIN && ++tries < 128);
    return fd;
}

int zr_memfd_create(const char *name, unsigned int flags) { return memfd_create(name, flags); }

int zr_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags) {
    return fsetxattr(fd, name, value, size, flags);
}

ssize_t zr_fgetxattr(int fd, const char *name, void *value, size_t size) {
    return fgetxattr(fd, name, value, size);
}

ssize_t zr_flistxattr(int fd, char *list, size_t size) { return flistxattr(fd, list, size); }

int zr_fremovexattr(int fd, const char *name) { return fremovexattr(fd, name); }

int zr_send_fd(int socket, int fd, const void *data, size_t len) {
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &fd, sizeof fd);
    }
    ssize_t n;
    do {
        n = sendmsg(socket, &msg, MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -1 : 0;
}

ssize_t zr_recv_fd(int socket, int *fd, void *data, size_t len) {
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct iovec iov = {.iov_base = data, .iov_len = len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf,
                         .msg_controllen = sizeof control.buf};
    *fd = -1;
    ssize_t n;
    do {
        n = recvmsg(socket, &msg, MSG_CMSG_CLOEXEC);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -1;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            memcpy(fd, CMSG_DATA(c), sizeof *fd);
    return n;
}

static int install_filter(const struct sock_filter *filter, unsigned short len, int self_check,
                          int listener_socket) {
    // no_new_privs is required for an unprivileged filter install and keeps setuid programs in
    // the image from gaining anything on exec.
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return ZR_SPAWN_NO_NEW_PRIVS;
    struct sock_fprog prog = {.len = len, .filter = (struct sock_filter *)filter};
    unsigned long flags = SECCOMP_FILTER_FLAG_SPEC_ALLOW;
    // A listener, and once the supervisor has received a notification the caller waits
    // killable, not interruptible: a signal can then no longer turn an answered set*id into a
    // restarted one (seccomp_unotify(2), Linux 5.19).
    if (listener_socket >= 0)
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    // SPEC_ALLOW: kernels before 5.16 otherwise force the speculative store bypass mitigation
    // on every filtered process, slowing ordinary code; 5.16 made that the default. Kernels
    // before 4.17 do not know the flag (EINVAL): load without it.
    long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
    if (rc < 0 && errno == EINVAL)
        rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags & ~SECCOMP_FILTER_FLAG_SPEC_ALLOW, &prog);
    if (rc < 0) return ZR_SPAWN_FILTER;
    if (listener_socket >= 0) {
        int listener = (int)rc;
        char tag = 'L';
        int sent = zr_send_fd(listener_socket, listener, &tag, 1);
        int saved = errno;
        close(listener);
        if (sent != 0) {
            errno = saved;
            return ZR_SPAWN_LISTENER;
        }
    }
    // The filter answers for itself: fchown on a bad fd is EBADF without it, 0 with it. A
    // supervised filter has proven itself by handing over its listener, and the full tier
    // answers fchown as the kernel would (EBADF).
    if (self_check && listener_socket < 0) {
        errno = 0;
        if (syscall(SYS_fchown, -1, 0, 0) != 0) {
            if (errno == 0) errno = EINVAL;
            return ZR_SPAWN_SELF_CHECK;
        }
    }
    return ZR_SPAWN_OK;
}

int zr_install_filter(const struct sock_filter *filter, unsigned short len, int self_check) {
    return install_filter(filter, len, self_check, -1);
}

int zr_install_notify_filter(const struct sock_filter *filter, unsigned short len, int self_check,
                             int listener_socket) {
    return install_filter(filter, len, self_check, listener_socket);
}

// Child side of zr_spawn: only async-signal-safe calls from here to execve.
static void child_fail(int fd, int stage) {
    int report[2] = {stage, errno};
    ssize_t ignored = write(fd, report, sizeof report);
    (void)ignored;
    _exit(127);
}

pid_t zr_spawn_start(const struct zr_spawn_args *a, int *report_fd, int *stage, int *err) {
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) != 0) {
        *stage = ZR_SPAWN_PIPE;
        *err = errno;
        return -1;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        *stage = ZR_SPAWN_FORK;
        *err = errno;
        close(fds[0]);
        close(fds[1]);
        return -1;
    }
    if (pid == 0) {
        close(fds[0]);
        // If zr-run dies (OOM killer, SIGKILL from a scheduler), the command goes with it
        // instead of running on unsupervised; the getppid check closes the race with an
        // early parent death (prctl(2)).
        if (a->death_signal != 0) {
            prctl(PR_SET_PDEATHSIG, (unsigned long)a->death_signal, 0, 0, 0);
            if (getppid() != parent) _exit(128 + a->death_signal);
        }
        sigset_t none;
        sigemptyset(&none);
        if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) child_fail(fds[1], ZR_SPAWN_SIGMASK);
        if (a->input_fd >= 0 && dup2(a->input_fd, 0) < 0) child_fail(fds[1], ZR_SPAWN_REDIRECT);
        if (a->output_fd >= 0 && (dup2(a->output_fd, 1) < 0 || dup2(a->output_fd, 2) < 0))
            child_fail(fds[1], ZR_SPAWN_REDIRECT);
        if (a->cwd != NULL && chdir(a->cwd) != 0) child_fail(fds[1], ZR_SPAWN_CWD);
        if (a->root != NULL && chroot(a->root) != 0) child_fail(fds[1], ZR_SPAWN_ROOT);
        if (a->filter != NULL) {
            int stage = install_filter(a->filter, a->filter_len, a->self_check, a->listener_socket);
            if (stage != ZR_SPAWN_OK) child_fail(fds[1], stage);
        }
        execve(a->path, a->argv, a->envp);
        child_fail(fds[1], ZR_SPAWN_EXEC);
    }
    close(fds[1]);
    *report_fd = fds[0];
    *stage = ZR_SPAWN_OK;
    *err = 0;
    return pid;
}

int zr_spawn_finish(pid_t pid, int report_fd, int *stage, int *err) {
    int report[2] = {0, 0};
    ssize_t n;
    do {
        n = read(report_fd, report, sizeof report);
    } while (n < 0 && errno == EINTR);
    close(report_fd);
    if (n == (ssize_t)sizeof report) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *stage = report[0];
        *err = report[1];
        return -1;
    }
    *stage = ZR_SPAWN_OK;
    *err = 0;
    return 0;
}

pid_t zr_spawn(const struct zr_spawn_args *a, int *stage, int *err) {
    int report_fd;
    pid_t pid = zr_spawn_start(a, &report_fd, stage, err);
    if (pid < 0) return -1;
    return zr_spawn_finish(pid, report_fd, stage, err) == 0 ? pid : -1;
}

// GNU extensions, declared only with _GNU_SOURCE, which Swift's Glibc module does not define.
int zr_pipe2(int fds[2], int flags) { return pipe2(fds, flags); }

ssize_t zr_copy_file_range(int in, int out, size_t length) {
    return copy_file_range(in, NULL, out, NULL, length, 0);
}

int zr_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    return (int)syscall(SYS_pidfd_open, pid, 0);
#else
    errno = ENOSYS;
    return -1;
#endif
}
