// Options (registered with spank_option_register in slurm_spank_init: sbatch and salloc
// ignore a static spank_options table) and plugstack.conf arguments.
#if __has_include(<slurm/spank.h>)  /* see zeroroot.c */
#include "shim.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct zr_options zr_opt = {
    .image = NULL, .mounts = NULL, .workdir = NULL, .env = NULL, .name = NULL, .build = NULL, .devices = NULL, .unshare = NULL, .save = NULL,
    .writable = ZR_UNSET, .remap_root = ZR_UNSET, .mount_home = ZR_UNSET, .root_emulation = ZR_UNSET,
};
struct zr_config zr_conf;

enum {
    ZR_OPT_IMAGE = 1, ZR_OPT_MOUNTS, ZR_OPT_WORKDIR,
    ZR_OPT_WRITABLE, ZR_OPT_READONLY,
    ZR_OPT_REMAP_ROOT, ZR_OPT_NO_REMAP_ROOT,
    ZR_OPT_MOUNT_HOME, ZR_OPT_NO_MOUNT_HOME,
    ZR_OPT_ENV, ZR_OPT_ROOT_EMULATION, ZR_OPT_NAME, ZR_OPT_BUILD, ZR_OPT_DEVICES, ZR_OPT_UNSHARE, ZR_OPT_SAVE,
};

/// Whether `value` (NULL: any, for a flag) is what sbatch/salloc passed down for option `name`: Slurm exports a job's
/// SPANK options as SLURM_SPANK__SLURM_SPANK_OPTION_<plugin>_<option, '-' as '_'>, and srun
/// inside the job applies those before its own command line.
static int zr_from_allocation(const char *name, const char *value) {
    char var[128];
    int n = snprintf(var, sizeof var, "SLURM_SPANK__SLURM_SPANK_OPTION_zeroroot_%s", name);
    if (n < 0 || (size_t)n >= sizeof var) return 0;
    for (char *c = var; *c != '\0'; c++)
        if (*c == '-') *c = '_';
    const char *given = getenv(var);
    return given != NULL && (value == NULL || strcmp(given, value) == 0); /* a flag: set at all */
}

static int zr_set_string(char **slot, const char *name, const char *value, int remote) {
    if (value == NULL || value[0] == '\0') {
        slurm_error("zeroroot: --%s: empty value", name);
        return -1;
    }
    // pyxis's rule: the same option twice is fine only with the same value (a script that
    // says --container-image twice is ambiguous, and which one wins would be a guess). Two
    // sources are not twice: srun's command line replaces the allocation's value (an
    // `#SBATCH --container-image` default), and slurmstepd gets both and keeps the later,
    // the step's own, which srun has checked already.
    if (*slot != NULL && (remote || zr_from_allocation(name, *slot))) {
        free(*slot);
        *slot = NULL;
    }
    if (*slot != NULL) {
        if (strcmp(*slot, value) != 0 && zr_opt.conflict[0] == '\0')
            snprintf(zr_opt.conflict, sizeof zr_opt.conflict, "--%s given twice with different values (\"%.90s\" and \"%.90s\")",
                     name, *slot, value);
        return 0;
    }
    char *copy = strdup(value);
    if (copy == NULL) return -1;
    *slot = copy;
    return 0;
}

/// A flag pair such as --container-writable/--container-readonly: the second of two
/// contradicting flags is a conflict, reported once options are complete.
static int zr_set_flag(int *slot, int value, const char *on, const char *off, int remote) {
    // As for values (zr_set_string): the step's own flag replaces the allocation's.
    if (*slot != ZR_UNSET && *slot != value && (remote || zr_from_allocation(*slot == ZR_ON ? on : off, NULL)))
        *slot = ZR_UNSET;
    if (*slot != ZR_UNSET && *slot != value)
        snprintf(zr_opt.conflict, sizeof zr_opt.conflict, "--%s and --%s conflict", on, off);
    *slot = value;
    return 0;
}

