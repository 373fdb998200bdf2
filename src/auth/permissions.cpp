// Permissions: pyftpdlib's letters, with per-directory overrides.
#include <algorithm>
#include <stdexcept>
#include <string>
#include <string_view>

#include "feitp/auth.hpp"

namespace feitp {

namespace {

// "/pub/" -> "/pub"; "/" stays "/". Directories are compared component by component.
std::string normalise_dir(std::string_view dir) {
  std::string out(dir);
  while (out.size() > 1 && out.back() == '/') out.pop_back();
  if (out.empty() || out.front() != '/') out.insert(out.begin(), '/');
  return out;
}

// True when `path` is `dir` or lies below it ("/pub" covers "/pub" and "/pub/x", not "/public").
bool covers(std::string_view dir, std::string_view path) {
  if (dir == "/") return true;
  if (path.size() < dir.size() || path.compare(0, dir.size(), dir) != 0) return false;
  return path.size() == dir.size() || path[dir.size()] == '/';
}

void check_letters(std::string_view letters) {
  std::string problem = Permissions::validate(letters);
  if (!problem.empty()) throw std::invalid_argument(problem);
}

}  // namespace

Permissions::Permissions(std::string_view letters) : defaults_(letters) { check_letters(letters); }

void Permissions::set_override(std::string_view dir, std::string_view letters) {
  check_letters(letters);
  std::string key = normalise_dir(dir);
  auto same =
      std::find_if(overrides_.begin(), overrides_.end(), [&](const auto& o) { return o.first == key; });
  if (same != overrides_.end()) {
    same->second = std::string(letters);
    return;
  }
  overrides_.emplace_back(std::move(key), std::string(letters));
  // Longest directory first, so the first match is the most specific one.
  std::stable_sort(overrides_.begin(), overrides_.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
}

std::string_view Permissions::letters_for(std::string_view path) const {
  if (path.size() > 1 && path.back() == '/') path.remove_suffix(1);
  for (const auto& [dir, letters] : overrides_) {
    if (covers(dir, path)) return letters;
  }
  return defaults_;
}

bool Permissions::allows(char letter, std::string_view path) const {
  return letters_for(path).find(letter) != std::string_view::npos;
}

bool Permissions::allows_tree(char letter, std::string_view dir) const {
  if (!allows(letter, dir)) return false;
  if (dir.size() > 1 && dir.back() == '/') dir.remove_suffix(1);
  for (const auto& [area, letters] : overrides_) {
    if (area.size() > dir.size() && covers(dir, area) && letters.find(letter) == std::string::npos) {
      return false;
    }
  }
  return true;
}

std::string Permissions::validate(std::string_view letters) {
  for (char c : letters) {
    if (kAll.find(c) == std::string_view::npos) {
      std::string shown(1, c);
      if (c < 0x21 || c >= 0x7f) {
        static constexpr char kHex[] = "0123456789abcdef";
        auto u = static_cast<unsigned char>(c);
        shown = std::string("\\x") + kHex[u >> 4] + kHex[u & 15];
      }
      return "unknown permission letter '" + shown + "' (allowed: " + std::string(kAll) + ")";
    }
  }
  return {};
}

}  // namespace feitp
