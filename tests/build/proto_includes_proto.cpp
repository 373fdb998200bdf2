// Compiled as a file of proto/: an include of its own layer builds (the twin of
// proto_includes_net.cpp, so that test fails only for the forbidden include).
#include "proto/path.hpp"

int feitp_layering_probe_ok() { return 0; }
