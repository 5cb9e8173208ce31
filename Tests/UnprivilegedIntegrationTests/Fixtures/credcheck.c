/* Credential semantics under zr-run --consistency=creds, checked against the kernel's rules
 * (kernel/sys.c, credentials(7)). Built static by the tests and run in the Debian root as
 * fake root. `credcheck all` runs each check in a fresh child (so each starts as root) and
 * prints NAME=ok or NAME=FAIL: why; `credcheck spin FILE` calls getuid forever and reports an
 * ENOSYS (a supervisor gone without its listener held) in FILE. */
#define _GNU_SOURCE
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int failed;

static void fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("FAIL: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    fflush(stdout);
    failed = 1;
}

#define EXPECT(cond, ...) do { if (!(cond)) fail(__VA_ARGS__); } while (0)

static void expect_res(const char *what, uid_t r, uid_t e, uid_t s) {
    uid_t gr, ge, gs;
    if (getresuid(&gr, &ge, &gs) != 0) {
        fail("%s: getresuid: %s", what, strerror(errno));
        return;
    }
    EXPECT(gr == r && ge == e && gs == s, "%s: resuid %u,%u,%u, want %u,%u,%u", what, gr, ge, gs, r, e, s);
    EXPECT(getuid() == r && geteuid() == e, "%s: getuid/geteuid %u/%u", what, getuid(), geteuid());
}

/* Raw calls: glibc's wrappers broadcast set*id to every thread; these change one thread. */
static long raw_setresuid(uid_t r, uid_t e, uid_t s) { return syscall(SYS_setresuid, r, e, s); }

static void saved_ids(void) {
    /* Privileged: any ids. Keep 0 as saved, so root can come back. */
    EXPECT(setresuid(-1, 1000, 0) == 0, "setresuid(-1,1000,0): %s", strerror(errno));
    expect_res("euid dropped", 0, 1000, 0);
    EXPECT(setfsuid(-1) == 1000, "fsuid follows euid: %d", setfsuid(-1));
    /* Unprivileged now (euid 1000), but 0 is the real and saved id: allowed. */
    EXPECT(seteuid(0) == 0, "seteuid(0) with saved 0: %s", strerror(errno));
    expect_res("euid back", 0, 0, 0);
    /* setreuid with a new effective id different from the real one sets the saved id too. */
    EXPECT(setreuid(-1, 1000) == 0, "setreuid(-1,1000): %s", strerror(errno));
    expect_res("setreuid saved", 0, 1000, 1000);
    EXPECT(setreuid(-1, 0) == 0, "setreuid(-1,0) with real 0: %s", strerror(errno));
    /* setuid as privileged sets all three. */
    EXPECT(setuid(1000) == 0, "setuid(1000): %s", strerror(errno));
    expect_res("setuid drops all", 1000, 1000, 1000);
    /* An unprivileged caller may only pick among its own ids: EPERM. */
    errno = 0;
    EXPECT(setuid(0) == -1 && errno == EPERM, "setuid(0) after drop: %d %s", errno, strerror(errno));
    errno = 0;
    EXPECT(seteuid(0) == -1 && errno == EPERM, "seteuid(0) after drop: %s", strerror(errno));
    errno = 0;
    EXPECT(setresuid(-1, -1, 0) == -1 && errno == EPERM, "setresuid saved 0 after drop: %s", strerror(errno));
    errno = 0;
    EXPECT(setreuid(2000, -1) == -1 && errno == EPERM, "setreuid(2000) unprivileged: %s", strerror(errno));
    EXPECT(setfsuid(0) == 1000 && setfsuid(-1) == 1000, "setfsuid(0) unprivileged must not change fsuid");
    /* Group calls need CAP_SETGID, gone with euid 0. */
    errno = 0;
    EXPECT(setgid(5) == -1 && errno == EPERM, "setgid(5) unprivileged: %s", strerror(errno));
    gid_t g = 5;
    errno = 0;
    EXPECT(setgroups(1, &g) == -1 && errno == EPERM, "setgroups unprivileged: %s", strerror(errno));
    expect_res("still dropped", 1000, 1000, 1000);
    errno = 0;
    EXPECT(setuid(-1) == -1 && errno == EINVAL, "setuid(-1): %s", strerror(errno));
}

/* apt's check (apt-pkg/contrib/fileutl.cc DropPrivileges): after dropping to _apt, getting
 * root back must fail. */
