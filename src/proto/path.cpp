// FTP path normalisation: lexical, ".." never climbs above "/".
#include "proto/path.hpp"

#include <cstring>

namespace feitp::proto {
namespace {

// Applies the components of `p` ('/'-separated) to `out`, a normalised path without the
// leading "/" form for the root (the root is "" while building).
void apply(std::string& out, std::string_view p) {
  while (!p.empty()) {
    const std::size_t slash = p.find('/');
    const std::string_view part = p.substr(0, slash);
    p.remove_prefix(slash == std::string_view::npos ? p.size() : slash + 1);
    if (part.empty() || part == ".") continue;
    if (part == "..") {
      const std::size_t last = out.rfind('/');
      out.resize(last == std::string::npos ? 0 : last);  // at the root, ".." stays there
      continue;
    }
    out.push_back('/');
    out.append(part);
  }
}

}  // namespace

std::optional<std::string> resolve_path(std::string_view cwd, std::string_view arg, std::size_t max_len) {
  if (arg.find('\0') != std::string_view::npos) return std::nullopt;
  std::string out;
  const bool absolute = !arg.empty() && arg.front() == '/';
  out.reserve((absolute ? 0 : cwd.size()) + arg.size() + 1);
  if (!absolute) apply(out, cwd);
  apply(out, arg);
  if (out.empty()) out = "/";
  if (out.size() > max_len) return std::nullopt;
  return out;
}

std::string_view parent_path(std::string_view normalised) {
  const std::size_t last = normalised.rfind('/');
  if (last == std::string_view::npos || last == 0) return "/";
  return normalised.substr(0, last);
}

std::string_view base_name(std::string_view normalised) {
  const std::size_t last = normalised.rfind('/');
  if (last == std::string_view::npos) return normalised;
  return normalised.substr(last + 1);
}

std::string join_path(std::string_view dir, std::string_view name) {
  std::string out;
  if (name.empty()) return std::string(dir.empty() ? "/" : dir);
  out.reserve(dir.size() + name.size() + 1);
  out.append(dir);
  if (out.empty() || out.back() != '/') out.push_back('/');
  out.append(name);
  return out;
}

}  // namespace feitp::proto
