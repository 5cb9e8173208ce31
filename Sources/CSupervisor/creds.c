// The creds-tier supervisor (zr_creds.h). Everything after setup runs without allocation:
// the credential table and the tid index are mapped once, notifications are received into
// buffers allocated once, /proc files are read into stack buffers.
//
// Kernel rules followed here are those of kernel/sys.c (setuid, setreuid, setresuid, setfsuid
// and their gid twins) and kernel/groups.c (setgroups sorts, getgroups EINVAL when too
// small). "Privileged" is CAP_SETUID/CAP_SETGID in the fake effective capability set, which
// follows the uid changes as the kernel's does (capabilities(7), "Effect of user ID changes on
// capabilities"; security/commoncap.c cap_emulate_setxuid), PR_SET_KEEPCAPS and capset
// (cap_capset's subset rules): setpriv keeps capabilities across its setresuid that way.
#include "zr_creds.h"
#include "creds_private.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <seccomp.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

// Linux 6.6 (seccomp_unotify(2)): the supervisor's reply wakes the caller on the replying CPU
// and the caller's next notification is delivered synchronously, which roughly halves the
// round trip. Not in glibc 2.36's kernel headers.
#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif
// pidfd_open(2) flag (Linux 6.9): a pidfd for one thread, readable when that thread exits.
#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif

// PID_MAX_LIMIT on 64-bit kernels: no tid is larger.
#define TID_LIMIT (4 * 1024 * 1024)
// Threads with credentials known at once. A full table is swept of exited threads first.
#define SLOTS 16384

struct ids {
    uint32_t r, e, s, fs;
};

struct creds {
    struct ids uid, gid;
    uint64_t cap_permitted, cap_effective, cap_inheritable;
    uint32_t keepcaps;
    // An execve in progress: the stack address of the image that called it (0: none), and the
    // owner of a set-user-ID / set-group-ID file it runs (ZR_NO_ID: not set-id). We learn of
    // the call, not of its success: the next notification from a new image applies it.
    uint64_t exec_stamp;
    uint32_t exec_uid, exec_gid;
    uint32_t ngroups;
    uint32_t groups[ZR_CREDS_MAX_GROUPS];
};

// CAP_LAST_CAP is 40 (CAP_CHECKPOINT_RESTORE) since Linux 5.9.
#define CAPS_ALL ((1ULL << 41) - 1)
#define CAP_BIT(n) (1ULL << (n))
#define CAP_CHOWN_BIT CAP_BIT(0)
#define CAP_SETGID_BIT CAP_BIT(6)
#define CAP_SETUID_BIT CAP_BIT(7)
#define CAP_SETPCAP_BIT CAP_BIT(8)

// One thread's credentials. A slot belongs to a task, not to a number: `pidfd` refers to the
// task itself, so a recycled tid is recognised (its old pidfd reports the exit) instead of
// inheriting a dead thread's ids.
struct slot {
    int pidfd;     // -1: free
    pid_t tid, tgid;
    struct creds c;
};

static struct {
    const struct zr_creds_config *config;
    int proc;                  // fresh /proc of the supervisor's PID namespace
    int listener;
    struct slot *slots;        // SLOTS entries
    int32_t *by_tid;           // TID_LIMIT entries: slot index + 1, 0 for none
    unsigned used;             // slots [0, used) have been handed out at least once
    int32_t free_head;         // free list through slot.tid, -1 empty
    struct seccomp_notif *req;
    struct seccomp_notif_resp *resp;
    size_t req_size, resp_size;   // the kernel's sizes (SECCOMP_GET_NOTIF_SIZES)
    uint64_t answered, changes;   // notifications; credential changes among them
    // The ledger's share: stat family (full), chown family, creation; and how many of all were
    // let through to the kernel (SECCOMP_USER_NOTIF_FLAG_CONTINUE).
    uint64_t stats, chowns, creations, continued;
    int variant;                  // some thread has had credentials an execve would change
} S;

static void report(int up, int stage, int err, pid_t pid, int fd) {
    int msg[3] = {stage, err, pid};
    (void)zr_send_fd(up, fd, msg, sizeof msg);
}

// ---- /proc -----------------------------------------------------------------------------

// Writes "TID" + suffix into path (at least 48 bytes); snprintf would do, this cannot allocate.
static void proc_path(char *path, pid_t tid, const char *suffix) {
    char *p = zr_put_decimal(path, (uint64_t)tid);
    memcpy(p, suffix, strlen(suffix) + 1);
}

