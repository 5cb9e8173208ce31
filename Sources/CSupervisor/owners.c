// The owners and full tiers' view of file owners. In a namespace where only the
// invoking user is mapped, every file is really that user's (root inside). The owner a root build would
// have given a file is kept in the owner ledger, the user.zr.owner extended attribute on its
// inode ("UID:GID", ZRLayer.OwnerLedger), which layer export turns into tar owners:
//   - chown records the new owner there (after the kernel's permission rules, checked against
//     the recorded owner and the caller's fake credentials);
//   - the stat family reports it (full only: owners leaves stat to the kernel);
//   - a file or directory a fake non-root process creates is created here, with its owner
//     recorded, and handed to the caller (SECCOMP_IOCTL_NOTIF_ADDFD);
//   - a device node becomes an empty placeholder file recording the device
//     (user.zr.device "c MAJOR MINOR"), which export turns into a device entry.
// Paths are resolved as the caller sees them: relative ones through /proc/TID/cwd and
// /proc/TID/fd/N. Whatever cannot be answered exactly here (an error, a file without a
// record) is left to the kernel (ZR_CONTINUE), which gives the caller the real answer.
// Like creds.c, nothing here allocates: paths live in stack buffers.
#include "creds_private.h"
#include "zr_creds.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/seccomp.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <seccomp.h>
#include <unistd.h>

#define LEDGER "user.zr.owner"
#define DEVICE "user.zr.device"

char *zr_put_decimal(char *p, uint64_t v) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    while (n > 0) *p++ = digits[--n];
    return p;
}

int zr_tracee_path(pid_t tid, int dirfd, const char *path, char *out, size_t size) {
    size_t len = strlen(path);
    if (path[0] == '/') {
        if (len >= size) return -ENAMETOOLONG;
        memcpy(out, path, len + 1);
        return 0;
    }
    char *p = out;
    memcpy(p, "/proc/", 6);
    p = zr_put_decimal(p + 6, (uint64_t)tid);
    if (dirfd == AT_FDCWD) {
        memcpy(p, "/cwd", 4);
        p += 4;
    } else {
        if (dirfd < 0) return -EBADF;
        memcpy(p, "/fd/", 4);
        p = zr_put_decimal(p + 4, (uint64_t)dirfd);
    }
    if (len == 0) {
        *p = 0;
        return 0;
    }
    // The kernel takes PATH_MAX for the whole path; a caller's path near that limit, which
    // the kernel would resolve from its directory, is refused here and left to the kernel.
    if ((size_t)(p - out) + 1 + len >= PATH_MAX || (size_t)(p - out) + 1 + len >= size) return -ENAMETOOLONG;
    *p++ = '/';
    memcpy(p, path, len + 1);
    return 0;
}

// "UID:GID" as the ledger writes it. 0, or -1 for anything else.
static int parse_owner(const char *text, ssize_t len, uint32_t *uid, uint32_t *gid) {
    uint64_t v[2] = {0, 0};
    int part = 0, digits = 0;
    for (ssize_t i = 0; i < len; i++) {
        char ch = text[i];
        if (ch == ':' && part == 0 && digits > 0) {
            part = 1;
            digits = 0;
        } else if (ch >= '0' && ch <= '9' && digits < 10) {
            v[part] = v[part] * 10 + (uint64_t)(ch - '0');
            digits++;
        } else {
            return -1;
        }
    }
    if (part != 1 || digits == 0 || v[0] >= ZR_NO_ID || v[1] >= ZR_NO_ID) return -1;
    *uid = (uint32_t)v[0];
    *gid = (uint32_t)v[1];
    return 0;
}

int zr_owner_recorded(const char *path, int follow, uint32_t *uid, uint32_t *gid) {
    char value[32];
    ssize_t n = follow ? getxattr(path, LEDGER, value, sizeof value) : lgetxattr(path, LEDGER, value, sizeof value);
    if (n <= 0) return -1;
    return parse_owner(value, n, uid, gid);
}

