// Compiled as a file of proto/: proto is pure protocol and may not use net/, so this include
// must not compile (src/CMakeLists.txt, "The build enforces the layers").
#include "net/endpoint.hpp"

int feitp_layering_probe_bad() { return 0; }