ssize_t zr_proc_read(pid_t tid, const char *suffix, char *buf, size_t size) {
    char path[48];
    proc_path(path, tid, suffix);
    int fd = openat(S.proc, path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t len;
    do {
        len = read(fd, buf, size - 1);
    } while (len < 0 && errno == EINTR);
    close(fd);
    if (len <= 0) return -1;
    buf[len] = 0;
    return len;
}

// Reads the Tgid: and PPid: lines of /proc/TID/status. 0 on success.
static int read_status(pid_t tid, pid_t *tgid, pid_t *ppid) {
    char buf[2048];
    if (zr_proc_read(tid, "/status", buf, sizeof buf) < 0) return -1;
    *tgid = *ppid = -1;
    for (char *line = buf; line != NULL && *line != 0;) {
        if (strncmp(line, "Tgid:", 5) == 0) *tgid = (pid_t)strtol(line + 5, NULL, 10);
        else if (strncmp(line, "PPid:", 5) == 0) *ppid = (pid_t)strtol(line + 5, NULL, 10);
        char *nl = strchr(line, '\n');
        line = nl ? nl + 1 : NULL;
    }
    return (*tgid > 0 && *ppid >= 0) ? 0 : -1;
}

// The startstack field of /proc/TID/stat: a new value for each execve (a new stack, placed at
// random). 0 if unreadable.
static uint64_t read_exec_stamp(pid_t tid) {
    char buf[1024];
    if (zr_proc_read(tid, "/stat", buf, sizeof buf) < 0) return 0;
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    char *p = strrchr(buf, ')');
    if (p == NULL) return 0;
    int field = 2;
    for (; *p != 0 && field < 28; p++)
        if (*p == ' ') field++;
    return field == 28 ? strtoull(p, NULL, 10) : 0;
}

// ---- the credential table ----------------------------------------------------------------

static int alive(const struct slot *s) {
    struct pollfd p = {.fd = s->pidfd, .events = POLLIN};
    int r;
    do {
        r = poll(&p, 1, 0);
    } while (r < 0 && errno == EINTR);
    return r == 0;   // readable (or error): the task has exited
}

static void release(int32_t index) {
    struct slot *s = &S.slots[index];
    if (s->tid > 0 && s->tid < TID_LIMIT && S.by_tid[s->tid] == index + 1) S.by_tid[s->tid] = 0;
    close(s->pidfd);
    s->pidfd = -1;
    s->tid = S.free_head;
    S.free_head = index;
}

static int32_t take(void) {
    if (S.free_head < 0 && S.used < SLOTS) {
        S.slots[S.used].pidfd = -1;
        S.slots[S.used].tid = -1;
        S.free_head = (int32_t)S.used++;
    }
    if (S.free_head < 0) {
        // Full: forget threads that have exited.
        for (unsigned i = 0; i < S.used; i++)
            if (S.slots[i].pidfd >= 0 && !alive(&S.slots[i])) release((int32_t)i);
    }
    if (S.free_head < 0) return -1;
    int32_t index = S.free_head;
    S.free_head = S.slots[index].tid;
    return index;
}

// The live slot of `tid`, or NULL; a slot whose task has exited is released on the way.
static void settle(struct slot *s);

static struct slot *find(pid_t tid) {
    if (tid <= 0 || tid >= TID_LIMIT || S.by_tid[tid] == 0) return NULL;
    int32_t index = S.by_tid[tid] - 1;
    if (alive(&S.slots[index])) {
        settle(&S.slots[index]);
        return &S.slots[index];
    }
    release(index);
    return NULL;
}

static void seed(struct creds *c) {
    const struct zr_creds_config *k = S.config;
    c->uid = (struct ids){k->uid, k->uid, k->uid, k->uid};
    c->gid = (struct ids){k->gid, k->gid, k->gid, k->gid};
    c->ngroups = k->ngroups;
    memcpy(c->groups, k->groups, sizeof c->groups);
    c->cap_permitted = c->cap_effective = k->uid == 0 ? CAPS_ALL : 0;
    c->cap_inheritable = 0;
    c->keepcaps = 0;
    c->exec_stamp = 0;
    c->exec_uid = c->exec_gid = ZR_NO_ID;
}

// The credentials a task without a slot has: those of the nearest ancestor that has one
// (credentials are copied at fork and clone and kept across execve), else the seed. A new
// thread takes its thread group leader's. The supervisor (pid 1) ends the walk.
static void inherit_from(pid_t tid, pid_t tgid, pid_t ppid, struct creds *out);

// A new task starts with its creator's credentials, not with an execve its creator has
// called but not completed.
static void inherit(pid_t tid, pid_t tgid, pid_t ppid, struct creds *out) {
    inherit_from(tid, tgid, ppid, out);
    out->exec_stamp = 0;
    out->exec_uid = out->exec_gid = ZR_NO_ID;
}

static void inherit_from(pid_t tid, pid_t tgid, pid_t ppid, struct creds *out) {
    struct slot *p;
    if (tgid != tid && (p = find(tgid)) != NULL) {
        *out = p->c;
        return;
    }
    for (int depth = 0; depth < 256 && ppid > 1; depth++) {
        if ((p = find(ppid)) != NULL) {
            *out = p->c;
            return;
        }
        // The parent forked from a thread other than its leader, which may be the one with
        // credentials.
        for (unsigned i = 0; i < S.used; i++) {
            struct slot *s = &S.slots[i];
            if (s->pidfd >= 0 && s->tgid == ppid && alive(s)) {
                *out = s->c;
                return;
            }
        }
        pid_t ptgid, pppid;
        if (read_status(ppid, &ptgid, &pppid) != 0) break;
        ppid = pppid;
    }
    seed(out);
}

// The slot of the thread behind notification `id`, made (and its credentials inherited) if it
// has none. NULL when the table is full or the thread is gone.
static struct slot *lookup(pid_t tid, uint64_t id) {
    struct slot *s = find(tid);
    if (s != NULL) return s;
    if (tid <= 0 || tid >= TID_LIMIT) return NULL;
    pid_t tgid, ppid;
    if (read_status(tid, &tgid, &ppid) != 0) return NULL;
    int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    // Before 6.9 only thread group leaders have pidfds.
    if (pidfd < 0 && tid == tgid) pidfd = (int)syscall(SYS_pidfd_open, tid, 0);
    if (pidfd < 0) return NULL;
    // The notification still being pending proves that `tid` named its caller when the pidfd
    // was opened and the status read (seccomp_unotify(2), "Caveats").
    if (seccomp_notify_id_valid(S.listener, id) != 0) {
        close(pidfd);
        return NULL;
    }
    int32_t index = take();
    if (index < 0) {
        close(pidfd);
        return NULL;
    }
    s = &S.slots[index];
    s->pidfd = pidfd;
    s->tid = tid;
    s->tgid = tgid;
    inherit(tid, tgid, ppid, &s->c);
    S.by_tid[tid] = index + 1;
    return s;
}

// Gives `tid` a slot holding the credentials it has now by inheritance. Used before a
// credential change: a thread or child that has not been seen yet took its credentials from
// its creator when it was created, and must not take the changed ones later.
static void materialize(pid_t tid) {
    if (tid <= 1 || tid >= TID_LIMIT || find(tid) != NULL) return;
    pid_t tgid, ppid;
    if (read_status(tid, &tgid, &ppid) != 0) return;
    int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    if (pidfd < 0 && tid == tgid) pidfd = (int)syscall(SYS_pidfd_open, tid, 0);
    if (pidfd < 0) return;
    struct creds c;
    inherit(tid, tgid, ppid, &c);
    int32_t index = take();
    if (index < 0) {
        close(pidfd);
        return;
    }
    // A task that exited between the status read and pidfd_open and whose tid was reused got
    // the same answer: any task created before the change inherits the same credentials.
    struct slot *s = &S.slots[index];
    s->pidfd = pidfd;
    s->tid = tid;
    s->tgid = tgid;
    s->c = c;
    S.by_tid[tid] = index + 1;
}

// Calls `each` for every numeric entry of the /proc directory `dir` (relative to S.proc).
static void each_pid(const char *dir, void (*each)(pid_t)) {
    int fd = openat(S.proc, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return;
    char buf[4096] __attribute__((aligned(8)));
    for (;;) {
        long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
        if (n <= 0) break;
        for (long off = 0; off < n;) {
            struct {
                uint64_t ino;
                int64_t off;
                unsigned short reclen;
                unsigned char type;
                char name[];
            } *d = (void *)(buf + off);
            off += d->reclen;
            pid_t pid = 0;
            const char *c = d->name;
            if (*c < '1' || *c > '9') continue;
            for (; *c >= '0' && *c <= '9'; c++) pid = pid * 10 + (*c - '0');
            if (*c == 0) each(pid);
        }
    }
    close(fd);
}

static void materialize_group(pid_t tgid) {
    if (tgid <= 1) return;
    char path[48];
    proc_path(path, tgid, "/task");
    each_pid(path, materialize);
}

// Before the credentials of one thread change, every task of the namespace without a slot
// gets one with what it has now. Set*id calls are rare (a few per package install), tasks
// few; the walk costs nothing on the get*id path.
static void materialize_all(void) { each_pid(".", materialize_group); }

// ---- the kernel's rules --------------------------------------------------------------------

static int is_one_of(uint32_t id, const struct ids *o) { return id == o->r || id == o->e || id == o->s; }

// setuid(2) / setgid(2).
static int set_one(struct ids *ids, uint32_t id, int privileged) {
    if (id == ZR_NO_ID) return -EINVAL;
    if (privileged) {
        ids->r = ids->s = id;
    } else if (id != ids->r && id != ids->s) {
        return -EPERM;
    }
    ids->e = ids->fs = id;
    return 0;
}

// setreuid(2) / setregid(2).
static int set_re(struct ids *ids, uint32_t r, uint32_t e, int privileged) {
    struct ids n = *ids;
    if (r != ZR_NO_ID) {
        if (!(r == ids->r || r == ids->e || privileged)) return -EPERM;
        n.r = r;
    }
    if (e != ZR_NO_ID) {
        if (!(is_one_of(e, ids) || privileged)) return -EPERM;
        n.e = e;
    }
    if (r != ZR_NO_ID || (e != ZR_NO_ID && e != ids->r)) n.s = n.e;
    n.fs = n.e;
    *ids = n;
    return 0;
}

// setresuid(2) / setresgid(2).
static int set_res(struct ids *ids, uint32_t r, uint32_t e, uint32_t s, int privileged) {
    if (!privileged) {
        if ((r != ZR_NO_ID && !is_one_of(r, ids)) || (e != ZR_NO_ID && !is_one_of(e, ids)) ||
            (s != ZR_NO_ID && !is_one_of(s, ids)))
            return -EPERM;
    }
    if (r != ZR_NO_ID) ids->r = r;
    if (e != ZR_NO_ID) ids->e = e;
    if (s != ZR_NO_ID) ids->s = s;
    ids->fs = ids->e;
    return 0;
}

// setfsuid(2) / setfsgid(2): never fails, returns the previous fs id.
static uint32_t set_fs(struct ids *ids, uint32_t id, int privileged) {
    uint32_t old = ids->fs;
    if (id != ZR_NO_ID && (is_one_of(id, ids) || id == ids->fs || privileged)) ids->fs = id;
    return old;
}

// What execve leaves (capabilities(7), "Transformation of capabilities during execve()",
// files without capabilities): root (real or effective uid 0) gets the full permitted set,
// effective only with euid 0; anyone else none. Keepcaps is cleared.
static void exec_caps(struct creds *c) {
    int root = c->uid.e == 0 || c->uid.r == 0;
    c->cap_permitted = root ? CAPS_ALL : 0;
    c->cap_effective = c->uid.e == 0 ? c->cap_permitted : 0;
    c->keepcaps = 0;
}

// Applies a completed execve (execve(2)): the owner of a set-user-ID (set-group-ID) file
// becomes the effective uid (gid), the saved ids copy the effective ones, capabilities are
// recomputed. An execve that failed left the caller's image, and so its stack, in place.
static void settle(struct slot *s) {
    struct creds *c = &s->c;
    if (c->exec_stamp == 0) return;
    uint64_t now = read_exec_stamp(s->tid);
    if (now == 0 || now == c->exec_stamp) return;
    if (c->exec_uid != ZR_NO_ID) c->uid.e = c->exec_uid;
    if (c->exec_gid != ZR_NO_ID) c->gid.e = c->exec_gid;
    c->uid.s = c->uid.fs = c->uid.e;
    c->gid.s = c->gid.fs = c->gid.e;
    exec_caps(c);
    c->exec_stamp = 0;
    c->exec_uid = c->exec_gid = ZR_NO_ID;
}

// cap_emulate_setxuid: leaving uid 0 entirely drops every capability (unless keepcaps),
// euid leaving 0 clears the effective set, euid returning to 0 restores it from permitted.
static void fix_caps(struct creds *c, struct ids old) {
    const struct ids *n = &c->uid;
    if ((old.r == 0 || old.e == 0 || old.s == 0) && n->r != 0 && n->e != 0 && n->s != 0 && !c->keepcaps) {
        c->cap_permitted = 0;
        c->cap_effective = 0;
    }
    if (old.e == 0 && n->e != 0) c->cap_effective = 0;
    if (old.e != 0 && n->e == 0) c->cap_effective = c->cap_permitted;
}

// ---- tracee memory -------------------------------------------------------------------------

int zr_tracee_read(pid_t tid, uint64_t addr, void *buf, size_t len) {
    struct iovec local = {.iov_base = buf, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)addr, .iov_len = len};
    ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    return n == (ssize_t)len ? 0 : -EFAULT;
}

int zr_tracee_write(pid_t tid, const struct iovec *local, const struct iovec *remote, unsigned long count,
                    size_t total) {
    ssize_t n = process_vm_writev(tid, local, count, remote, count, 0);
    return n == (ssize_t)total ? 0 : -EFAULT;
}

// ---- one notification ----------------------------------------------------------------------

static uint32_t result_id(uint32_t id, int id16) {
    // high2lowuid: ids that do not fit answer the overflow id, 65534.
    if (id16) return id > 0xffff ? 65534 : id;
    return id;
}

// The table indexed by ABI and low bits of the number (x32 numbers carry bit 30): the full
// tier notifies the stat family, so this lookup runs for most of the command's calls.
#define INDEX_ARCHS 4
#define INDEX_SIZE 1024
static uint32_t index_arch[INDEX_ARCHS];
static int16_t call_index[INDEX_ARCHS][INDEX_SIZE];   // table index + 1, 0: none or collision

static void build_index(void) {
    const struct zr_creds_config *k = S.config;
    for (unsigned i = 0; i < k->table_len && i < INT16_MAX; i++) {
        int a = 0;
        while (a < INDEX_ARCHS && index_arch[a] != 0 && index_arch[a] != k->table[i].arch) a++;
        if (a == INDEX_ARCHS) continue;   // more ABIs than slots: found by the linear scan
        index_arch[a] = k->table[i].arch;
        int16_t *e = &call_index[a][(uint32_t)k->table[i].nr % INDEX_SIZE];
        *e = *e == 0 ? (int16_t)(i + 1) : -1;
    }
}

static const struct zr_creds_syscall *classify(const struct seccomp_data *d) {
    const struct zr_creds_config *k = S.config;
    for (int a = 0; a < INDEX_ARCHS && index_arch[a] != 0; a++) {
        if (index_arch[a] != d->arch) continue;
        int16_t e = call_index[a][(uint32_t)d->nr % INDEX_SIZE];
        if (e == 0) return NULL;
        if (e > 0) return k->table[e - 1].nr == d->nr ? &k->table[e - 1] : NULL;
        break;
    }
    for (unsigned i = 0; i < k->table_len; i++)
        if (k->table[i].arch == d->arch && k->table[i].nr == d->nr) return &k->table[i];
    return NULL;
}

static int64_t getresid(pid_t tid, const struct ids *ids, const __u64 *args, int id16) {
    uint32_t v32[3] = {ids->r, ids->e, ids->s};
    uint16_t v16[3] = {(uint16_t)result_id(ids->r, 1), (uint16_t)result_id(ids->e, 1), (uint16_t)result_id(ids->s, 1)};
    size_t size = id16 ? 2 : 4;
    struct iovec local[3], remote[3];
    for (int i = 0; i < 3; i++) {
        local[i].iov_base = id16 ? (void *)&v16[i] : (void *)&v32[i];
        local[i].iov_len = size;
        remote[i].iov_base = (void *)(uintptr_t)args[i];
        remote[i].iov_len = size;
    }
    return zr_tracee_write(tid, local, remote, 3, 3 * size);
}

static int64_t getgroups_call(pid_t tid, const struct creds *c, const __u64 *args, int id16) {
    int size = (int)args[0];
    if (size < 0) return -EINVAL;
    if (size == 0) return c->ngroups;
    if ((uint32_t)size < c->ngroups) return -EINVAL;
    if (c->ngroups == 0) return 0;
    uint16_t g16[ZR_CREDS_MAX_GROUPS];
    for (uint32_t i = 0; i < c->ngroups; i++) g16[i] = (uint16_t)result_id(c->groups[i], 1);
    size_t len = c->ngroups * (id16 ? 2 : 4);
    struct iovec local = {.iov_base = id16 ? (void *)g16 : (void *)c->groups, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)args[1], .iov_len = len};
    int rc = zr_tracee_write(tid, &local, &remote, 1, len);
    return rc != 0 ? rc : c->ngroups;
}