static int write_owner(const char *path, int fd, uint32_t uid, uint32_t gid) {
    char value[32], *p = value;
    p = zr_put_decimal(p, uid);
    *p++ = ':';
    p = zr_put_decimal(p, gid);
    size_t len = (size_t)(p - value);
    return fd >= 0 ? fsetxattr(fd, LEDGER, value, len, 0) : setxattr(path, LEDGER, value, len, 0);
}

// A placeholder's device: "c MAJOR MINOR" or "b MAJOR MINOR". 0 and *type (S_IFCHR, S_IFBLK)
// and *dev, or -1.
static int recorded_device(const char *path, int follow, mode_t *type, dev_t *dev) {
    char value[48];
    ssize_t n = follow ? getxattr(path, DEVICE, value, sizeof value - 1) : lgetxattr(path, DEVICE, value, sizeof value - 1);
    if (n < 5) return -1;
    value[n] = 0;
    if ((value[0] != 'c' && value[0] != 'b') || value[1] != ' ') return -1;
    char *end;
    errno = 0;
    unsigned long major = strtoul(value + 2, &end, 10);
    if (end == value + 2 || *end != ' ' || errno != 0) return -1;
    char *minor_text = end + 1;
    unsigned long minor = strtoul(minor_text, &end, 10);
    if (end == minor_text || *end != 0 || errno != 0 || major > 0xfff || minor > 0xfffff) return -1;
    *type = value[0] == 'c' ? S_IFCHR : S_IFBLK;
    *dev = makedev((unsigned)major, (unsigned)minor);
    return 0;
}

// The Umask: line of /proc/TID/status (the caller's umask, which creation here applies).
static mode_t tracee_umask(pid_t tid) {
    char buf[2048];
    if (zr_proc_read(tid, "/status", buf, sizeof buf) < 0) return 022;
    char *line = strstr(buf, "\nUmask:");
    if (line == NULL) return 022;
    return (mode_t)strtoul(line + 7, NULL, 8) & 0777;
}

int zr_caller_path(pid_t tid, int dirfd, uint64_t addr, char *path, char *out) {
    path[0] = 0;
    int rc = addr == 0 ? 0 : zr_tracee_string(tid, addr, path, PATH_MAX);
    if (rc != 0) return rc;
    return zr_tracee_path(tid, dirfd, path, out, ZR_PATH_ROOM);
}

// ---- the stat family ---------------------------------------------------------------------

