// Fuzzes the daemon's TOML configuration reader: any text gives either a config that passes
// validation or a one-line error naming the file, never a crash or an exception.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "config/config.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

constexpr std::string_view kSource = "fuzz.toml";

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const feitp::config::LoadResult r = feitp::config::parse_config(text, kSource);
  check(r.config.has_value() == r.error.empty());
  if (r.config) {
    check(r.config->source == kSource);
    check(feitp::config::validate(*r.config, /*require_login=*/false).empty());
    return 0;
  }
  // Errors are one line (they go to a terminal or a journal) and say which file.
  check(r.error.find('\n') == std::string::npos && r.error.find('\r') == std::string::npos);
  check(r.error.find(kSource) != std::string::npos);
  return 0;
}