static int zr_option_cb(int val, const char *optarg, int remote) {
    switch (val) {
    case ZR_OPT_IMAGE: return zr_set_string(&zr_opt.image, "container-image", optarg, remote);
    case ZR_OPT_MOUNTS: return zr_set_string(&zr_opt.mounts, "container-mounts", optarg, remote);
    case ZR_OPT_WORKDIR: return zr_set_string(&zr_opt.workdir, "container-workdir", optarg, remote);
    case ZR_OPT_ENV: return zr_set_string(&zr_opt.env, "container-env", optarg, remote);
    case ZR_OPT_NAME: return zr_set_string(&zr_opt.name, "container-name", optarg, remote);
    case ZR_OPT_BUILD: return zr_set_string(&zr_opt.build, "container-build", optarg, remote);
    case ZR_OPT_DEVICES: return zr_set_string(&zr_opt.devices, "container-devices", optarg, remote);
    case ZR_OPT_UNSHARE: return zr_set_string(&zr_opt.unshare, "container-unshare", optarg, remote);
    case ZR_OPT_SAVE: return zr_set_string(&zr_opt.save, "container-save", optarg, remote);
    case ZR_OPT_ROOT_EMULATION:
        return zr_set_flag(&zr_opt.root_emulation, ZR_ON, "container-root-emulation", "container-root-emulation", remote);
    case ZR_OPT_WRITABLE:
        return zr_set_flag(&zr_opt.writable, ZR_ON, "container-writable", "container-readonly", remote);
    case ZR_OPT_READONLY:
        return zr_set_flag(&zr_opt.writable, ZR_OFF, "container-writable", "container-readonly", remote);
    case ZR_OPT_REMAP_ROOT:
        return zr_set_flag(&zr_opt.remap_root, ZR_ON, "container-remap-root", "no-container-remap-root", remote);
    case ZR_OPT_NO_REMAP_ROOT:
        return zr_set_flag(&zr_opt.remap_root, ZR_OFF, "container-remap-root", "no-container-remap-root", remote);
    case ZR_OPT_MOUNT_HOME:
        return zr_set_flag(&zr_opt.mount_home, ZR_ON, "container-mount-home", "no-container-mount-home", remote);
    case ZR_OPT_NO_MOUNT_HOME:
        return zr_set_flag(&zr_opt.mount_home, ZR_OFF, "container-mount-home", "no-container-mount-home", remote);
    default:
        return -1;
    }
}

