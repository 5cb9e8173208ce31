// Options (registered with spank_option_register in slurm_spank_init: sbatch and salloc
// ignore a static spank_options table) and plugstack.conf arguments.
#if __has_include(<slurm/spank.h>)  /* see zeroroot.c */
#include "shim.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct zr_options zr_opt = {
    .image = NULL, .mounts = NULL, .workdir = NULL, .env = NULL, .name = NULL, .build = NULL, .devices = NULL,
    .writable = ZR_UNSET, .remap_root = ZR_UNSET, .mount_home = ZR_UNSET, .root_emulation = ZR_UNSET,
};
struct zr_config zr_conf;

enum {
    ZR_OPT_IMAGE = 1, ZR_OPT_MOUNTS, ZR_OPT_WORKDIR,
    ZR_OPT_WRITABLE, ZR_OPT_READONLY,
    ZR_OPT_REMAP_ROOT, ZR_OPT_NO_REMAP_ROOT,
    ZR_OPT_MOUNT_HOME, ZR_OPT_NO_MOUNT_HOME,
    ZR_OPT_ENV, ZR_OPT_ROOT_EMULATION, ZR_OPT_NAME, ZR_OPT_BUILD, ZR_OPT_DEVICES,
};

static int zr_set_string(char **slot, const char *name, const char *value) {
    if (value == NULL || value[0] == '\0') {
        slurm_error("zeroroot: --%s: empty value", name);
        return -1;
    }
    char *copy = strdup(value);
    if (copy == NULL) return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

/// A flag pair such as --container-writable/--container-readonly: the second of two
/// contradicting flags is a conflict, reported once options are complete.
static int zr_set_flag(int *slot, int value, const char *on, const char *off) {
    if (*slot != ZR_UNSET && *slot != value)
        snprintf(zr_opt.conflict, sizeof zr_opt.conflict, "--%s and --%s conflict", on, off);
    *slot = value;
    return 0;
}

static int zr_option_cb(int val, const char *optarg, int remote) {
    (void)remote;
    switch (val) {
    case ZR_OPT_IMAGE: return zr_set_string(&zr_opt.image, "container-image", optarg);
    case ZR_OPT_MOUNTS: return zr_set_string(&zr_opt.mounts, "container-mounts", optarg);
    case ZR_OPT_WORKDIR: return zr_set_string(&zr_opt.workdir, "container-workdir", optarg);
    case ZR_OPT_ENV: return zr_set_string(&zr_opt.env, "container-env", optarg);
    case ZR_OPT_NAME: return zr_set_string(&zr_opt.name, "container-name", optarg);
    case ZR_OPT_BUILD: return zr_set_string(&zr_opt.build, "container-build", optarg);
    case ZR_OPT_DEVICES: return zr_set_string(&zr_opt.devices, "container-devices", optarg);
    case ZR_OPT_ROOT_EMULATION:
        return zr_set_flag(&zr_opt.root_emulation, ZR_ON, "container-root-emulation", "container-root-emulation");
    case ZR_OPT_WRITABLE:
        return zr_set_flag(&zr_opt.writable, ZR_ON, "container-writable", "container-readonly");
    case ZR_OPT_READONLY:
        return zr_set_flag(&zr_opt.writable, ZR_OFF, "container-writable", "container-readonly");
    case ZR_OPT_REMAP_ROOT:
        return zr_set_flag(&zr_opt.remap_root, ZR_ON, "container-remap-root", "no-container-remap-root");
    case ZR_OPT_NO_REMAP_ROOT:
        return zr_set_flag(&zr_opt.remap_root, ZR_OFF, "container-remap-root", "no-container-remap-root");
    case ZR_OPT_MOUNT_HOME:
        return zr_set_flag(&zr_opt.mount_home, ZR_ON, "container-mount-home", "no-container-mount-home");
    case ZR_OPT_NO_MOUNT_HOME:
        return zr_set_flag(&zr_opt.mount_home, ZR_OFF, "container-mount-home", "no-container-mount-home");
    default:
        return -1;
    }
}

static struct spank_option zr_option_table[] = {
    {"container-image", "NAME|REF|DIR|FILE.sqfs",
     "[zeroroot] run the tasks in this image: a name in your zr store (app means app:latest), "
     "a registry reference (registry.site:5000/team/app:1, pulled once per node with zr pull), "
     "a root filesystem directory, or a SquashFS file (unpacked once per node); "
     "a directory or file starts with / or .",
     1, ZR_OPT_IMAGE, zr_option_cb},
    {"container-mounts", "SRC[:DST[:ro]][,...]",
     "[zeroroot] bind host paths into the container", 1, ZR_OPT_MOUNTS, zr_option_cb},
    {"container-workdir", "DIR", "[zeroroot] working directory inside the container", 1,
     ZR_OPT_WORKDIR, zr_option_cb},
    {"container-writable", NULL, "[zeroroot] make the container writable (changes are discarded)", 0,
     ZR_OPT_WRITABLE, zr_option_cb},
    {"container-readonly", NULL, "[zeroroot] make the container read-only (default)", 0,
     ZR_OPT_READONLY, zr_option_cb},
    {"container-remap-root", NULL, "[zeroroot] be uid/gid 0 inside the container", 0,
     ZR_OPT_REMAP_ROOT, zr_option_cb},
    {"no-container-remap-root", NULL, "[zeroroot] keep your own uid/gid inside (default)", 0,
     ZR_OPT_NO_REMAP_ROOT, zr_option_cb},
    {"container-mount-home", NULL, "[zeroroot] bind your home directory (default)", 0,
     ZR_OPT_MOUNT_HOME, zr_option_cb},
    {"no-container-mount-home", NULL, "[zeroroot] do not bind your home directory", 0,
     ZR_OPT_NO_MOUNT_HOME, zr_option_cb},
    {"container-env", "NAME[,...]",
     "[zeroroot] keep the job's value of these variables instead of the image's", 1, ZR_OPT_ENV, zr_option_cb},
    {"container-name", "NAME",
     "[zeroroot] keep this container (writable) for later steps of the job that give the same name", 1,
     ZR_OPT_NAME, zr_option_cb},
    {"container-build", "DOCKERFILE|DIR",
     "[zeroroot] build this Dockerfile (or DIR/Dockerfile) with zr build on each node, then run in the result", 1,
     ZR_OPT_BUILD, zr_option_cb},
    {"container-root-emulation", NULL,
     "[zeroroot] fake chown/set*id/setgroups/capset/device mknod (zero-consistency root; implies --container-remap-root)",
     0, ZR_OPT_ROOT_EMULATION, zr_option_cb},
    {"container-devices", "NAME[,...]",
     "[zeroroot] add these CDI devices (vendor.com/class=name or =all; GPUs Slurm allocates are added by themselves)", 1,
     ZR_OPT_DEVICES, zr_option_cb},
};

int zr_options_register(spank_t sp) {
    for (size_t i = 0; i < sizeof zr_option_table / sizeof zr_option_table[0]; i++) {
        spank_err_t rc = spank_option_register(sp, &zr_option_table[i]);
        if (rc != ESPANK_SUCCESS) {
            slurm_error("zeroroot: cannot register --%s: %s", zr_option_table[i].name, spank_strerror(rc));
            return -1;
        }
    }
    return 0;
}

void zr_options_free(void) {
    free(zr_opt.image);
    free(zr_opt.mounts);
    free(zr_opt.workdir);
    free(zr_opt.env);
    free(zr_opt.name);
    free(zr_opt.build);
    free(zr_opt.devices);
    zr_opt.image = zr_opt.mounts = zr_opt.workdir = zr_opt.env = zr_opt.name = zr_opt.build = zr_opt.devices = NULL;
}

static int zr_copy_arg(char *dst, size_t size, const char *value, const char *arg) {
    if (strlen(value) >= size) {
        slurm_error("zeroroot: plugstack argument too long: %s", arg);
        return -1;
    }
    memcpy(dst, value, strlen(value) + 1);
    return 0;
}

int zr_config_parse(int ac, char **av, struct zr_config *conf) {
    snprintf(conf->storage, sizeof conf->storage, "%s", "/var/tmp/%u/zeroroot");
    conf->mounts[0] = '\0';
    conf->builds = 1;
    conf->sbatch = 1;
    conf->bcast = 1;
    conf->zr[0] = '\0';
    conf->cdi_dirs[0] = '\0';
    conf->gpus = 1;
    for (int i = 0; i < ac; i++) {
        const char *arg = av[i];
        if (strncmp(arg, "storage=", 8) == 0) {
            if (arg[8] != '/') {
                slurm_error("zeroroot: plugstack argument %s: expected an absolute path", arg);
                return -1;
            }
            if (zr_copy_arg(conf->storage, sizeof conf->storage, arg + 8, arg) != 0) return -1;
        } else if (strncmp(arg, "mounts=", 7) == 0) {
            if (zr_copy_arg(conf->mounts, sizeof conf->mounts, arg + 7, arg) != 0) return -1;
        } else if (strcmp(arg, "builds=yes") == 0 || strcmp(arg, "builds=no") == 0) {
            conf->builds = arg[7] == 'y';
        } else if (strcmp(arg, "bcast=yes") == 0 || strcmp(arg, "bcast=no") == 0) {
            conf->bcast = arg[6] == 'y';
        } else if (strcmp(arg, "sbatch=yes") == 0 || strcmp(arg, "sbatch=no") == 0) {
            conf->sbatch = arg[7] == 'y';
        } else if (strncmp(arg, "cdi_dirs=", 9) == 0) {
            if (arg[9] != '/') {
                slurm_error("zeroroot: plugstack argument %s: expected absolute paths separated by ':'", arg);
                return -1;
            }
            if (zr_copy_arg(conf->cdi_dirs, sizeof conf->cdi_dirs, arg + 9, arg) != 0) return -1;
        } else if (strcmp(arg, "gpus=auto") == 0 || strcmp(arg, "gpus=no") == 0) {
            conf->gpus = arg[5] == 'a';
        } else if (strncmp(arg, "zr=", 3) == 0) {
            if (arg[3] != '/') {
                slurm_error("zeroroot: plugstack argument %s: expected an absolute path", arg);
                return -1;
            }
            if (zr_copy_arg(conf->zr, sizeof conf->zr, arg + 3, arg) != 0) return -1;
        } else {
            slurm_error("zeroroot: unknown plugstack argument \"%s\" (known: storage=DIR, mounts=LIST, builds=yes|no, sbatch=yes|no, bcast=yes|no, zr=PATH, cdi_dirs=DIRS, gpus=auto|no)", arg);
            return -1;
        }
    }
    return 0;
}

int zr_storage_path(const char *template, char *out, size_t size, char *message, size_t msize) {
    char user[256] = "";
    size_t n = 0;
    for (const char *p = template; *p != '\0'; p++) {
        char piece[300];
        if (*p != '%') {
            piece[0] = *p;
            piece[1] = '\0';
        } else if (p[1] == '%') {
            snprintf(piece, sizeof piece, "%%");
            p++;
        } else if (p[1] == 'U') {
            snprintf(piece, sizeof piece, "%u", (unsigned)getuid());
            p++;
        } else if (p[1] == 'u') {
            if (user[0] == '\0') {
                struct passwd pw, *found = NULL;
                char buf[4096];
                int rc = getpwuid_r(getuid(), &pw, buf, sizeof buf, &found);
                if (rc != 0 || found == NULL) {
                    snprintf(message, msize, "storage %s: no user name for uid %u", template, (unsigned)getuid());
                    return -1;
                }
                snprintf(user, sizeof user, "%s", pw.pw_name);
            }
            snprintf(piece, sizeof piece, "%s", user);
            p++;
        } else {
            snprintf(message, msize, "storage %s: unknown escape %%%c (known: %%u %%U %%%%)", template, p[1]);
            return -1;
        }
        size_t len = strlen(piece);
        if (n + len >= size) {
            snprintf(message, msize, "storage %s: path too long", template);
            return -1;
        }
        memcpy(out + n, piece, len);
        n += len;
    }
    out[n] = '\0';
    return 0;
}
#endif
