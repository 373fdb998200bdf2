// Fuzzes FTP path normalisation: the input is "cwd\nargument".
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/path.hpp"
#include "proto/reply.hpp"

using namespace feitp::proto;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Normalised: "/" or "/a/b" with no empty, "." or ".." component and no trailing '/'.
bool is_normalised(std::string_view p) {
  if (p == "/") return true;
  if (p.empty() || p.front() != '/' || p.back() == '/') return false;
  std::string_view rest = p.substr(1);
  while (true) {
    const std::size_t s = rest.find('/');
    const std::string_view part = rest.substr(0, s);
    if (part.empty() || part == "." || part == "..") return false;
    if (s == std::string_view::npos) return true;
    rest.remove_prefix(s + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const std::size_t nl = in.find('\n');
  std::string_view cwd_raw = nl == std::string_view::npos ? std::string_view("/") : in.substr(0, nl);
  const std::string_view arg = nl == std::string_view::npos ? in : in.substr(nl + 1);

  // The server's cwd is always normalised: make one from the raw text first.
  const auto cwd = resolve_path("/", cwd_raw);
  if (!cwd) return 0;
  check(is_normalised(*cwd));

  const auto r = resolve_path(*cwd, arg, 256);
  if (!r) return 0;
  check(r->size() <= 256);
  check(is_normalised(*r));
  // Idempotent, and absolute results do not depend on the cwd.
  check(resolve_path("/", *r) == *r);
  check(resolve_path("/elsewhere", *r) == *r);
  // Parent and base name put back together give the path again.
  const std::string_view parent = parent_path(*r);
  const std::string_view base = base_name(*r);
  check(is_normalised(parent));
  check(join_path(parent, base) == *r);
  (void)quote_path(*r);
  return 0;
}
