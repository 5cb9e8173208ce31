// The "creds" consistency tier: a supervisor process answers the set*id/get*id family for the
// command on a seccomp user-notification listener, with the kernel's rules, from fake
// credentials it keeps per thread. The per-notification loop is C and allocates nothing; which
// calls are notified and what each one means is decided in Swift (ZRSeccomp.Policy) and handed
// over as a table.
#ifndef ZR_CREDS_H
#define ZR_CREDS_H

#include <stdint.h>
#include <sys/types.h>

#include "czeroroot.h"

/// What the supervisor does with a notified call.
enum zr_creds_op {
    ZR_CREDS_OP_NONE = 0,
    ZR_CREDS_OP_GETUID, ZR_CREDS_OP_GETEUID, ZR_CREDS_OP_GETGID, ZR_CREDS_OP_GETEGID,
    ZR_CREDS_OP_GETRESUID, ZR_CREDS_OP_GETRESGID, ZR_CREDS_OP_GETGROUPS,
    ZR_CREDS_OP_SETUID, ZR_CREDS_OP_SETGID, ZR_CREDS_OP_SETREUID, ZR_CREDS_OP_SETREGID,
    ZR_CREDS_OP_SETRESUID, ZR_CREDS_OP_SETRESGID, ZR_CREDS_OP_SETFSUID, ZR_CREDS_OP_SETFSGID,
    ZR_CREDS_OP_SETGROUPS,
    /// capset/capget: the fake capability sets (the privilege the set*id rules check).
    ZR_CREDS_OP_CAPSET,
    ZR_CREDS_OP_CAPGET,
    /// prctl(PR_SET_KEEPCAPS) and prctl(PR_GET_KEEPCAPS).
    ZR_CREDS_OP_KEEPCAPS,
    /// getsockopt(fd, SOL_SOCKET, SO_PEERCRED, ...): the peer's fake ids.
    ZR_CREDS_OP_PEERCRED,
    /// execve/execveat: noted (set-user-ID and set-group-ID files, saved ids, capabilities)
    /// and let through.
    ZR_CREDS_OP_EXECVE,
    ZR_CREDS_OP_EXECVEAT,
    // The owners and full tiers: file owners as a root build would give them, kept in the
    // owner ledger (the user.zr.owner extended attribute, ZRLayer.OwnerLedger).
    /// chown family: the new owner is recorded.
    ZR_CREDS_OP_CHOWN, ZR_CREDS_OP_LCHOWN, ZR_CREDS_OP_FCHOWN, ZR_CREDS_OP_FCHOWNAT,
    /// stat family (the native struct stat and struct statx), full only: recorded owners are
    /// reported.
    ZR_CREDS_OP_STAT, ZR_CREDS_OP_LSTAT, ZR_CREDS_OP_FSTAT, ZR_CREDS_OP_NEWFSTATAT, ZR_CREDS_OP_STATX,
    /// Creation (open/openat only with O_CREAT): made with the creator's fake owner.
    ZR_CREDS_OP_OPEN, ZR_CREDS_OP_OPENAT, ZR_CREDS_OP_CREAT, ZR_CREDS_OP_MKDIR, ZR_CREDS_OP_MKDIRAT,
    /// Device mknod/mknodat: an empty placeholder file recording the device (user.zr.device).
    ZR_CREDS_OP_MKNOD, ZR_CREDS_OP_MKNODAT,
};

/// One notified system call: on ABI `arch` (AUDIT_ARCH_*), number `nr` means `op`; `id16`
/// marks the legacy 16-bit-id variants of i386 and arm (ids and group arrays are 16 bits).
struct zr_creds_syscall {
    uint32_t arch;
    int32_t nr;
    uint16_t op;
    uint16_t id16;
};

/// Most supplementary groups a fake credential holds; setgroups with more answers EINVAL.
#define ZR_CREDS_MAX_GROUPS 64

struct zr_creds_config {
    const struct zr_creds_syscall *table;
    unsigned table_len;
    /// The credentials every process starts with (real, effective, saved and fs ids alike).
    uint32_t uid, gid;
    uint32_t groups[ZR_CREDS_MAX_GROUPS];
    unsigned ngroups;
    /// >= 0: at exit, the supervisor writes how many notifications it answered here.
    int stats_fd;
    /// Non-zero when the owner ledger is kept (the owners and full tiers): set-user-ID and
    /// set-group-ID files run as their recorded owner, and the statistics count the owner calls.
    int ledger;
};

/// Stages beyond enum zr_spawn_stage that the supervisor can fail at.
enum zr_creds_stage {
    ZR_CREDS_SOCKET = 20,   // socketpair/passing the listener
    ZR_CREDS_PROC = 21,     // mounting a fresh /proc in the new PID namespace
    ZR_CREDS_NOTIFY = 22,   // libseccomp or the kernel lacks user notification
    ZR_CREDS_MEMORY = 23,   // the credential table could not be mapped
};

/// Starts the supervisor. The caller must have unshared CLONE_NEWPID, so the supervisor is
/// pid 1 of a new PID namespace: it mounts a fresh /proc, spawns the command with
/// `spawn` (whose filter must notify the table's calls), receives its listener and answers
/// notifications until the command exits, then exits with the command's shell status
/// (128+N for signal N). Its death kills every process of the namespace (pid_namespaces(7)).
///
/// Returns the supervisor's pid and, in *listener, a close-on-exec duplicate of the listener
/// for the caller to hold until the supervisor is reaped: if the supervisor dies, tracees then
/// block (and are killed with the namespace) instead of getting ENOSYS from a listener with
/// no holder (seccomp_unotify(2)). On failure returns -1 with *stage and *err.
pid_t zr_creds_start(const struct zr_spawn_args *spawn, const struct zr_creds_config *config,
                     int *listener, int *stage, int *err);

#endif
