// Header-only module (SwiftPM needs one source file per C target).
#include "zr_spank_abi.h"