static int64_t setgroups_call(pid_t tid, struct creds *c, const __u64 *args, int id16, uint64_t id, int privileged) {
    if (!privileged) return -EPERM;
    int size = (int)args[0];
    if (size < 0 || size > ZR_CREDS_MAX_GROUPS) return -EINVAL;
    uint32_t groups[ZR_CREDS_MAX_GROUPS];
    if (size > 0) {
        if (id16) {
            uint16_t g16[ZR_CREDS_MAX_GROUPS];
            int rc = zr_tracee_read(tid, args[1], g16, (size_t)size * 2);
            if (rc != 0) return rc;
            for (int i = 0; i < size; i++) groups[i] = zr_arg_id(g16[i], 1);
        } else {
            int rc = zr_tracee_read(tid, args[1], groups, (size_t)size * 4);
            if (rc != 0) return rc;
        }
    }
    // What was read came from the caller only if it is still waiting (a recycled tid would
    // have given another process's memory).
    if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
    // The kernel keeps groups sorted (groups_sort), and getgroups returns them so.
    for (int i = 1; i < size; i++) {
        uint32_t g = groups[i];
        int j = i - 1;
        while (j >= 0 && groups[j] > g) {
            groups[j + 1] = groups[j];
            j--;
        }
        groups[j + 1] = g;
    }
    memcpy(c->groups, groups, (size_t)size * 4);
    c->ngroups = (uint32_t)size;
    return 0;
}

