// Replays fuzz corpora without libFuzzer: links with one fuzz target's LLVMFuzzerTestOneInput
// and feeds it every file under the directories (or the files) given, so the normal unit-test
// build (GCC, or the ASan build) runs each target's invariants over its seeds and past finds.
// A broken invariant aborts the process, which fails the test.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

namespace fs = std::filesystem;

namespace {

std::vector<fs::path> inputs(const fs::path& arg) {
  std::vector<fs::path> out;
  if (fs::is_directory(arg)) {
    for (const auto& e : fs::recursive_directory_iterator(arg)) {
      if (e.is_regular_file()) out.push_back(e.path());
    }
  } else if (fs::is_regular_file(arg)) {
    out.push_back(arg);
  }
  std::sort(out.begin(), out.end());  // a stable order makes a failure reproducible
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  std::size_t runs = 0;
  for (int i = 1; i < argc; ++i) {
    for (const auto& p : inputs(argv[i])) {
      std::ifstream f(p, std::ios::binary);
      const std::string data((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
      std::fprintf(stderr, "replay %s (%zu bytes)\n", p.c_str(), data.size());
      LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(data.data()), data.size());
      ++runs;
    }
  }
  std::printf("replayed %zu inputs\n", runs);
  // An empty or missing corpus would make this test pass while checking nothing.
  return runs > 0 ? 0 : 1;
}