static void irreversible(void) {
    gid_t groups[1] = {65534};
    EXPECT(setgroups(1, groups) == 0, "setgroups: %s", strerror(errno));
    EXPECT(setgid(65534) == 0, "setgid: %s", strerror(errno));
    EXPECT(setuid(42) == 0, "setuid: %s", strerror(errno));
    EXPECT(getuid() == 42 && geteuid() == 42 && getgid() == 65534 && getegid() == 65534,
           "ids %u %u %u %u", getuid(), geteuid(), getgid(), getegid());
    gid_t got[4];
    int n = getgroups(4, got);
    EXPECT(n == 1 && got[0] == 65534, "getgroups: %d", n);
    EXPECT(setuid(0) == -1 && seteuid(0) == -1 && setgid(0) == -1 && setegid(0) == -1,
           "root regained after a drop");
}

static void groups(void) {
    gid_t set[3] = {30, 10, 20};
    EXPECT(setgroups(3, set) == 0, "setgroups: %s", strerror(errno));
    EXPECT(getgroups(0, NULL) == 3, "getgroups(0): %d", getgroups(0, NULL));
    gid_t got[3];
    EXPECT(getgroups(3, got) == 3 && got[0] == 10 && got[1] == 20 && got[2] == 30,
           "getgroups sorted: %u %u %u", got[0], got[1], got[2]);
    errno = 0;
    EXPECT(getgroups(1, got) == -1 && errno == EINVAL, "getgroups too small: %s", strerror(errno));
    EXPECT(setgid(7) == 0 && getgid() == 7 && getegid() == 7, "setgid(7)");
    gid_t rg, eg, sg;
    EXPECT(getresgid(&rg, &eg, &sg) == 0 && rg == 7 && eg == 7 && sg == 7, "getresgid %u %u %u", rg, eg, sg);
}

static void *report_uid(void *arg) {
    (void)arg;
    return (void *)(long)geteuid();
}

static pthread_barrier_t barrier;
static volatile uid_t seen_after;

static void *waiter(void *arg) {
    (void)arg;
    pthread_barrier_wait(&barrier);   /* main thread changes ids (one thread only) */
    pthread_barrier_wait(&barrier);
    seen_after = geteuid();
    pthread_barrier_wait(&barrier);   /* main thread changes ids (glibc: every thread) */
    pthread_barrier_wait(&barrier);
    return (void *)(long)geteuid();
}

/* Credentials are per thread; glibc's set*id changes every thread; new threads copy theirs. */
static void threads(void) {
    pthread_t t;
    pthread_barrier_init(&barrier, NULL, 2);
    pthread_create(&t, NULL, waiter, NULL);
    pthread_barrier_wait(&barrier);
    EXPECT(raw_setresuid(-1, 1000, -1) == 0, "raw setresuid");
    EXPECT(geteuid() == 1000, "own thread changed");
    pthread_barrier_wait(&barrier);
    pthread_barrier_wait(&barrier);
    EXPECT(seen_after == 0, "raw setresuid leaked to another thread: %u", seen_after);
    EXPECT(raw_setresuid(-1, 0, -1) == 0, "back to euid 0");
    EXPECT(setresuid(3000, 3000, 3000) == 0, "glibc setresuid: %s", strerror(errno));
    pthread_barrier_wait(&barrier);
    void *r;
    pthread_join(t, &r);
    EXPECT((long)r == 3000, "glibc setresuid did not reach the other thread: %ld", (long)r);
    pthread_create(&t, NULL, report_uid, NULL);
    pthread_join(t, &r);
    EXPECT((long)r == 3000, "new thread after set*id: %ld", (long)r);
}

static void fork_inherits(void) {
    EXPECT(setresgid(44, 44, 44) == 0 && setresuid(33, 33, 33) == 0, "drop");
    pid_t pid = fork();
    if (pid == 0) {
        uid_t r, e, s;
        getresuid(&r, &e, &s);
        pid_t grandchild = fork();
        if (grandchild == 0) _exit(getuid() == 33 && getgid() == 44 ? 0 : 1);
        int st;
        waitpid(grandchild, &st, 0);
        _exit(r == 33 && e == 33 && s == 33 && getegid() == 44 && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1);
    }
    int status;
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child or grandchild did not inherit 33/44");
}

/* Runs this program again as `self MODE` in a child and returns its wait status: what the
 * exec'd side sees checks what crossed execve. */
