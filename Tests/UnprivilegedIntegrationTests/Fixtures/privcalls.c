/* Makes privileged calls through the raw syscall numbers of the ABI it is compiled for and
 * prints NAME=0 or NAME=ERRNONAME for each. Built with gcc -m32 -static by the tests, so the
 * calls arrive on the i386 table, 16-bit variants included. Each call targets ids that are not
 * mapped in the container (42), so it fails unless the seccomp filter fakes it. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

static void report(const char *name, long rc) {
    printf("%s=%s\n", name, rc == 0 ? "0" : strerrorname_np(errno));
    fflush(stdout);
}

int main(void) {
    int fd = open("privcalls-file", O_CREAT | O_WRONLY, 0644);
    if (fd < 0) { perror("open"); return 2; }
    gid_t groups[1] = {42};
    report("chown16", syscall(SYS_chown, "privcalls-file", 42, 42));
    report("lchown16", syscall(SYS_lchown, "privcalls-file", 42, 42));
    report("fchown16", syscall(SYS_fchown, fd, 42, 42));
#ifdef SYS_chown32
    report("chown32", syscall(SYS_chown32, "privcalls-file", 42, 42));
#endif
    report("fchownat", syscall(SYS_fchownat, AT_FDCWD, "privcalls-file", 42, 42, 0));
    report("setuid16", syscall(SYS_setuid, 42));
#ifdef SYS_setuid32
    report("setuid32", syscall(SYS_setuid32, 42));
    report("setgid32", syscall(SYS_setgid32, 42));
    report("setresuid32", syscall(SYS_setresuid32, 42, 42, 42));
    report("setgroups32", syscall(SYS_setgroups32, 1, groups));
#endif
    /* 16-bit gid_t array on i386 */
    unsigned short groups16[1] = {42};
    report("setgroups16", syscall(SYS_setgroups, 1, groups16));
    report("mknod-char", syscall(SYS_mknod, "privcalls-dev", S_IFCHR | 0600, makedev(1, 3)));
    return 0;
}
