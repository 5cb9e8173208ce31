// What creds.c (credentials) and owners.c (the full tier's view of file owners) share. Not
// part of the module's interface: Swift sees only include/zr_creds.h.
#ifndef ZR_CREDS_PRIVATE_H
#define ZR_CREDS_PRIVATE_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <linux/types.h>

/// An answer that is not a result: let the call run in the kernel as the caller made it
/// (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
#define ZR_CONTINUE INT64_MIN
/// The notification has been answered already (SECCOMP_ADDFD_FLAG_SEND): send nothing.
#define ZR_ANSWERED (INT64_MIN + 1)

/// An id argument of -1: "leave unchanged".
#define ZR_NO_ID ((uint32_t)-1)
/// A caller's path, plus room for the "/proc/TID/fd/N/" it may be resolved through.
#define ZR_PATH_ROOM (PATH_MAX + 64)

/// An id argument as the kernel reads it: the legacy 16-bit calls of i386 and arm take 16 bits,
/// with 0xffff meaning -1 (low2highuid).
static inline uint32_t zr_arg_id(uint64_t raw, int id16) {
    if (id16) {
        uint32_t v = (uint32_t)raw & 0xffff;
        return v == 0xffff ? ZR_NO_ID : v;
    }
    return (uint32_t)raw;
}

/// Memory of the calling thread. 0, or -EFAULT.
int zr_tracee_read(pid_t tid, uint64_t addr, void *buf, size_t len);
int zr_tracee_write(pid_t tid, const struct iovec *local, const struct iovec *remote, unsigned long count,
                    size_t total);
/// A NUL-terminated string of the caller. 0, or -EFAULT / -ENAMETOOLONG.
int zr_tracee_string(pid_t tid, uint64_t addr, char *buf, size_t size);

/// Writes `v` in decimal at `p` (no NUL) and returns the end; snprintf would do, but this
/// cannot allocate.
char *zr_put_decimal(char *p, uint64_t v);

/// Reads /proc/TID + `suffix` (the supervisor's own /proc) into `buf`, NUL-terminated: its
/// length, or -1.
ssize_t zr_proc_read(pid_t tid, const char *suffix, char *buf, size_t size);

/// Who a file operation acts as: the caller's fake filesystem ids, groups and whether it holds
/// CAP_CHOWN.
struct zr_fs_identity {
    uint32_t fsuid, fsgid;
    const uint32_t *groups;
    uint32_t ngroups;
    int cap_chown;
};

/// Reads the caller's path argument at `addr` (0: the empty path) into `path` (PATH_MAX
/// bytes) and resolves it into `out` (ZR_PATH_ROOM bytes) with zr_tracee_path. 0, or -errno.
int zr_caller_path(pid_t tid, int dirfd, uint64_t addr, char *path, char *out);

/// The stat family (ZR_CREDS_OP_STAT ... STATX): a file with a ledger record is stat-ed here
/// and reported with the recorded owner (and as the device a placeholder stands for); any
/// other answers ZR_CONTINUE, so the kernel answers it itself.
int64_t zr_owner_stat(pid_t tid, int op, const __u64 *args, int listener, uint64_t id);

/// The chown family: checks the kernel's rules against the recorded owner and records the
/// new one.
int64_t zr_owner_chown(pid_t tid, int op, int id16, const __u64 *args, const struct zr_fs_identity *who,
                       int listener, uint64_t id);

/// open/openat/creat with O_CREAT, mkdir/mkdirat, device mknod/mknodat: a file the caller
/// creates as a non-root fake user (or in a set-group-ID directory) is created here with its
/// owner recorded; a device node becomes a recorded placeholder.
int64_t zr_owner_create(pid_t tid, int op, const __u64 *args, const struct zr_fs_identity *who, int listener,
                        uint64_t id);

/// The owner the ledger records for `path` (resolved by the supervisor): 0 and *uid, *gid set,
/// or -1 when it has no record.
int zr_owner_recorded(const char *path, int follow, uint32_t *uid, uint32_t *gid);

/// Writes into `out` a path by which the supervisor reaches what `path` names for thread `tid`
/// relative to `dirfd` (AT_FDCWD: its working directory): absolute paths as they are (the
/// supervisor shares the caller's root), others through /proc/TID/cwd or /proc/TID/fd/N. An
/// empty path names the directory (or file) itself. 0, or -ENAMETOOLONG.
int zr_tracee_path(pid_t tid, int dirfd, const char *path, char *out, size_t size);

#endif
