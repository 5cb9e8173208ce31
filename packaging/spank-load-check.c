// Loads the SPANK plugin the way slurmstepd does: Slurm's own library (libslurmfull, which
// defines the spank_* and slurm_* functions the plugin calls) first, globally, then the plugin
// with every symbol bound now (it is linked -z now). Prints the plugin's name and version.
//   usage: spank-load-check LIBSLURMFULL PLUGIN
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: spank-load-check LIBSLURMFULL PLUGIN\n");
        return 2;
    }
    if (!dlopen(argv[1], RTLD_NOW | RTLD_GLOBAL)) {
        fprintf(stderr, "spank-load-check: %s\n", dlerror());
        return 1;
    }
    void *plugin = dlopen(argv[2], RTLD_NOW | RTLD_LOCAL);
    if (!plugin) {
        fprintf(stderr, "spank-load-check: %s\n", dlerror());
        return 1;
    }
    const char *entry_points[] = {"slurm_spank_init", "slurm_spank_init_post_opt", "slurm_spank_user_init",
                                  "slurm_spank_task_init", "slurm_spank_exit", "slurm_spank_job_epilog"};
    for (size_t i = 0; i < sizeof entry_points / sizeof *entry_points; i++) {
        if (!dlsym(plugin, entry_points[i])) {
            fprintf(stderr, "spank-load-check: %s: no %s\n", argv[2], entry_points[i]);
            return 1;
        }
    }
    const char *name = dlsym(plugin, "plugin_name");
    const char *version = dlsym(plugin, "zeroroot_version");
    if (!name || !version) {
        fprintf(stderr, "spank-load-check: %s: no plugin_name or zeroroot_version\n", argv[2]);
        return 1;
    }
    printf("%s %s\n", name, version);
    return 0;
}