static int run_self(const char *self, const char *mode) {
    pid_t pid = fork();
    if (pid == 0) {
        execl(self, self, mode, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return status;
}

static void exec_keeps(const char *self) {
    EXPECT(setresgid(55, 55, 55) == 0 && setresuid(66, 66, 0) == 0, "drop");
    int status = run_self(self, "ids");
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exec lost credentials (status %d)", status);
}

/* posix_spawn (glibc: clone with CLONE_VM | CLONE_VFORK) and vfork: a child that shares its
 * parent's memory until it execs still has its parent's (fake) credentials. */
static void spawn_keeps(const char *self) {
    EXPECT(setresgid(55, 55, 55) == 0 && setresuid(66, 66, 0) == 0, "drop");
    char *const args[] = {(char *)self, "ids", NULL};
    pid_t pid;
    int status;
    EXPECT(posix_spawn(&pid, self, NULL, NULL, args, environ) == 0, "posix_spawn");
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "posix_spawn child lost credentials (status %d)", status);
    pid = vfork();
    if (pid == 0) {
        execv(self, args);
        _exit(127);
    }
    waitpid(pid, &status, 0);
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "vfork child lost credentials (status %d)", status);
}

/* A recycled pid must not inherit a dead process's credentials (the supervisor keys them by
 * pidfd, not pid): a child drops to 1000 and exits, the next child is given the same pid
 * (ns_last_pid: the command's PID namespace belongs to its user namespace) and must see root,
 * as its parent does. */
static void pid_reuse(void) {
    for (int i = 0; i < 100 && !failed; i++) {
        int status;
        pid_t first = fork();
        if (first == 0) _exit(setresuid(1000, 1000, 1000) == 0 && getuid() == 1000 ? 0 : 1);
        waitpid(first, &status, 0);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "drop to 1000");
        FILE *last = fopen("/proc/sys/kernel/ns_last_pid", "w");
        if (last == NULL) {
            fail("ns_last_pid: %s", strerror(errno));
            return;
        }
        fprintf(last, "%d", first - 1);
        fclose(last);
        pid_t second = fork();
        if (second == 0) _exit(getuid() == 0 && geteuid() == 0 ? 0 : 1);
        waitpid(second, &status, 0);
        EXPECT(second == first, "pid %d was not reused (got %d)", first, second);
        EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "pid %d, recycled, saw the dead child's uid", second);
    }
}

/* The exec'd side of exec_keeps and spawn_keeps. */
static int ids(void) {
    uid_t r, e, s;
    gid_t rg, eg, sg;
    getresuid(&r, &e, &s);
    getresgid(&rg, &eg, &sg);
    /* execve(2): the saved set-user-ID is copied from the effective one. */
    if (r == 66 && e == 66 && s == 66 && rg == 55 && eg == 55 && sg == 55) return 0;
    fprintf(stderr, "after exec: %u %u %u / %u %u %u\n", r, e, s, rg, eg, sg);
    return 1;
}

static int caps(uint32_t *effective, uint32_t *permitted);

/* A set-user-ID file owned by root (every file is, in the namespace) makes root the
 * effective and saved uid of whoever runs it; the real uid stays. `suidexec PATH` runs PATH
 * `suidcheck` after a full drop. */
static int suid_exec(const char *path) {
    if (setresgid(1000, 1000, 1000) != 0 || setresuid(1000, 1000, 1000) != 0) return 2;
    execl(path, path, "suidcheck", (char *)NULL);
    perror("execl");
    return 127;
}

static int suid_check(void) {
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    uint32_t ce, cp;
    if (r == 1000 && e == 0 && s == 0 && caps(&ce, &cp) == 0 && (ce & (1u << CAP_SETUID)) && setuid(0) == 0 &&
        getuid() == 0) {
        printf("suid-exec=ok\n");
        return 0;
    }
    printf("suid-exec=FAIL: resuid %u %u %u\n", r, e, s);
    return 1;
}

static void on_signal(int sig) { (void)sig; }

/* A signal arriving while a notified call waits restarts it (SA_RESTART): answers stay right. */
static void signals(void) {
    EXPECT(setresuid(77, 77, 77) == 0, "drop");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 20000 && kill(parent, SIGUSR1) == 0; i++) {}
        _exit(0);
    }
    int wrong = 0;
    for (int i = 0; i < 50000; i++)
        if (getuid() != 77) wrong++;
    int status;
    waitpid(pid, &status, 0);
    EXPECT(wrong == 0, "%d wrong getuid answers under signals", wrong);
}

static int caps(uint32_t *effective, uint32_t *permitted) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) != 0) return -1;
    *effective = d[0].effective;
    *permitted = d[0].permitted;
    return 0;
}

