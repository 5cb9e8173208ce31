/* syscall-loop: time a few system calls in a tight loop, to measure what zr-run's seccomp
 * filter (--root-emulation) costs per call. scripts/bench runs it inside the container with
 * and without the filter and prints the ratio.
 *
 * usage: syscall-loop [ITERATIONS [FILE]]
 * Prints one line per call: NAME NS_PER_CALL RESULT, where RESULT is what the last call
 * returned ("ok" or an errno name). The fchown line tells whether the filter was on: faked it
 * returns ok, for real fchown(-1, ...) fails with EBADF.
 *
 * Each loop runs ROUNDS times and the fastest round is kept: the minimum is the figure least
 * disturbed by interrupts and other tasks, and both runs being compared get the same rule.
 * Built static by scripts/bench, so the host's glibc need not match the image's. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

enum { ROUNDS = 5 };

static double now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static const char *result_name(long ret, int err)
{
    if (ret >= 0)
        return "ok";
    switch (err) {
    case EBADF: return "EBADF";
    case EPERM: return "EPERM";
    case EINVAL: return "EINVAL";
    case ENOENT: return "ENOENT";
    case EACCES: return "EACCES";
    default: return strerrorname_np(err) ? strerrorname_np(err) : "error";
    }
}

/* One call of each kind. Every call goes through syscall(2) or a thin glibc wrapper, so each
 * iteration is exactly one kernel entry (two for openat+close), never a cached answer. */
static long call_getppid(const char *file) { (void)file; return syscall(SYS_getppid); }

static long call_stat(const char *file)
{
    struct stat st;
    return stat(file, &st);
}

static long call_open_close(const char *file)
{
    int fd = openat(AT_FDCWD, file, O_RDONLY | O_CLOEXEC);
    if (fd >= 0)
        close(fd);
    return fd;
}

/* Faked under the filter (answered by seccomp, never reaches the kernel's chown code); without
 * it the kernel rejects the bad descriptor: both are the cheapest path of each configuration. */
static long call_fchown(const char *file) { (void)file; return fchown(-1, 0, 0); }

static void measure(const char *name, long (*call)(const char *), long iterations, const char *file)
{
    double best = -1;
    long ret = 0;
    int err = 0;
    for (int round = 0; round < ROUNDS; round++) {
        errno = 0;
        double start = now_ns();
        for (long i = 0; i < iterations; i++)
            ret = call(file);
        err = errno; /* before clock_gettime can touch it */
        double per_call = (now_ns() - start) / iterations;
        if (best < 0 || per_call < best)
            best = per_call;
    }
    printf("%s %.1f %s\n", name, best, result_name(ret, err));
}

int main(int argc, char **argv)
{
    long iterations = argc > 1 ? atol(argv[1]) : 1000000;
    const char *file = argc > 2 ? argv[2] : "/etc/passwd";
    if (iterations <= 0) {
        fprintf(stderr, "usage: syscall-loop [ITERATIONS [FILE]]\n");
        return 2;
    }
    if (access(file, R_OK) != 0) {
        fprintf(stderr, "syscall-loop: %s: %s\n", file, strerror(errno));
        return 1;
    }
    measure("getppid", call_getppid, iterations, file);
    measure("stat", call_stat, iterations, file);
    /* open+close is ~10x dearer than getppid; fewer iterations keep the run short. */
    measure("openat+close", call_open_close, iterations / 4 > 0 ? iterations / 4 : 1, file);
    measure("fchown", call_fchown, iterations, file);
    return 0;
}