int64_t zr_owner_stat(pid_t tid, int op, const __u64 *a, int listener, uint64_t id) {
    int dirfd = AT_FDCWD, flags = 0;
    uint64_t path_addr = 0, buf_addr;
    unsigned mask = 0;
    switch (op) {
    case ZR_CREDS_OP_STAT: path_addr = a[0], buf_addr = a[1]; break;
    case ZR_CREDS_OP_LSTAT: path_addr = a[0], buf_addr = a[1], flags = AT_SYMLINK_NOFOLLOW; break;
    case ZR_CREDS_OP_FSTAT: dirfd = (int)a[0], buf_addr = a[1], flags = AT_EMPTY_PATH; break;
    case ZR_CREDS_OP_NEWFSTATAT: dirfd = (int)a[0], path_addr = a[1], buf_addr = a[2], flags = (int)a[3]; break;
    case ZR_CREDS_OP_STATX:
        dirfd = (int)a[0], path_addr = a[1], flags = (int)a[2], mask = (unsigned)a[3], buf_addr = a[4];
        break;
    default: return -ENOSYS;
    }
    // A NULL path is the kernel's to refuse, except fstat's (none) and statx's with
    // AT_EMPTY_PATH (taken as "" since Linux 6.11).
    if (path_addr == 0 && op != ZR_CREDS_OP_FSTAT && !(op == ZR_CREDS_OP_STATX && (flags & AT_EMPTY_PATH)))
        return ZR_CONTINUE;
    char path[PATH_MAX], where[ZR_PATH_ROOM];
    if (zr_caller_path(tid, dirfd, path_addr, path, where) != 0) return ZR_CONTINUE;
    if (path[0] == 0 && !(flags & AT_EMPTY_PATH)) return ZR_CONTINUE;
    // The magic link of an empty path is followed: it names the file itself.
    int follow = path[0] == 0 || !(flags & AT_SYMLINK_NOFOLLOW);
    uint32_t uid, gid;
    // Most files have no record (root owns them): one lookup, and the kernel answers.
    if (zr_owner_recorded(where, follow, &uid, &gid) != 0) return ZR_CONTINUE;
    int at_flags = (flags & (AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE)) | (follow ? 0 : AT_SYMLINK_NOFOLLOW);
    mode_t type = 0;
    dev_t dev = 0;
    // The kernel's struct statx, or the native struct stat, which is the kernel's for stat,
    // lstat, fstat and newfstatat on the 64-bit ABIs these calls are notified on (x86_64, x32,
    // aarch64); written back whole.
    struct statx stx;
    struct stat st;
    void *result;
    size_t size;
    if (op == ZR_CREDS_OP_STATX) {
        if (statx(AT_FDCWD, where, at_flags, mask, &stx) != 0) return ZR_CONTINUE;
        stx.stx_uid = uid;
        stx.stx_gid = gid;
        if (S_ISREG(stx.stx_mode) && stx.stx_size == 0 && recorded_device(where, follow, &type, &dev) == 0) {
            stx.stx_mode = (uint16_t)(type | (stx.stx_mode & 07777));
            stx.stx_rdev_major = major(dev);
            stx.stx_rdev_minor = minor(dev);
        }
        result = &stx, size = sizeof stx;
    } else {
        if (fstatat(AT_FDCWD, where, &st, at_flags) != 0) return ZR_CONTINUE;
        st.st_uid = uid;
        st.st_gid = gid;
        if (S_ISREG(st.st_mode) && st.st_size == 0 && recorded_device(where, follow, &type, &dev) == 0) {
            st.st_mode = type | (st.st_mode & 07777);
            st.st_rdev = dev;
        }
        result = &st, size = sizeof st;
    }
    if (seccomp_notify_id_valid(listener, id) != 0) return -ESRCH;
    struct iovec local = {.iov_base = result, .iov_len = size};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)buf_addr, .iov_len = size};
    return zr_tracee_write(tid, &local, &remote, 1, size);
}

// ---- chown ---------------------------------------------------------------------------------

static int in_group(const struct zr_fs_identity *who, uint32_t gid) {
    if (gid == who->fsgid) return 1;
    for (uint32_t i = 0; i < who->ngroups; i++)
        if (who->groups[i] == gid) return 1;
    return 0;
}