static int set_caps(uint32_t effective, uint32_t permitted) {
    struct __user_cap_header_struct h = {.version = _LINUX_CAPABILITY_VERSION_3, .pid = 0};
    struct __user_cap_data_struct d[2] = {{effective, permitted, 0}, {0, 0, 0}};
    return (int)syscall(SYS_capset, &h, d);
}

/* Capabilities follow uid changes (capabilities(7)); PR_SET_KEEPCAPS keeps the permitted set
 * across a drop, and capset can then make them effective again: how setpriv switches uid
 * first and gid second. */
static void capabilities(void) {
    uint32_t e, p;
    EXPECT(caps(&e, &p) == 0 && (e & (1u << CAP_SETUID)) && (p & (1u << CAP_SETGID)), "root has caps: %x %x", e, p);
    EXPECT(seteuid(1000) == 0 && caps(&e, &p) == 0 && e == 0 && (p & (1u << CAP_SETUID)), "euid!=0 clears effective: %x %x", e, p);
    EXPECT(seteuid(0) == 0 && caps(&e, &p) == 0 && (e & (1u << CAP_SETUID)), "euid 0 restores effective: %x", e);
    EXPECT(prctl(PR_SET_KEEPCAPS, 1) == 0 && prctl(PR_GET_KEEPCAPS) == 1, "keepcaps");
    EXPECT(setresuid(1000, 1000, 1000) == 0, "drop with keepcaps");
    EXPECT(caps(&e, &p) == 0 && e == 0 && (p & (1u << CAP_SETGID)), "permitted kept: %x %x", e, p);
    errno = 0;
    EXPECT(setresgid(5, 5, 5) == -1 && errno == EPERM, "setresgid without effective caps");
    EXPECT(set_caps(p, p) == 0, "capset effective=permitted: %s", strerror(errno));
    EXPECT(setresgid(5, 5, 5) == 0 && getgid() == 5, "setresgid with CAP_SETGID: %s", strerror(errno));
    EXPECT(set_caps(0, 0) == 0, "capset drop all");
    errno = 0;
    EXPECT(set_caps(1u << CAP_SETUID, 1u << CAP_SETUID) == -1 && errno == EPERM, "capset cannot raise permitted");
    errno = 0;
    EXPECT(setuid(0) == -1 && errno == EPERM, "no caps, no root");
}

/* Kept capabilities last until execve, which recomputes them from the uids (no file
 * capabilities): a non-root program starts with none. */
static void exec_clears_caps(const char *self) {
    uint32_t e, p;
    EXPECT(prctl(PR_SET_KEEPCAPS, 1) == 0 && setresuid(1000, 1000, 1000) == 0 && caps(&e, &p) == 0 &&
           set_caps(p, p) == 0, "keep caps across the drop");
    int status = run_self(self, "nocaps");
    EXPECT(WIFEXITED(status) && WEXITSTATUS(status) == 0, "capabilities survived execve (status %d)", status);
}

static int nocaps(void) {
    uint32_t e = 1, p = 1;
    if (caps(&e, &p) != 0 || e != 0 || p != 0 || prctl(PR_GET_KEEPCAPS) != 0 || setuid(0) == 0) {
        fprintf(stderr, "after exec: effective %x permitted %x keepcaps %d\n", e, p, prctl(PR_GET_KEEPCAPS));
        return 1;
    }
    return 0;
}

static void caps_without_keepcaps(void) {
    uint32_t e, p;
    EXPECT(setresuid(1000, 1000, 1000) == 0, "drop");
    EXPECT(caps(&e, &p) == 0 && e == 0 && p == 0, "a full drop clears every set: %x %x", e, p);
    errno = 0;
    EXPECT(set_caps(1u << CAP_SETUID, 1u << CAP_SETUID) == -1 && errno == EPERM, "capset after drop");
}

