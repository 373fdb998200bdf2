// Fuzzes the listing formatters (LIST, NLST, MLSD lines) with arbitrary names, link targets,
// sizes, modes and times: every entry must be exactly one CRLF-terminated line, so a file name
// cannot forge extra entries or replies on the control or data stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>

#include "proto/listing.hpp"

using namespace feitp;
using namespace feitp::proto;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

// Exactly one line: ends with CRLF, no other CR or LF.
bool one_line(std::string_view s) {
  if (s.size() < 2 || s.substr(s.size() - 2) != "\r\n") return false;
  s.remove_suffix(2);
  return s.find_first_of("\r\n") == std::string_view::npos;
}

template <typename T>
T take(std::string_view& in) {
  T v{};
  const std::size_t n = in.size() < sizeof v ? in.size() : sizeof v;
  std::memcpy(&v, in.data(), n);
  in.remove_prefix(n);
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  FileInfo fi;
  fi.type = static_cast<FileType>(take<std::uint8_t>(in) % 4);
  fi.size = take<std::uint64_t>(in);
  fi.mtime = take<std::int64_t>(in);
  fi.mode = take<std::uint32_t>(in);
  fi.nlink = take<std::uint32_t>(in);
  fi.uid = take<std::uint32_t>(in);
  fi.gid = take<std::uint32_t>(in);
  fi.unique = take<std::uint64_t>(in);
  const auto facts = take<std::uint8_t>(in) & kDefaultFacts;
  // A clock in a realistic range (1970..2106): the server's own time, not input.
  const std::int64_t now = take<std::uint32_t>(in);
  const std::size_t nul = in.find('\0');
  fi.name = std::string(in.substr(0, nul));
  if (nul != std::string_view::npos) fi.link_target = std::string(in.substr(nul + 1));

  std::string out;
  append_list_line(out, fi, now, true);
  check(one_line(out));
  check(out.size() > 10 && out.find(' ') == 10);  // "drwxr-xr-x " mode column
  out.clear();
  append_list_line(out, fi, now, false);
  check(one_line(out));
  out.clear();
  append_nlst_line(out, fi.name);
  check(one_line(out) && out.size() == fi.name.size() + 2);
  out.clear();
  const std::string perm = mlsx_perm(fi.type, fi.link_target);
  append_mlsx_line(out, fi, facts, perm, fi.name);
  check(one_line(out));
  // The facts end at the first space; the name after it is the entry's name, CR/LF masked.
  const std::size_t sp = out.find(' ');
  check(sp != std::string::npos && (sp == 0 || out[sp - 1] == ';'));
  check(out.size() - sp - 3 == fi.name.size());
  return 0;
}