static struct spank_option zr_option_table[] = {
    {"container-image", "[USER@][REGISTRY#]IMAGE[:TAG]|REF|DIR|FILE.sqfs",
     "[zeroroot] run the tasks in this image: a name in your zr store (app means app:latest; "
     "if missing, pulled from the default registry), a registry reference (nvcr.io#nvidia/cuda:12.4, "
     "docker://..., registry.site:5000/team/app:1; pulled once per node with zr pull), dockerd://NAME (the store only), "
     "a root filesystem directory, or a SquashFS file (unpacked once per node); "
     "a directory or file starts with / or .",
     1, ZR_OPT_IMAGE, zr_option_cb},
    {"container-mounts", "SRC[:DST][:FLAGS][,...]",
     "[zeroroot] bind host paths into the container; FLAGS joined with +: ro, rw, nosuid, nodev, noexec, "
     "rbind, bind, [r]private, [r]slave, [r]unbindable; SRC tmpfs or umount", 1, ZR_OPT_MOUNTS, zr_option_cb},
    {"container-workdir", "DIR", "[zeroroot] working directory inside the container", 1,
     ZR_OPT_WORKDIR, zr_option_cb},
    {"container-writable", NULL, "[zeroroot] make the container writable (changes are discarded; default with --container-remap-root)", 0,
     ZR_OPT_WRITABLE, zr_option_cb},
    {"container-readonly", NULL, "[zeroroot] make the container read-only (default; wins over --container-remap-root's writable root)", 0,
     ZR_OPT_READONLY, zr_option_cb},
    {"container-remap-root", NULL, "[zeroroot] be uid/gid 0 inside, with root emulation (chown/set*id faked) and a writable root", 0,
     ZR_OPT_REMAP_ROOT, zr_option_cb},
    {"no-container-remap-root", NULL, "[zeroroot] keep your own uid/gid inside (default)", 0,
     ZR_OPT_NO_REMAP_ROOT, zr_option_cb},
    {"container-mount-home", NULL, "[zeroroot] bind your home directory (default)", 0,
     ZR_OPT_MOUNT_HOME, zr_option_cb},
    {"no-container-mount-home", NULL, "[zeroroot] do not bind your home directory", 0,
     ZR_OPT_NO_MOUNT_HOME, zr_option_cb},
    {"container-env", "NAME[,...]",
     "[zeroroot] keep the job's value of these variables instead of the image's", 1, ZR_OPT_ENV, zr_option_cb},
    {"container-name", "NAME[:auto|create|exec|no_exec]",
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
    {"container-unshare", "net,ipc,uts",
     "[zeroroot] give the container its own network (loopback only), System V IPC and/or host name namespaces", 1,
     ZR_OPT_UNSHARE, zr_option_cb},
    {"container-save", "PATH",
     "[zeroroot] at the end of the step, write the container's root as a SquashFS file at PATH (absolute; atomic)", 1,
     ZR_OPT_SAVE, zr_option_cb},
};

/// Every option's environment default: ZR_CONTAINER_<SUFFIX>, else PYXIS_CONTAINER_<SUFFIX>
/// (pyxis's names, so existing environments keep working). A flag's variable takes 1/yes/true
/// (the flag) or 0/no/false (its opposite, if it has one).
struct zr_env_default {
    const char *suffix;
    int on, off; /* option values: a string option has off == 0 and is read as a string */
    int is_flag;
};
static const struct zr_env_default zr_env_defaults[] = {
    {"IMAGE", ZR_OPT_IMAGE, 0, 0},       {"MOUNTS", ZR_OPT_MOUNTS, 0, 0},
    {"WORKDIR", ZR_OPT_WORKDIR, 0, 0},   {"ENV", ZR_OPT_ENV, 0, 0},
    {"NAME", ZR_OPT_NAME, 0, 0},         {"BUILD", ZR_OPT_BUILD, 0, 0},
    {"DEVICES", ZR_OPT_DEVICES, 0, 0},     {"UNSHARE", ZR_OPT_UNSHARE, 0, 0},
    {"SAVE", ZR_OPT_SAVE, 0, 0},
    {"WRITABLE", ZR_OPT_WRITABLE, ZR_OPT_READONLY, 1},
    {"READONLY", ZR_OPT_READONLY, ZR_OPT_WRITABLE, 1},
    {"REMAP_ROOT", ZR_OPT_REMAP_ROOT, ZR_OPT_NO_REMAP_ROOT, 1},
    {"MOUNT_HOME", ZR_OPT_MOUNT_HOME, ZR_OPT_NO_MOUNT_HOME, 1},
    {"ROOT_EMULATION", ZR_OPT_ROOT_EMULATION, 0, 1},
};

/// The slot an option value fills, to tell whether the command line gave it.
static int zr_option_given(int val) {
    switch (val) {
    case ZR_OPT_IMAGE: return zr_opt.image != NULL;
    case ZR_OPT_MOUNTS: return zr_opt.mounts != NULL;
    case ZR_OPT_WORKDIR: return zr_opt.workdir != NULL;
    case ZR_OPT_ENV: return zr_opt.env != NULL;
    case ZR_OPT_NAME: return zr_opt.name != NULL;
    case ZR_OPT_BUILD: return zr_opt.build != NULL;
    case ZR_OPT_DEVICES: return zr_opt.devices != NULL;
    case ZR_OPT_UNSHARE: return zr_opt.unshare != NULL;
    case ZR_OPT_SAVE: return zr_opt.save != NULL;
    case ZR_OPT_WRITABLE: case ZR_OPT_READONLY: return zr_opt.writable != ZR_UNSET;
    case ZR_OPT_REMAP_ROOT: case ZR_OPT_NO_REMAP_ROOT: return zr_opt.remap_root != ZR_UNSET;
    case ZR_OPT_MOUNT_HOME: case ZR_OPT_NO_MOUNT_HOME: return zr_opt.mount_home != ZR_UNSET;
    case ZR_OPT_ROOT_EMULATION: return zr_opt.root_emulation != ZR_UNSET;
    default: return 0;
    }
}

/// A variable of the job's environment (a task's, through slurmstepd) or of srun's own.
static int zr_env_lookup(spank_t sp, int remote, const char *name, char *buf, size_t size) {
    if (remote) return spank_getenv(sp, name, buf, (int)size) == ESPANK_SUCCESS && buf[0] != '\0';
    const char *value = getenv(name);
    if (value == NULL || value[0] == '\0' || strlen(value) >= size) return 0;
    snprintf(buf, size, "%s", value);
    return 1;
}

int zr_options_from_env(spank_t sp, int remote) {
    int given[sizeof zr_env_defaults / sizeof zr_env_defaults[0]];
    // Decided before any variable is applied: the command line wins over both prefixes,
    // and two variables that contradict each other (WRITABLE=1, READONLY=1) are a conflict.
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++) given[i] = zr_option_given(zr_env_defaults[i].on);
    for (size_t i = 0; i < sizeof given / sizeof given[0]; i++) {
        const struct zr_env_default *d = &zr_env_defaults[i];
        if (given[i]) continue;
        char name[64], value[4096];
        snprintf(name, sizeof name, "ZR_CONTAINER_%s", d->suffix);
        if (!zr_env_lookup(sp, remote, name, value, sizeof value)) {
            snprintf(name, sizeof name, "PYXIS_CONTAINER_%s", d->suffix);
            if (!zr_env_lookup(sp, remote, name, value, sizeof value)) continue;
        }
        if (!d->is_flag) {
            if (zr_option_cb(d->on, value, remote) != 0) return -1;
            continue;
        }
        int on = !strcmp(value, "1") || !strcasecmp(value, "yes") || !strcasecmp(value, "true");
        int off = !strcmp(value, "0") || !strcasecmp(value, "no") || !strcasecmp(value, "false");
        if (!on && !off) {
            slurm_error("zeroroot: %s=%s: expected 1, yes or true (or 0, no, false)", name, value);
            return -1;
        }
        if (on) {
            if (zr_option_cb(d->on, NULL, remote) != 0) return -1;
        } else if (d->off != 0) {
            if (zr_option_cb(d->off, NULL, remote) != 0) return -1;
        }
    }
    return 0;
}