int64_t zr_owner_chown(pid_t tid, int op, int id16, const __u64 *a, const struct zr_fs_identity *who,
                       int listener, uint64_t id) {
    int dirfd = AT_FDCWD, flags = 0;
    uint64_t path_addr = 0;
    uint32_t uid, gid;
    switch (op) {
    case ZR_CREDS_OP_CHOWN: path_addr = a[0], uid = zr_arg_id(a[1], id16), gid = zr_arg_id(a[2], id16); break;
    case ZR_CREDS_OP_LCHOWN:
        path_addr = a[0], uid = zr_arg_id(a[1], id16), gid = zr_arg_id(a[2], id16), flags = AT_SYMLINK_NOFOLLOW;
        break;
    case ZR_CREDS_OP_FCHOWN: dirfd = (int)a[0], uid = zr_arg_id(a[1], id16), gid = zr_arg_id(a[2], id16), flags = AT_EMPTY_PATH; break;
    case ZR_CREDS_OP_FCHOWNAT:
        dirfd = (int)a[0], path_addr = a[1], uid = zr_arg_id(a[2], 0), gid = zr_arg_id(a[3], 0), flags = (int)a[4];
        break;
    default: return -ENOSYS;
    }
    // fchown has no path; a NULL one is the kernel's to refuse.
    if (path_addr == 0 && op != ZR_CREDS_OP_FCHOWN) return ZR_CONTINUE;
    char path[PATH_MAX], where[ZR_PATH_ROOM];
    if (zr_caller_path(tid, dirfd, path_addr, path, where) != 0) return ZR_CONTINUE;
    if (path[0] == 0 && !(flags & AT_EMPTY_PATH)) return ZR_CONTINUE;
    int follow = path[0] == 0 || !(flags & AT_SYMLINK_NOFOLLOW);
    struct stat st;
    // A missing file, a bad descriptor: the kernel's own chown fails the same way.
    if (fstatat(AT_FDCWD, where, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0) return ZR_CONTINUE;
    uint32_t cur_uid = 0, cur_gid = 0;
    int has_record = zr_owner_recorded(where, follow, &cur_uid, &cur_gid) == 0;
    // kernel/fs attr.c chown_ok/chgrp_ok: the owner may give a file to itself and to one of
    // its groups; anything else takes CAP_CHOWN.
    if (!who->cap_chown) {
        if (uid != ZR_NO_ID && (who->fsuid != cur_uid || uid != cur_uid)) return -EPERM;
        if (gid != ZR_NO_ID && (who->fsuid != cur_uid || (gid != cur_gid && !in_group(who, gid)))) return -EPERM;
    }
    uint32_t new_uid = uid == ZR_NO_ID ? cur_uid : uid, new_gid = gid == ZR_NO_ID ? cur_gid : gid;
    // User extended attributes exist only on regular files and directories: other owners
    // (symbolic links, FIFOs, sockets) are not recorded, as under zero consistency.
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode)) return 0;
    if (seccomp_notify_id_valid(listener, id) != 0) return -ESRCH;
    // An unchanged owner writes nothing: on overlayfs any attribute change copies a lower
    // file up, and dpkg gives every file it unpacks to root.
    int rc = 0;
    if (new_uid == 0 && new_gid == 0) {
        if (has_record) rc = removexattr(where, LEDGER);
    } else if (!has_record || new_uid != cur_uid || new_gid != cur_gid) {
        rc = write_owner(where, -1, new_uid, new_gid);
    }
    if (rc != 0 && errno != ENODATA && errno != ENOTSUP && errno != EPERM) return -errno;
    // A chown of a non-directory clears set-user-ID, and set-group-ID with group execute,
    // for root too (chown(2), since Linux 2.2.13).
    if (!S_ISDIR(st.st_mode) && (uid != ZR_NO_ID || gid != ZR_NO_ID)) {
        mode_t mode = st.st_mode & 07777;
        mode_t cleared = mode & ~(mode_t)S_ISUID;
        if ((mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP)) cleared &= ~(mode_t)S_ISGID;
        if (cleared != mode) (void)chmod(where, cleared);
    }
    return 0;
}

// ---- creation ------------------------------------------------------------------------------

// The directory that will hold what `where` names: `where` without its last component.
static void parent_of(const char *where, char *out) {
    size_t len = strlen(where);
    while (len > 1 && where[len - 1] == '/') len--;
    while (len > 0 && where[len - 1] != '/') len--;
    while (len > 1 && where[len - 1] == '/') len--;
    if (len == 0) {
        out[0] = '.';
        out[1] = 0;
        return;
    }
    memcpy(out, where, len);
    out[len] = 0;
}