// SO_PEERCRED: the kernel's answer, with the peer's fake uid and gid (PostgreSQL's peer
// authentication compares them with the server's).
static int64_t peercred(pid_t tid, const __u64 *args, uint64_t id) {
    int fd = (int)args[0];
    int pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD);
    if (pidfd < 0) return -ESRCH;
    int sock = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    close(pidfd);
    if (sock < 0) return errno == EBADF ? -EBADF : -ENOTSOCK;
    struct ucred cred;
    socklen_t len = sizeof cred;
    int rc = getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len);
    int saved = errno;
    close(sock);
    if (rc != 0) return -saved;
    socklen_t user_len;
    rc = zr_tracee_read(tid, args[4], &user_len, sizeof user_len);
    if (rc != 0) return rc;
    if ((int)user_len < 0) return -EINVAL;
    // The peer's pid is in this PID namespace's numbering, as the caller's is.
    if (cred.pid > 0) {
        struct slot *peer = find(cred.pid);
        struct creds c;
        if (peer != NULL) {
            c = peer->c;
        } else {
            pid_t ptgid, pppid;
            if (read_status(cred.pid, &ptgid, &pppid) == 0) inherit(cred.pid, ptgid, pppid, &c);
            else seed(&c);
        }
        cred.uid = c.uid.e;
        cred.gid = c.gid.e;
    }
    if (user_len > sizeof cred) user_len = sizeof cred;
    if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
    struct iovec local[2] = {{.iov_base = &cred, .iov_len = user_len}, {.iov_base = &user_len, .iov_len = sizeof user_len}};
    struct iovec remote[2] = {{.iov_base = (void *)(uintptr_t)args[3], .iov_len = user_len},
                              {.iov_base = (void *)(uintptr_t)args[4], .iov_len = sizeof user_len}};
    return zr_tracee_write(tid, local, remote, 2, user_len + sizeof user_len);
}