const char *zr_options_without_image(void) {
    if (zr_opt.mounts) return "--container-mounts";
    if (zr_opt.workdir) return "--container-workdir";
    if (zr_opt.env) return "--container-env";
    if (zr_opt.devices) return "--container-devices";
    if (zr_opt.unshare) return "--container-unshare";
    if (zr_opt.save) return "--container-save";
    if (zr_opt.writable == ZR_ON) return "--container-writable";
    if (zr_opt.writable == ZR_OFF) return "--container-readonly";
    if (zr_opt.remap_root == ZR_ON) return "--container-remap-root";
    if (zr_opt.remap_root == ZR_OFF) return "--no-container-remap-root";
    if (zr_opt.mount_home == ZR_ON) return "--container-mount-home";
    if (zr_opt.mount_home == ZR_OFF) return "--no-container-mount-home";
    if (zr_opt.root_emulation != ZR_UNSET) return "--container-root-emulation";
    return NULL;
}

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
    free(zr_opt.unshare);
    free(zr_opt.save);
    zr_opt.unshare = zr_opt.save = NULL;
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

/// An argument that must start with '/' copied to `dst`; `expected` says what it should be.
static int zr_copy_absolute(char *dst, size_t size, const char *value, const char *arg, const char *expected) {
    if (value[0] != '/') {
        slurm_error("zeroroot: plugstack argument %s: expected %s", arg, expected);
        return -1;
    }
    return zr_copy_arg(dst, size, value, arg);
}