int64_t zr_owner_create(pid_t tid, int op, const __u64 *a, const struct zr_fs_identity *who, int listener,
                        uint64_t id) {
    int dirfd = AT_FDCWD, flags = 0;
    uint64_t path_addr;
    mode_t mode;
    dev_t dev = 0;
    switch (op) {
    case ZR_CREDS_OP_OPEN: path_addr = a[0], flags = (int)a[1], mode = (mode_t)a[2]; break;
    case ZR_CREDS_OP_OPENAT: dirfd = (int)a[0], path_addr = a[1], flags = (int)a[2], mode = (mode_t)a[3]; break;
    case ZR_CREDS_OP_CREAT: path_addr = a[0], flags = O_CREAT | O_WRONLY | O_TRUNC, mode = (mode_t)a[1]; break;
    case ZR_CREDS_OP_MKDIR: path_addr = a[0], mode = (mode_t)a[1]; break;
    case ZR_CREDS_OP_MKDIRAT: dirfd = (int)a[0], path_addr = a[1], mode = (mode_t)a[2]; break;
    case ZR_CREDS_OP_MKNOD: path_addr = a[0], mode = (mode_t)a[1], dev = (dev_t)(uint32_t)a[2]; break;
    case ZR_CREDS_OP_MKNODAT: dirfd = (int)a[0], path_addr = a[1], mode = (mode_t)a[2], dev = (dev_t)(uint32_t)a[3]; break;
    default: return -ENOSYS;
    }
    int device = op == ZR_CREDS_OP_MKNOD || op == ZR_CREDS_OP_MKNODAT;
    char path[PATH_MAX], where[ZR_PATH_ROOM], parent[ZR_PATH_ROOM];
    // A NULL path: the kernel refuses it (EFAULT); a device is not left to the kernel.
    if (path_addr == 0) return device ? -EFAULT : ZR_CONTINUE;
    int rc = zr_caller_path(tid, dirfd, path_addr, path, where);
    if (rc != 0) return device ? rc : ZR_CONTINUE;
    if (path[0] == 0) return device ? -ENOENT : ZR_CONTINUE;
    // inode_init_owner: the creator's fs ids, but the directory's group in a set-group-ID
    // directory (its recorded group: its real one is always root's).
    uint32_t uid = who->fsuid, gid = who->fsgid;
    parent_of(where, parent);
    struct stat dir;
    if (stat(parent, &dir) == 0 && (dir.st_mode & S_ISGID)) {
        uint32_t dir_uid = 0, dir_gid = 0;
        (void)zr_owner_recorded(parent, 1, &dir_uid, &dir_gid);
        gid = dir_gid;
    }
    // Root creating in an ordinary directory: the kernel makes exactly that.
    if (!device && uid == 0 && gid == 0) return ZR_CONTINUE;
    mode_t old_umask = umask(tracee_umask(tid));
    if (device) {
        // The kernel's device numbering (new_decode_dev): 12-bit major, 20-bit minor.
        unsigned major = (unsigned)((dev & 0xfff00) >> 8), minor = (unsigned)((dev & 0xff) | ((dev >> 12) & 0xfff00));
        int fd = open(where, O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, mode & 07777);
        umask(old_umask);
        if (fd < 0) return -errno;
        char value[48], *p = value;
        *p++ = (mode & S_IFMT) == S_IFBLK ? 'b' : 'c';
        *p++ = ' ';
        p = zr_put_decimal(p, major);
        *p++ = ' ';
        p = zr_put_decimal(p, minor);
        // The owner is recorded even when it is root's: a stat looks for the owner first.
        rc = fsetxattr(fd, DEVICE, value, (size_t)(p - value), 0) == 0 && write_owner(NULL, fd, uid, gid) == 0 ? 0 : -errno;
        close(fd);
        if (rc != 0) unlink(where);
        return rc;
    }
    if (op == ZR_CREDS_OP_MKDIR || op == ZR_CREDS_OP_MKDIRAT) {
        rc = mkdir(where, mode);
        umask(old_umask);
        if (rc != 0) return ZR_CONTINUE;
        (void)write_owner(where, -1, uid, gid);
        return 0;
    }
    // Only a file that does not exist yet is made here: an existing one keeps its owner, and
    // opening it (a FIFO, a device) could block the supervisor. A dangling symbolic link is
    // left to the kernel, which creates its target with root's owner.
    int fd = open(where, (flags & ~(O_CREAT | O_EXCL | O_TRUNC)) | O_CREAT | O_EXCL | O_NOCTTY | O_CLOEXEC, mode);
    umask(old_umask);
    if (fd < 0) return ZR_CONTINUE;
    (void)write_owner(NULL, fd, uid, gid);
    struct seccomp_notif_addfd addfd = {
        .id = id,
        .flags = SECCOMP_ADDFD_FLAG_SEND,
        .srcfd = (uint32_t)fd,
        .newfd = 0,
        .newfd_flags = (flags & O_CLOEXEC) ? O_CLOEXEC : 0,
    };
    // With SEND, the new descriptor is the call's result: the notification is answered.
    int sent = ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &addfd);
    close(fd);
    if (sent < 0) {
        // The caller is gone or was interrupted (its open restarts and must find no file of
        // ours in the way of O_EXCL).
        unlink(where);
        return -ESRCH;
    }
    return ZR_ANSWERED;
}
