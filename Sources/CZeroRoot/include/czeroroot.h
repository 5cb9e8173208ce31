// The few system calls Swift cannot reach directly (variadic prctl, raw syscall numbers that
// glibc 2.36 has no wrapper for) and the code that runs between fork and exec, which must be
// async-signal-safe and so lives in C. Every symbol is prefixed zr_.
#ifndef CZEROROOT_H
#define CZEROROOT_H

#include <stdint.h>
#include <sys/types.h>
#include <linux/filter.h>

/// Constants glibc only declares under _GNU_SOURCE or in Linux headers Swift does not import.
extern const int ZR_CLONE_NEWUSER;
extern const int ZR_CLONE_NEWNS;
extern const int ZR_CLONE_NEWPID;
extern const int ZR_CLONE_NEWNET;
extern const int ZR_CLONE_NEWIPC;
extern const int ZR_CLONE_NEWUTS;
extern const int ZR_PR_SET_DUMPABLE;
extern const unsigned int ZR_MFD_CLOEXEC;
extern const int ZR_O_PATH;

/// The mount flags of the mount holding `path` that a user namespace may not clear on remount
/// (nosuid, nodev, noexec, atime), as MS_* bits; -1 with errno on failure.
int zr_locked_mount_flags(const char *path, unsigned long *flags);

/// Switches the calling thread to a UTF-8 LC_CTYPE (C.UTF-8) and returns the previous
/// locale to restore with zr_restore_locale; NULL if C.UTF-8 is unavailable (nothing changed).
void *zr_use_utf8_locale(void);
void zr_restore_locale(void *previous);

/// Symbolic errno name ("ENOENT"), or NULL for an unknown value (glibc strerrorname_np).
const char *zr_errno_name(int err);

/// "0.1.0 (commit 0123456789ab)": the version Package.swift defines and the commit
/// scripts/package records (.build-info/zr_commit.h), as zr --version prints it.
const char *zr_version_string(void);

int zr_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);
int zr_unshare(int flags);
int zr_setns(int fd, int nstype);
/// Sets the loopback interface up (ioctl SIOCSIFFLAGS): a new network namespace has it down.
/// -1 with errno on failure.
int zr_loopback_up(void);
/// pivot_root(2); glibc has no wrapper.
int zr_pivot_root(const char *new_root, const char *put_old);
/// openat2(2) with the given resolve flags (RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS, ...).
int zr_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);
int zr_memfd_create(const char *name, unsigned int flags);
/// fsetxattr(2): <sys/xattr.h> is not part of Swift's Glibc module.
int zr_fsetxattr(int fd, const char *name, const void *value, size_t size, int flags);
ssize_t zr_fgetxattr(int fd, const char *name, void *value, size_t size);
ssize_t zr_flistxattr(int fd, char *list, size_t size);
int zr_fremovexattr(int fd, const char *name);

/// Resolve flags re-exported so Swift need not import linux/openat2.h.
extern const uint64_t ZR_RESOLVE_IN_ROOT;
extern const uint64_t ZR_RESOLVE_NO_MAGICLINKS;
extern const uint64_t ZR_RESOLVE_NO_XDEV;

/// Where a spawn failed; the child reports it over a close-on-exec pipe.
enum zr_spawn_stage {
    ZR_SPAWN_OK = 0,
    ZR_SPAWN_FORK = 1,
    ZR_SPAWN_PIPE = 2,
    ZR_SPAWN_CWD = 3,
    ZR_SPAWN_NO_NEW_PRIVS = 4,
    ZR_SPAWN_FILTER = 5,
    ZR_SPAWN_SELF_CHECK = 6,
    ZR_SPAWN_EXEC = 7,
    ZR_SPAWN_SIGMASK = 8,
    ZR_SPAWN_REDIRECT = 9,
    ZR_SPAWN_LISTENER = 10,      // sending the notification listener to the supervisor
    ZR_SPAWN_ROOT = 11,          // chroot
};