/// A size argument (bytes, or a number with K, M, G or T) copied to `dst`.
static int zr_copy_size(char *dst, size_t size, const char *value, const char *arg) {
    size_t digits = strspn(value, "0123456789");
    if (digits == 0 || (value[digits] != '\0' && (strchr("KMGTkmgt", value[digits]) == NULL || value[digits + 1] != '\0'))) {
        slurm_error("zeroroot: plugstack argument %s: expected a size (bytes, or a number with K, M, G or T)", arg);
        return -1;
    }
    return zr_copy_arg(dst, size, value, arg);
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
    conf->image_cache[0] = '\0';
    conf->image_cache_max[0] = '\0';
    conf->store_max[0] = '\0';
    for (int i = 0; i < ac; i++) {
        const char *arg = av[i];
        if (strncmp(arg, "storage=", 8) == 0) {
            if (zr_copy_absolute(conf->storage, sizeof conf->storage, arg + 8, arg, "an absolute path") != 0) return -1;
        } else if (strncmp(arg, "mounts=", 7) == 0) {
            if (zr_copy_arg(conf->mounts, sizeof conf->mounts, arg + 7, arg) != 0) return -1;
        } else if (strcmp(arg, "builds=yes") == 0 || strcmp(arg, "builds=no") == 0) {
            conf->builds = arg[7] == 'y';
        } else if (strcmp(arg, "bcast=yes") == 0 || strcmp(arg, "bcast=no") == 0) {
            conf->bcast = arg[6] == 'y';
        } else if (strcmp(arg, "sbatch=yes") == 0 || strcmp(arg, "sbatch=no") == 0) {
            conf->sbatch = arg[7] == 'y';
        } else if (strncmp(arg, "cdi_dirs=", 9) == 0) {
            if (zr_copy_absolute(conf->cdi_dirs, sizeof conf->cdi_dirs, arg + 9, arg, "absolute paths separated by ':'") != 0) return -1;
        } else if (strcmp(arg, "gpus=auto") == 0 || strcmp(arg, "gpus=no") == 0) {
            conf->gpus = arg[5] == 'a';
        } else if (strncmp(arg, "image_cache=", 12) == 0) {
            if (zr_copy_absolute(conf->image_cache, sizeof conf->image_cache, arg + 12, arg, "an absolute path (a directory on a shared filesystem)") != 0) return -1;
        } else if (strncmp(arg, "image_cache_max=", 16) == 0) {
            if (zr_copy_size(conf->image_cache_max, sizeof conf->image_cache_max, arg + 16, arg) != 0) return -1;
        } else if (strncmp(arg, "store_max=", 10) == 0) {
            if (zr_copy_size(conf->store_max, sizeof conf->store_max, arg + 10, arg) != 0) return -1;
        } else if (strncmp(arg, "zr=", 3) == 0) {
            if (zr_copy_absolute(conf->zr, sizeof conf->zr, arg + 3, arg, "an absolute path") != 0) return -1;
        } else {
            slurm_error("zeroroot: unknown plugstack argument \"%s\" (known: storage=DIR, mounts=LIST, builds=yes|no, sbatch=yes|no, bcast=yes|no, zr=PATH, cdi_dirs=DIRS, gpus=auto|no, image_cache=DIR, image_cache_max=SIZE, store_max=SIZE)", arg);
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