// ---- capabilities ----------------------------------------------------------------------

// <linux/capability.h>: header versions and how many 32-bit words of each set they carry.
#define CAP_V1 0x19980330u
#define CAP_V2 0x20071026u
#define CAP_V3 0x20080522u

struct cap_header {
    uint32_t version;
    int32_t pid;
};

struct cap_data {
    uint32_t effective, permitted, inheritable;
};

static int cap_words(uint32_t version) { return version == CAP_V1 ? 1 : (version == CAP_V2 || version == CAP_V3) ? 2 : 0; }

// An unknown version: the kernel writes the one it prefers into the header and fails
// (cap_validate_magic); libcap probes that way.
static int64_t cap_bad_version(pid_t tid, uint64_t header) {
    uint32_t v = CAP_V3;
    struct iovec local = {.iov_base = &v, .iov_len = sizeof v};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)header, .iov_len = sizeof v};
    int rc = zr_tracee_write(tid, &local, &remote, 1, sizeof v);
    return rc != 0 ? rc : -EINVAL;
}

static int64_t capget_call(pid_t tid, const struct creds *c, const __u64 *a, uint64_t id) {
    struct cap_header h;
    int rc = zr_tracee_read(tid, a[0], &h, sizeof h);
    if (rc != 0) return rc;
    int words = cap_words(h.version);
    if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
    if (words == 0) return cap_bad_version(tid, a[0]);
    if (h.pid < 0) return -EINVAL;
    struct creds target = *c;
    if (h.pid != 0 && h.pid != tid) {
        struct slot *p = find(h.pid);
        pid_t tgid, ppid;
        if (p != NULL) target = p->c;
        else if (read_status(h.pid, &tgid, &ppid) == 0) inherit(h.pid, tgid, ppid, &target);
        else return -ESRCH;
    }
    if (a[1] == 0) return 0;
    struct cap_data d[2];
    for (int i = 0; i < 2; i++) {
        d[i].effective = (uint32_t)(target.cap_effective >> (32 * i));
        d[i].permitted = (uint32_t)(target.cap_permitted >> (32 * i));
        d[i].inheritable = (uint32_t)(target.cap_inheritable >> (32 * i));
    }
    size_t len = (size_t)words * sizeof d[0];
    struct iovec local = {.iov_base = d, .iov_len = len};
    struct iovec remote = {.iov_base = (void *)(uintptr_t)a[1], .iov_len = len};
    return zr_tracee_write(tid, &local, &remote, 1, len);
}

// cap_capset: the new permitted set within the old one, effective within the new permitted,
// inheritable within old inheritable + permitted unless CAP_SETPCAP is effective.
static int64_t capset_call(pid_t tid, struct creds *c, const __u64 *a, uint64_t id) {
    struct cap_header h;
    int rc = zr_tracee_read(tid, a[0], &h, sizeof h);
    if (rc != 0) return rc;
    int words = cap_words(h.version);
    if (words == 0) {
        if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
        return cap_bad_version(tid, a[0]);
    }
    if (h.pid != 0 && h.pid != tid) return -EPERM;
    struct cap_data d[2];
    memset(d, 0, sizeof d);
    rc = zr_tracee_read(tid, a[1], d, (size_t)words * sizeof d[0]);
    if (rc != 0) return rc;
    if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
    uint64_t e = ((uint64_t)d[1].effective << 32 | d[0].effective) & CAPS_ALL;
    uint64_t p = ((uint64_t)d[1].permitted << 32 | d[0].permitted) & CAPS_ALL;
    uint64_t i = ((uint64_t)d[1].inheritable << 32 | d[0].inheritable) & CAPS_ALL;
    if (!(c->cap_effective & CAP_SETPCAP_BIT) && (i & ~(c->cap_inheritable | c->cap_permitted))) return -EPERM;
    if (p & ~c->cap_permitted) return -EPERM;
    if (e & ~p) return -EPERM;
    c->cap_effective = e;
    c->cap_permitted = p;
    c->cap_inheritable = i;
    return 0;
}

// prctl(PR_GET_KEEPCAPS) = 7, prctl(PR_SET_KEEPCAPS, 0|1) = 8.
static int64_t keepcaps_call(struct creds *c, const __u64 *a) {
    if (a[0] == 7) return c->keepcaps;
    if (a[1] > 1) return -EINVAL;
    c->keepcaps = (uint32_t)a[1];
    return 0;
}

// Reads a NUL-terminated string from the tracee, a page at a time (a longer read could cross
// into an unmapped page). 0, or -EFAULT / -ENAMETOOLONG.
int zr_tracee_string(pid_t tid, uint64_t addr, char *buf, size_t size) {
    size_t got = 0;
    while (got < size) {
        size_t chunk = 4096 - (size_t)((addr + got) & 4095);
        if (chunk > size - got) chunk = size - got;
        int rc = zr_tracee_read(tid, addr + got, buf + got, chunk);
        if (rc != 0) return rc;
        if (memchr(buf + got, 0, chunk) != NULL) return 0;
        got += chunk;
    }
    return -ENAMETOOLONG;
}

// The set-user-ID and set-group-ID owners of the file an execve names (ZR_NO_ID where the bit
// is not set, or the file cannot be seen). The path is resolved as the caller would: relative
// to its cwd or dirfd, via /proc; the supervisor has the command's root (same mount
// namespace, after pivot_root), so an absolute path means the same file here. A command that
// chroots is not followed. Where the ledger is kept the owner is the recorded one.
static void exec_file(pid_t tid, const __u64 *a, int at, uint32_t *uid, uint32_t *gid) {
    *uid = *gid = ZR_NO_ID;
    char path[PATH_MAX], where[ZR_PATH_ROOM];
    uint64_t addr = at ? a[1] : a[0];
    // A NULL or unreadable path: the kernel reports it.
    if (addr == 0 || zr_caller_path(tid, at ? (int)a[0] : AT_FDCWD, addr, path, where) != 0) return;
    int follow = !(at && ((int)a[4] & AT_SYMLINK_NOFOLLOW)) || path[0] == 0;
    struct stat st;
    if (fstatat(AT_FDCWD, where, &st, follow ? 0 : AT_SYMLINK_NOFOLLOW) != 0 || !S_ISREG(st.st_mode)) return;
    if (!(st.st_mode & S_ISUID) && !((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP))) return;
    uint32_t owner = st.st_uid, group = st.st_gid;
    if (S.config->ledger) (void)zr_owner_recorded(where, follow, &owner, &group);
    if (st.st_mode & S_ISUID) *uid = owner;
    // A set-group-ID file without group execute is mandatory locking, not set-gid.
    if ((st.st_mode & S_ISGID) && (st.st_mode & S_IXGRP)) *gid = group;
}