struct zr_spawn_args {
    const char *path;            // absolute path of the program, already resolved
    char *const *argv;
    char *const *envp;
    const char *cwd;             // NULL: stay where we are
    const char *root;            // NULL: no chroot; else chroot here after cwd (which may
                                 // then lie outside the new root, reachable as /proc/self/cwd)
    const struct sock_filter *filter;  // NULL: no seccomp filter
    unsigned short filter_len;
    int self_check;              // after the filter: fchown(-1,0,0) must return 0
    int death_signal;            // PR_SET_PDEATHSIG; 0 for none
    int input_fd;                // becomes stdin; -1: inherit
    int output_fd;               // becomes stdout and stderr; -1: inherit
    int listener_socket;         // >= 0: install `filter` with a user-notification listener
                                 // and send the listener over this unix socket (SCM_RIGHTS)
};

/// Installs a seccomp filter in the calling process (after PR_SET_NO_NEW_PRIVS) and, with
/// `self_check`, checks that fchown(-1, 0, 0) now answers 0. Async-signal-safe. Returns
/// ZR_SPAWN_OK, or the failing stage (ZR_SPAWN_NO_NEW_PRIVS, _FILTER, _SELF_CHECK) with errno.
int zr_install_filter(const struct sock_filter *filter, unsigned short len, int self_check);

/// zr_install_filter for a filter with SECCOMP_RET_USER_NOTIF rules: installs it with
/// SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV and sends the
/// listener over the unix socket `listener_socket`, then closes it here. Async-signal-safe.
int zr_install_notify_filter(const struct sock_filter *filter, unsigned short len, int self_check,
                             int listener_socket);

/// Sends `fd` and `len` bytes of `data` over a unix socket (SCM_RIGHTS). Async-signal-safe.
int zr_send_fd(int socket, int fd, const void *data, size_t len);
/// Receives one message of at most `len` bytes and the descriptor it carries (close-on-exec),
/// or -1 in *fd when it carries none. Returns the bytes received, -1 with errno.
ssize_t zr_recv_fd(int socket, int *fd, void *data, size_t len);

/// Fork a child that unblocks all signals, changes directory, installs the seccomp filter,
/// checks it, and execs. Returns the child's pid, or -1 with *stage and *err set; on a failure
/// after fork the child has already been reaped.
pid_t zr_spawn(const struct zr_spawn_args *args, int *stage, int *err);

/// zr_spawn in two halves, for a parent that must do other work (answer the child's seccomp
/// notifications, its execve among them) before the exec report arrives: start returns the
/// pid and the report pipe; finish reads it (0 once exec succeeded; -1 with *stage and *err,
/// the child reaped, if it failed) and closes it.
pid_t zr_spawn_start(const struct zr_spawn_args *args, int *report_fd, int *stage, int *err);
int zr_spawn_finish(pid_t pid, int report_fd, int *stage, int *err);

/// pipe2(2) and copy_file_range(2) (at the current offsets): GNU extensions.
int zr_pipe2(int fds[2], int flags);
ssize_t zr_copy_file_range(int in, int out, size_t length);

/// pidfd_open(2) (close-on-exec), for waiting on a child with a timeout without polling;
/// -1 with ENOSYS before Linux 5.3.
int zr_pidfd_open(pid_t pid);
/// Kernel feature probes (probes.c): 0 when the feature works, else the errno the kernel gave.
/// Probes that would change this process for good (seccomp, namespaces) run in a forked child.
int zr_probe_openat2(void);
int zr_probe_close_range(void);
int zr_probe_pidfd_open(void);
int zr_probe_pidfd_thread(void);
int zr_probe_clone3(void);
/// Seccomp user notification: results[0] a listener, [1] SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV,
/// [2] SECCOMP_IOCTL_NOTIF_ADDFD, [3] SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP. Returns 0, or the
/// errno of running the probe at all.
int zr_probe_seccomp(int results[4]);
/// overlayfs (userxattr) in a new user namespace, on a tmpfs mounted over the empty directory
/// `scratch` in the child's own mount namespace.
int zr_probe_overlay(const char *scratch);
/// 1 when `fd` is on procfs (whose symlinks are magic links), 0 when not, -1 with errno.
int zr_is_procfs(int fd);
extern const unsigned int ZR_PIDFD_THREAD;
extern const unsigned long ZR_SECCOMP_IOCTL_NOTIF_SET_FLAGS;
extern const unsigned long ZR_SECCOMP_IOCTL_NOTIF_ADDFD;
extern const unsigned long ZR_SECCOMP_FILTER_FLAG_NEW_LISTENER;
extern const unsigned long ZR_SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;

#endif