/* PostgreSQL's peer authentication: the server asks SO_PEERCRED who connected. */
static void peercred(void) {
    /* An abstract name the kernel picks (autobind): the network namespace, and so the
     * abstract names, are shared with other runs of this program, whose pids in their own PID
     * namespaces are the same as ours. */
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    socklen_t len = sizeof addr.sun_family;
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    EXPECT(bind(server, (struct sockaddr *)&addr, len) == 0 && listen(server, 1) == 0, "listen: %s", strerror(errno));
    len = sizeof addr;
    EXPECT(getsockname(server, (struct sockaddr *)&addr, &len) == 0, "getsockname: %s", strerror(errno));
    pid_t pid = fork();
    if (pid == 0) {
        if (setresgid(5678, 5678, 5678) != 0 || setresuid(1234, 1234, 1234) != 0) _exit(2);
        int c = socket(AF_UNIX, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&addr, len) != 0) _exit(3);
        char b;
        (void)read(c, &b, 1);
        _exit(0);
    }
    int conn = accept(server, NULL, NULL);
    struct ucred cred;
    socklen_t clen = sizeof cred;
    EXPECT(getsockopt(conn, SOL_SOCKET, SO_PEERCRED, &cred, &clen) == 0, "getsockopt: %s", strerror(errno));
    EXPECT(clen == sizeof cred && cred.pid == pid && cred.uid == 1234 && cred.gid == 5678,
           "SO_PEERCRED pid %d uid %u gid %u (want %d 1234 5678)", cred.pid, cred.uid, cred.gid, pid);
    int one = 0;
    socklen_t olen = sizeof one;
    EXPECT(getsockopt(conn, SOL_SOCKET, SO_TYPE, &one, &olen) == 0 && one == SOCK_STREAM, "SO_TYPE still real");
    close(conn);
    int status;
    waitpid(pid, &status, 0);
}

/* Without SA_RESTART a signal that lands before the supervisor has received the notification
 * fails the call with EINTR (the kernel's interruptible wait; WAIT_KILLABLE_RECV covers only
 * the time after receipt). What must never happen is a wrong answer. */
static void signals_no_restart(void) {
    EXPECT(setresuid(77, 77, 77) == 0, "drop");
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGUSR1, &sa, NULL);
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid == 0) {
        for (int i = 0; i < 20000 && kill(parent, SIGUSR1) == 0; i++) {}
        _exit(0);
    }
    int wrong = 0, eintr = 0;
    for (int i = 0; i < 50000; i++) {
        long r = syscall(SYS_getuid);
        if (r == -1 && errno == EINTR) eintr++;
        else if (r != 77) wrong++;
    }
    int status;
    waitpid(pid, &status, 0);
    EXPECT(wrong == 0, "%d wrong getuid answers under signals (%d EINTR)", wrong, eintr);
    fprintf(stderr, "signals-no-restart: %d EINTR in 50000 calls\n", eintr);
}

static int spin(const char *file) {
    FILE *f = fopen(file, "w");
    if (f == NULL) return 2;
    fprintf(f, "spinning\n");
    fflush(f);
    for (;;) {
        long r = syscall(SYS_getuid);
        if (r == -1 && errno == ENOSYS) {
            fprintf(f, "ENOSYS\n");
            fclose(f);
            printf("ENOSYS\n");
            return 3;
        }
    }
}

struct check {
    const char *name;
    void (*run)(void);
};

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "ids") == 0) return ids();
    if (argc > 1 && strcmp(argv[1], "nocaps") == 0) return nocaps();
    if (argc > 2 && strcmp(argv[1], "suidexec") == 0) return suid_exec(argv[2]);
    if (argc > 1 && strcmp(argv[1], "suidcheck") == 0) return suid_check();
    if (argc > 2 && strcmp(argv[1], "spin") == 0) return spin(argv[2]);
    static const struct check checks[] = {
        {"saved-ids", saved_ids}, {"irreversible-drop", irreversible}, {"groups", groups},
        {"threads", threads}, {"fork-inherits", fork_inherits}, {"exec-keeps", NULL},
        {"signals-restart", signals}, {"signals-no-restart", signals_no_restart}, {"peercred", peercred}, {"capabilities", capabilities},
        {"caps-dropped", caps_without_keepcaps}, {"exec-clears-caps", NULL}, {"spawn-keeps", NULL},
        {"pid-reuse", pid_reuse},
    };
    int bad = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        fflush(stdout);
        pid_t pid = fork();
        if (pid == 0) {
            if (checks[i].run != NULL) checks[i].run();
            else if (strcmp(checks[i].name, "exec-keeps") == 0) exec_keeps(argv[0]);
            else if (strcmp(checks[i].name, "spawn-keeps") == 0) spawn_keeps(argv[0]);
            else exec_clears_caps(argv[0]);
            fflush(stdout);
            _exit(failed);
        }
        int status;
        waitpid(pid, &status, 0);
        int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        printf("%s=%s\n", checks[i].name, ok ? "ok" : "FAIL");
        bad |= !ok;
    }
    return bad;
}
