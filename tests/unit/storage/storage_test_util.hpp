// Helpers shared by the storage tests: a fresh directory per test, and whole-file I/O.
#pragma once

#include <fcntl.h>
#include <ftw.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdlib>
#include <span>
#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "feitp/storage.hpp"

namespace feitp::test {

// A directory made with mkdtemp(), removed (without following symlinks) on destruction.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = "/tmp/feitp-storage-XXXXXX";
    const char* p = ::mkdtemp(tmpl.data());
    if (p == nullptr) ADD_FAILURE() << "mkdtemp failed";
    path_ = tmpl;
  }
  ~TempDir() { ::nftw(path_.c_str(), &remove_entry, 32, FTW_DEPTH | FTW_PHYS | FTW_MOUNT); }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  [[nodiscard]] const std::string& path() const { return path_; }
  [[nodiscard]] std::string operator/(std::string_view rel) const { return path_ + "/" + std::string(rel); }

 private:
  static int remove_entry(const char* p, const struct stat*, int, struct FTW*) {
    ::remove(p);
    return 0;
  }
  std::string path_;
};

inline void write_disk(const std::string& path, std::string_view content) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  ASSERT_GE(fd, 0) << path;
  ASSERT_EQ(::write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  ::close(fd);
}

inline std::string read_disk(const std::string& path) {
  std::string out;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "<missing>";
  char buf[4096];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  ::close(fd);
  return out;
}

inline bool exists_disk(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

inline std::span<const std::byte> bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}

// Writes `content` through the storage and commits.
inline Status put(Storage& s, std::string_view path, std::string_view content,
                  WriteMode mode = WriteMode::truncate, std::uint64_t offset = 0) {
  auto w = s.open_write(path, mode, offset);
  if (!w) return w.error();
  auto n = (*w)->write(bytes(content));
  if (!n) return n.error();
  return (*w)->commit();
}

// Reads the whole file from `offset`; "<error: ...>" on failure.
inline std::string get(Storage& s, std::string_view path, std::uint64_t offset = 0) {
  auto r = s.open_read(path, offset);
  if (!r) return "<error: " + r.error().message() + ">";
  std::string out;
  std::byte buf[1000];
  for (;;) {
    auto n = (*r)->read(buf);
    if (!n) return "<error: " + n.error().message() + ">";
    if (*n == 0) break;
    out.append(reinterpret_cast<const char*>(buf), *n);
  }
  return out;
}

inline std::error_code err(std::errc e) { return std::make_error_code(e); }

}  // namespace feitp::test
