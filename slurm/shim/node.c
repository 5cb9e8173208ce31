// The per-node, per-step shared state and the namespace holder.
#if __has_include(<slurm/spank.h>)  /* see zeroroot.c */
#include "shim.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int zr_node_open(struct zr_node **out, int watch[2]) {
    pthread_mutexattr_t attr;
    int attr_ok = 0;
    struct zr_node *node = mmap(NULL, sizeof *node, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (node == MAP_FAILED) {
        slurm_error("zeroroot: mmap of the node state: %m");
        node = NULL;
        goto fail;
    }
    memset(node, 0, sizeof *node);
    if (pthread_mutexattr_init(&attr) != 0) goto fail_attr;
    attr_ok = 1;
    if (pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) != 0 ||
        pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) != 0 ||
        pthread_mutex_init(&node->lock, &attr) != 0)
        goto fail_attr;
    pthread_mutexattr_destroy(&attr);
    attr_ok = 0;
    // The holder reads this pipe until slurmstepd, which keeps the write end, goes away.
    // Close-on-exec: the user's commands never inherit either end.
    if (pipe2(watch, O_CLOEXEC) != 0) {
        slurm_error("zeroroot: pipe: %m");
        goto fail;
    }
    node->phase = ZR_PHASE_EMPTY;
    node->holder = -1;
    node->server = -1;
    *out = node;
    return 0;
fail_attr:
    slurm_error("zeroroot: cannot initialise the node state's process-shared lock");
fail:
    if (attr_ok) pthread_mutexattr_destroy(&attr);
    if (node != NULL) munmap(node, sizeof *node);
    return -1;
}

/// Stops the holder (or the FUSE server). slurmstepd runs this as root, and the mapping is
/// writable by the user's tasks: the pid in it is untrusted. A pidfd pins the process, and it is signalled only if
/// the job's user owns it, so a forged pid can never make root kill someone else's process.
static void zr_holder_stop(pid_t pid, uid_t uid) {
    if (pid <= 1) return;
    int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (pidfd < 0) return; /* already gone */
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d", (int)pid);
    if (stat(path, &st) == 0 && st.st_uid == uid)
        syscall(SYS_pidfd_send_signal, pidfd, SIGKILL, NULL, 0);
    close(pidfd);
}

void zr_node_close(struct zr_node *node, int watch[2], uid_t uid) {
    // Closing our write end is what the holder waits for; the kill is for a holder whose
    // read end was lost.
    if (watch[1] >= 0) close(watch[1]);
    if (watch[0] >= 0) close(watch[0]);
    watch[0] = watch[1] = -1;
    if (node == NULL) return;
    zr_holder_stop(node->holder, uid);
    zr_holder_stop(node->server, uid);
    munmap(node, sizeof *node);
}

int zr_node_lock(struct zr_node *node) {
    int rc = pthread_mutex_lock(&node->lock);
    if (rc == EOWNERDEAD) {
        // The task that was creating the container died mid-way.
        node->phase = ZR_PHASE_FAILED;
        snprintf(node->message, sizeof node->message, "the task creating this node's container died");
        pthread_mutex_consistent(&node->lock);
        return 0;
    }
    return rc == 0 ? 0 : -1;
}

void zr_node_unlock(struct zr_node *node) { pthread_mutex_unlock(&node->lock); }

// Holder: only async-signal-safe calls between fork and _exit. It closes every
// descriptor but the watch pipe (so it never holds the task's stdout open), and waits.
static void zr_holder_main(int watch_fd) {
    prctl(PR_SET_NAME, (unsigned long)"zr-holder", 0, 0, 0);
    if (watch_fd > 0) syscall(SYS_close_range, 0, (unsigned)watch_fd - 1, 0);
    syscall(SYS_close_range, (unsigned)watch_fd + 1, ~0U, 0);
    if (watch_fd < 0 || fcntl(watch_fd, F_GETFD) < 0) {
        for (;;) pause(); /* killed by slurm_spank_exit */
    }
    char byte;
    for (;;) {
        ssize_t n = read(watch_fd, &byte, 1);
        if (n == 0 || (n < 0 && errno != EINTR)) _exit(0);
    }
}

pid_t zr_holder_start(int watch_fd) {
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) return -1;
    pid_t middle = fork();
    if (middle < 0) {
        close(report[0]);
        close(report[1]);
        return -1;
    }
    if (middle == 0) {
        close(report[0]);
        setsid(); /* out of the task's process group: its signals are the task's own */
        pid_t holder = fork();
        if (holder == 0) {
            close(report[1]);
            zr_holder_main(watch_fd);
            _exit(0);
        }
        ssize_t ignored = write(report[1], &holder, sizeof holder);
        (void)ignored;
        _exit(holder < 0 ? 1 : 0);
    }
    close(report[1]);
    pid_t holder = -1;
    ssize_t n;
    do {
        n = read(report[0], &holder, sizeof holder);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    int status;
    while (waitpid(middle, &status, 0) < 0 && errno == EINTR) {}
    return n == (ssize_t)sizeof holder ? holder : -1;
}
#endif