// True when an execve of a file without set-id bits changes none of `c`: saved and fs ids
// equal the effective ones and the capabilities are those execve would compute.
static int exec_invariant(const struct creds *c) {
    if (c->uid.s != c->uid.e || c->uid.fs != c->uid.e || c->gid.s != c->gid.e || c->gid.fs != c->gid.e) return 0;
    struct creds d = *c;
    exec_caps(&d);
    return c->keepcaps == 0 && d.cap_permitted == c->cap_permitted && d.cap_effective == c->cap_effective;
}

// execve/execveat: notes which image called it and what the file makes of the credentials,
// then lets the call run (SECCOMP_USER_NOTIF_FLAG_CONTINUE: the kernel execs as usual).
static int64_t exec_call(pid_t tid, struct creds *c, uint32_t uid, uint32_t gid, uint64_t id) {
    if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
    c->exec_stamp = read_exec_stamp(tid);
    c->exec_uid = uid;
    c->exec_gid = gid;
    return ZR_CONTINUE;
}

static int64_t answer(const struct zr_creds_syscall *call, struct slot *s, uint64_t id) {
    const __u64 *a = S.req->data.args;
    pid_t tid = (pid_t)S.req->pid;
    int id16 = call->id16;
    struct creds *c = &s->c;
    int setuid_ok = (c->cap_effective & CAP_SETUID_BIT) != 0;
    int setgid_ok = (c->cap_effective & CAP_SETGID_BIT) != 0;
    struct ids old = c->uid;
    int64_t rc;
    switch (call->op) {
    case ZR_CREDS_OP_GETUID: return result_id(c->uid.r, id16);
    case ZR_CREDS_OP_GETEUID: return result_id(c->uid.e, id16);
    case ZR_CREDS_OP_GETGID: return result_id(c->gid.r, id16);
    case ZR_CREDS_OP_GETEGID: return result_id(c->gid.e, id16);
    case ZR_CREDS_OP_GETRESUID:
    case ZR_CREDS_OP_GETRESGID:
        if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
        return getresid(tid, call->op == ZR_CREDS_OP_GETRESUID ? &c->uid : &c->gid, a, id16);
    case ZR_CREDS_OP_GETGROUPS:
        if (seccomp_notify_id_valid(S.listener, id) != 0) return -ESRCH;
        return getgroups_call(tid, c, a, id16);
    case ZR_CREDS_OP_SETUID:
        rc = set_one(&c->uid, zr_arg_id(a[0], id16), setuid_ok);
        break;
    case ZR_CREDS_OP_SETGID: return set_one(&c->gid, zr_arg_id(a[0], id16), setgid_ok);
    case ZR_CREDS_OP_SETREUID:
        rc = set_re(&c->uid, zr_arg_id(a[0], id16), zr_arg_id(a[1], id16), setuid_ok);
        break;
    case ZR_CREDS_OP_SETREGID: return set_re(&c->gid, zr_arg_id(a[0], id16), zr_arg_id(a[1], id16), setgid_ok);
    case ZR_CREDS_OP_SETRESUID:
        rc = set_res(&c->uid, zr_arg_id(a[0], id16), zr_arg_id(a[1], id16), zr_arg_id(a[2], id16), setuid_ok);
        break;
    case ZR_CREDS_OP_SETRESGID:
        return set_res(&c->gid, zr_arg_id(a[0], id16), zr_arg_id(a[1], id16), zr_arg_id(a[2], id16), setgid_ok);
    case ZR_CREDS_OP_SETFSUID: return result_id(set_fs(&c->uid, zr_arg_id(a[0], id16), setuid_ok), id16);
    case ZR_CREDS_OP_SETFSGID: return result_id(set_fs(&c->gid, zr_arg_id(a[0], id16), setgid_ok), id16);
    case ZR_CREDS_OP_SETGROUPS: return setgroups_call(tid, c, a, id16, id, setgid_ok);
    case ZR_CREDS_OP_CAPGET: return capget_call(tid, c, a, id);
    case ZR_CREDS_OP_CAPSET: return capset_call(tid, c, a, id);
    case ZR_CREDS_OP_KEEPCAPS: return keepcaps_call(c, a);
    case ZR_CREDS_OP_EXECVE:
    case ZR_CREDS_OP_EXECVEAT: {
        uint32_t uid, gid;
        exec_file(tid, a, call->op == ZR_CREDS_OP_EXECVEAT, &uid, &gid);
        return exec_call(tid, c, uid, gid, id);
    }
    case ZR_CREDS_OP_PEERCRED: return peercred(tid, a, id);
    default: return -ENOSYS;
    }
    // A uid change: capabilities follow (only the uid calls reach here).
    if (rc == 0) fix_caps(c, old);
    return rc;
}

