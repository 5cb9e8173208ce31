#include <seccomp.h>

// Function-like macros are not imported into Swift; these give them names.
static inline uint32_t zr_scmp_act_errno(uint16_t err) { return SCMP_ACT_ERRNO(err); }
