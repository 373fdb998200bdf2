// ASCII-mode line ending conversion and hash algorithm names.
#include "proto/text.hpp"

#include <fmt/format.h>

#include <cstring>
#include <iterator>

namespace feitp::proto {
namespace {

struct AlgoName {
  HashAlgo algo;
  std::string_view name;
};
// The order of the FEAT line.
constexpr AlgoName kAlgos[] = {{HashAlgo::sha1, "SHA-1"},
                               {HashAlgo::sha256, "SHA-256"},
                               {HashAlgo::sha512, "SHA-512"},
                               {HashAlgo::md5, "MD5"},
                               {HashAlgo::crc32, "CRC32"}};

constexpr char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + 32) : c; }

}  // namespace

void ToCrlf::convert(std::string_view in, std::string& out) {
  if (in.empty()) return;
  std::size_t start = 0;
  for (;;) {
    const void* p = std::memchr(in.data() + start, '\n', in.size() - start);
    if (p == nullptr) break;
    const auto lf = static_cast<std::size_t>(static_cast<const char*>(p) - in.data());
    const bool cr_before = lf > 0 ? in[lf - 1] == '\r' : last_was_cr;
    out.append(in.data() + start, lf - start);
    if (!cr_before) out.push_back('\r');
    out.push_back('\n');
    start = lf + 1;
    if (start == in.size()) break;
  }
  out.append(in.data() + start, in.size() - start);
  last_was_cr = in.back() == '\r';
}

void FromCrlf::convert(std::string_view in, std::string& out) {
  std::size_t i = 0;
  if (pending_cr && !in.empty()) {
    pending_cr = false;
    if (in[0] != '\n') out.push_back('\r');  // a lone CR is kept; CRLF becomes LF below
  }
  std::size_t start = 0;
  for (; i < in.size(); ++i) {
    if (in[i] != '\r') continue;
    out.append(in.data() + start, i - start);
    if (i + 1 == in.size()) {  // CR at the end of the chunk: decided by the next one
      pending_cr = true;
      return;
    }
    if (in[i + 1] != '\n') out.push_back('\r');
    start = i + 1;
  }
  out.append(in.data() + start, in.size() - start);
}

void FromCrlf::finish(std::string& out) {
  if (pending_cr) out.push_back('\r');
  pending_cr = false;
}

std::optional<HashAlgo> parse_hash_algo(std::string_view name) {
  for (const auto& a : kAlgos) {
    if (iequals(name, a.name)) return a.algo;
  }
  return std::nullopt;
}

std::string_view hash_algo_name(HashAlgo a) {
  for (const auto& e : kAlgos) {
    if (e.algo == a) return e.name;
  }
  return {};
}

std::string hash_feat_value(HashAlgo selected) {
  std::string out;
  for (const auto& a : kAlgos) {
    if (!out.empty()) out.push_back(';');
    out.append(a.name);
    if (a.algo == selected) out.push_back('*');
  }
  return out;
}

std::string hash_reply_text(HashAlgo a, std::uint64_t start, std::uint64_t end, std::string_view hex,
                            std::string_view path) {
  std::string out;
  out.reserve(hex.size() + path.size() + 48);
  fmt::format_to(std::back_inserter(out), "{} {}-{} {} {}", hash_algo_name(a), start, end, hex, path);
  return out;
}

namespace {
constexpr bool is_control(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}
}  // namespace

void append_escaped(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::size_t start = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (!is_control(text[i])) continue;
    const auto u = static_cast<unsigned char>(text[i]);
    out.append(text.data() + start, i - start);
    const char esc[4] = {'\\', 'x', kHex[u >> 4], kHex[u & 15]};
    out.append(esc, 4);
    start = i + 1;
  }
  out.append(text.data() + start, text.size() - start);
}

std::string escape_controls(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  append_escaped(out, text);
  return out;
}

bool has_controls(std::string_view text) {
  for (char c : text) {
    if (is_control(c)) return true;
  }
  return false;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

}  // namespace feitp::proto