static void handle(void) {
    struct seccomp_notif *req = S.req;
    struct seccomp_notif_resp *resp = S.resp;
    memset(resp, 0, S.resp_size);
    resp->id = req->id;
    const struct zr_creds_syscall *call = classify(&req->data);
    int64_t rc;
    if (call == NULL) {
        // Not ours (cannot happen with a filter built from the same table): run it.
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
        (void)seccomp_notify_respond(S.listener, resp);
        return;
    }
    // Most execs change nothing: no set-id bit, and credentials execve leaves as they are.
    // Those are let through without a slot or a /proc read (a compiler driver execs often).
    if (call->op == ZR_CREDS_OP_EXECVE || call->op == ZR_CREDS_OP_EXECVEAT) {
        uint32_t uid, gid;
        exec_file((pid_t)req->pid, req->data.args, call->op == ZR_CREDS_OP_EXECVEAT, &uid, &gid);
        struct slot *known = find((pid_t)req->pid);
        if (uid == ZR_NO_ID && gid == ZR_NO_ID && (known != NULL ? exec_invariant(&known->c) : !S.variant)) {
            resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
            (void)seccomp_notify_respond(S.listener, resp);
            return;
        }
    }
    // The full tier's stat family needs no credentials: most answers are "let the kernel do
    // it", and the stat family is most of all notifications.
    struct slot *s;
    if (call->op >= ZR_CREDS_OP_STAT && call->op <= ZR_CREDS_OP_STATX) {
        S.stats++;
        rc = zr_owner_stat((pid_t)req->pid, call->op, req->data.args, S.listener, req->id);
    } else if (call->op >= ZR_CREDS_OP_CHOWN) {
        // chown and creation act as the caller's fake filesystem ids.
        s = lookup((pid_t)req->pid, req->id);
        struct creds seeded;
        const struct creds *c = s != NULL ? &s->c : (seed(&seeded), &seeded);
        struct zr_fs_identity who = {
            .fsuid = c->uid.fs, .fsgid = c->gid.fs, .groups = c->groups, .ngroups = c->ngroups,
            .cap_chown = (c->cap_effective & CAP_CHOWN_BIT) != 0,
        };
        if (call->op <= ZR_CREDS_OP_FCHOWNAT) {
            S.chowns++;
            rc = zr_owner_chown((pid_t)req->pid, call->op, call->id16, req->data.args, &who, S.listener, req->id);
        } else {
            S.creations++;
            rc = zr_owner_create((pid_t)req->pid, call->op, req->data.args, &who, S.listener, req->id);
        }
        if (rc == ZR_ANSWERED) return;
    } else if ((s = lookup((pid_t)req->pid, req->id)) == NULL) {
        // find (through lookup) applies an execve the caller completed since its last call.
        // The caller is gone, or the table is full of live threads: setuid(2) documents
        // EAGAIN for a temporary failure to change credentials; a get*id answers the seed.
        if (call->op == ZR_CREDS_OP_EXECVE || call->op == ZR_CREDS_OP_EXECVEAT) {
            rc = ZR_CONTINUE;
        } else if (call->op >= ZR_CREDS_OP_SETUID && call->op != ZR_CREDS_OP_PEERCRED && call->op != ZR_CREDS_OP_CAPGET) {
            rc = -EAGAIN;
        } else {
            struct slot tmp = {.pidfd = -1, .tid = (pid_t)req->pid};
            seed(&tmp.c);
            rc = answer(call, &tmp, req->id);
        }
    } else if (call->op >= ZR_CREDS_OP_SETUID && call->op <= ZR_CREDS_OP_KEEPCAPS) {
        struct creds before = s->c;
        rc = answer(call, s, req->id);
        if (rc >= 0 && memcmp(&before, &s->c, sizeof before) != 0) {
            S.changes++;
            // From now on a task without a slot may inherit credentials an execve changes.
            if (!exec_invariant(&s->c)) S.variant = 1;
            // Others must inherit what this thread had, not what it now has.
            struct creds after = s->c;
            s->c = before;
            materialize_all();
            s->c = after;
        }
    } else {
        rc = answer(call, s, req->id);
    }
    if (rc == ZR_CONTINUE) {
        S.continued++;
        resp->flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    } else if (rc < 0) {
        resp->error = (int32_t)rc;
    } else {
        resp->val = rc;
    }
    // ENOENT: the caller died or was interrupted before we received it; nothing to do.
    (void)seccomp_notify_respond(S.listener, resp);
}

// ---- the supervisor ------------------------------------------------------------------------

static int shell_status(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return 125;
}

static char *put_text(char *p, const char *text) {
    size_t len = strlen(text);
    memcpy(p, text, len);
    return p + len;
}

// "zr-run: creds: N notifications, M credential changes" and, where the ledger is kept, "; stat S,
// chown C, create K, let through L" (benchmarks and the tests use it).
static void print_stats(void) {
    if (S.config->stats_fd < 0) return;
    char line[256], *p = line;
    p = zr_put_decimal(put_text(p, "zr-run: creds: "), S.answered);
    p = zr_put_decimal(put_text(p, " notifications, "), S.changes);
    p = put_text(p, " credential changes");
    if (S.config->ledger) {
        p = zr_put_decimal(put_text(p, "; stat "), S.stats);
        p = zr_put_decimal(put_text(p, ", chown "), S.chowns);
        p = zr_put_decimal(put_text(p, ", create "), S.creations);
        p = zr_put_decimal(put_text(p, ", let through "), S.continued);
    }
    p = put_text(p, "\n");
    (void)!write(S.config->stats_fd, line, (size_t)(p - line));
}

static int supervise(int sigfd, pid_t main_pid) {
    struct pollfd fds[2] = {{.fd = S.listener, .events = POLLIN}, {.fd = sigfd, .events = POLLIN}};
    for (;;) {
        int n = poll(fds, 2, -1);
        if (n < 0) {
            if (errno == EINTR) continue;
            return 125;
        }
        if (fds[1].revents & POLLIN) {
            struct signalfd_siginfo si;
            while (read(sigfd, &si, sizeof si) == (ssize_t)sizeof si) {
                if (si.ssi_signo != SIGCHLD) {
                    // zr-run passes signals on to us; we pass them on to the command.
                    kill(main_pid, (int)si.ssi_signo);
                    continue;
                }
                // pid 1 reaps every orphan of the namespace.
                int status;
                pid_t pid;
                while ((pid = waitpid(-1, &status, WNOHANG | __WALL)) > 0)
                    if (pid == main_pid) {
                        print_stats();
                        return shell_status(status);
                    }
            }
        }
        if (fds[0].revents & POLLIN) {
            // The kernel refuses a receive buffer that is not zeroed (EINVAL), and libseccomp
            // 2.5.4 does not clear it.
            memset(S.req, 0, S.req_size);
            if (seccomp_notify_receive(S.listener, S.req) == 0) {
                handle();
                S.answered++;
            }
        } else if (fds[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
            // No task uses the filter any more; only the exit is left to collect.
            fds[0].fd = -1;
        }
    }
}

/// The supervisor's own set-up: a fresh /proc, the notification buffers, the slot tables and
/// the descriptor limit. On failure, reports to zr-run and exits.
static void prepare_supervisor(int up, const struct zr_creds_config *config) {
    // A fresh /proc, so that pids in /proc, in notifications and in SO_PEERCRED answers are
    // this namespace's, and the tracees see only their own processes.
    if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        report(up, ZR_CREDS_PROC, errno, 0, -1);
        _exit(125);
    }
    S.proc = open("/proc", O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (S.proc < 0) {
        report(up, ZR_CREDS_PROC, errno, 0, -1);
        _exit(125);
    }
    // API level 5: user notification supported by libseccomp and the kernel; this also makes
    // libseccomp's notify calls usable in this process.
    if (seccomp_api_get() < 5 || seccomp_notify_alloc(&S.req, &S.resp) != 0) {
        report(up, ZR_CREDS_NOTIFY, EOPNOTSUPP, 0, -1);
        _exit(125);
    }
    struct seccomp_notif_sizes sizes;
    if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) != 0) {
        report(up, ZR_CREDS_NOTIFY, errno, 0, -1);
        _exit(125);
    }
    // What seccomp_notify_alloc allocated.
    S.req_size = sizes.seccomp_notif;
    S.resp_size = sizes.seccomp_notif_resp;
    S.config = config;
    build_index();
    S.free_head = -1;
    S.slots = mmap(NULL, SLOTS * sizeof(struct slot), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    S.by_tid = mmap(NULL, TID_LIMIT * sizeof(int32_t), PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (S.slots == MAP_FAILED || S.by_tid == MAP_FAILED) {
        report(up, ZR_CREDS_MEMORY, errno, 0, -1);
        _exit(125);
    }
    // One pidfd per thread with credentials: raise the descriptor limit as far as allowed.
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &nofile);
    }
}

