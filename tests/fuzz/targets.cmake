# The fuzz targets: tests/fuzz/fuzz_<name>.cpp, seed corpus in tests/fuzz/corpus/<name>/.
# Used by tests/fuzz/CMakeLists.txt (libFuzzer builds) and tests/CMakeLists.txt (corpus replay).
set(FEITP_FUZZ_NAMES command path address line rest_mfmt config listing proxy)