/// Starts the command and answers its notifications (its execve among them) until the exec
/// report arrives; returns the command's pid, with its listener in S.listener. On failure,
/// reports to zr-run and exits.
static pid_t start_command(int up, const struct zr_spawn_args *spawn) {
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        report(up, ZR_CREDS_SOCKET, errno, 0, -1);
        _exit(125);
    }
    struct zr_spawn_args args = *spawn;
    args.listener_socket = sv[1];
    int stage = 0, err = 0, exec_report = -1;
    pid_t child = zr_spawn_start(&args, &exec_report, &stage, &err);
    close(sv[1]);
    if (child < 0) {
        report(up, stage, err, 0, -1);
        _exit(125);
    }
    // The child sends its listener before its execve, and that execve is itself notified:
    // answer notifications until the exec report (or a failure) arrives. A child that fails
    // before installing its filter sends nothing: the socket reads end-of-file.
    char tag;
    int listener = -1;
    ssize_t got = zr_recv_fd(sv[0], &listener, &tag, 1);
    close(sv[0]);
    if (got != 1 || listener < 0) {
        if (zr_spawn_finish(child, exec_report, &stage, &err) != 0) {
            report(up, stage, err, 0, -1);
        } else {
            kill(child, SIGKILL);
            report(up, ZR_CREDS_SOCKET, EPROTO, 0, -1);
        }
        _exit(125);
    }
    S.listener = listener;
    uint64_t flags = SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP;
    // An optimisation only (Linux 6.6); older kernels answer EINVAL and work as well.
    (void)ioctl(listener, SECCOMP_IOCTL_NOTIF_SET_FLAGS, flags);
    for (;;) {
        struct pollfd fds[2] = {{.fd = listener, .events = POLLIN}, {.fd = exec_report, .events = POLLIN}};
        if (poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[1].revents != 0) break;
        if (fds[0].revents & POLLIN) {
            memset(S.req, 0, S.req_size);
            if (seccomp_notify_receive(listener, S.req) == 0) handle();
        }
    }
    if (zr_spawn_finish(child, exec_report, &stage, &err) != 0) {
        report(up, stage, err, 0, -1);
        _exit(125);
    }
    return child;
}

static void supervisor(int up, const struct zr_spawn_args *spawn, const struct zr_creds_config *config) {
    // zr-run dying must take the whole step with it: pid 1's death kills the namespace. Our
    // parent is outside the namespace, so getppid() is 0 and cannot show an early death; the
    // socket to it can (POLLHUP once its end is closed).
    prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
    struct pollfd p = {.fd = up, .events = 0};
    if (poll(&p, 1, 0) == 1 && (p.revents & POLLHUP)) _exit(137);
    prepare_supervisor(up, config);

    // Every signal is taken through a signalfd: pid 1 of a namespace receives only signals it
    // handles (or blocks), and forwarding them needs no handler. The command unblocks all
    // before exec (zr_spawn).
    sigset_t all;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, NULL);
    int sigfd = signalfd(-1, &all, SFD_CLOEXEC | SFD_NONBLOCK);
    if (sigfd < 0) {
        report(up, ZR_CREDS_SOCKET, errno, 0, -1);
        _exit(125);
    }

    pid_t child = start_command(up, spawn);
    report(up, ZR_SPAWN_OK, 0, child, S.listener);
    close(up);
    _exit(supervise(sigfd, child));
}

pid_t zr_creds_start(const struct zr_spawn_args *spawn, const struct zr_creds_config *config,
                     int *listener, int *stage, int *err) {
    int up[2];
    *listener = -1;
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, up) != 0) {
        *stage = ZR_CREDS_SOCKET;
        *err = errno;
        return -1;
    }
    pid_t pid = fork();
    if (pid < 0) {
        *stage = ZR_SPAWN_FORK;
        *err = errno;
        close(up[0]);
        close(up[1]);
        return -1;
    }
    if (pid == 0) {
        close(up[0]);
        supervisor(up[1], spawn, config);
    }
    close(up[1]);
    int msg[3] = {ZR_CREDS_SOCKET, EPROTO, 0};
    int fd = -1;
    ssize_t n = zr_recv_fd(up[0], &fd, msg, sizeof msg);
    int saved = errno;
    close(up[0]);
    if (n != (ssize_t)sizeof msg || msg[0] != ZR_SPAWN_OK || fd < 0) {
        if (fd >= 0) close(fd);
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        *stage = n == (ssize_t)sizeof msg ? msg[0] : ZR_CREDS_SOCKET;
        *err = n == (ssize_t)sizeof msg ? msg[1] : (n < 0 ? saved : EPROTO);
        return -1;
    }
    *listener = fd;
    *stage = ZR_SPAWN_OK;
    *err = 0;
    return pid;
}
