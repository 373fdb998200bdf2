#include "obs/xferlog.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "feitp/auth.hpp"

namespace feitp::obs {

namespace {

// A field of the space-separated line: never empty, no spaces or control characters.
std::string field(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u <= 0x20 || u == 0x7f ? '_' : c);
  }
  if (out.empty()) out = "_";
  return out;
}

class XferlogHooks final : public Hooks {
 public:
  explicit XferlogHooks(const std::string& path) {
    fd_ = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd_ < 0) { throw std::runtime_error(fmt::format("xferlog {}: {}", path, std::strerror(errno))); }
  }
  ~XferlogHooks() override { ::close(fd_); }
  XferlogHooks(const XferlogHooks&) = delete;
  XferlogHooks& operator=(const XferlogHooks&) = delete;

  void on_file_sent(Connection& s, const TransferEvent& ev) override { write(s, ev); }
  void on_file_received(Connection& s, const TransferEvent& ev) override { write(s, ev); }
  void on_incomplete_file_sent(Connection& s, const TransferEvent& ev) override { write(s, ev); }
  void on_incomplete_file_received(Connection& s, const TransferEvent& ev) override { write(s, ev); }

 private:
  void write(Connection& s, const TransferEvent& ev) {
    XferlogEntry who;
    who.when = std::time(nullptr);
    who.remote_host = s.peer_address();
    who.user = s.user_name();
    who.anonymous = s.user() != nullptr && s.user()->anonymous;
    const std::string line = format_xferlog_line(who, ev);
    // One write per line with O_APPEND: lines from several processes never interleave.
    std::size_t done = 0;
    while (done < line.size()) {
      const ssize_t n = ::write(fd_, line.data() + done, line.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return;  // a full disk must not break transfers; the line is lost
      done += static_cast<std::size_t>(n);
    }
  }

  int fd_ = -1;
};

}  // namespace

std::string format_xferlog_line(const XferlogEntry& who, const TransferEvent& ev) {
  std::tm tm{};
  ::localtime_r(&who.when, &tm);
  char when[64];
  if (std::strftime(when, sizeof when, "%a %b %e %H:%M:%S %Y", &tm) == 0) when[0] = '\0';
  const double secs = std::isfinite(ev.seconds) && ev.seconds > 0 ? std::round(ev.seconds) : 0.0;
  const auto whole = static_cast<unsigned long long>(secs < 1.0 ? 1.0 : secs);
  return fmt::format("{} {} {} {} {} {} _ {} {} {} ftp 0 * {}\n", when, whole, field(who.remote_host),
                     ev.bytes, field(ev.path), who.ascii ? 'a' : 'b', ev.upload ? 'i' : 'o',
                     who.anonymous ? 'a' : 'r', field(who.user),
                     ev.outcome == TransferOutcome::complete ? 'c' : 'i');
}

std::shared_ptr<Hooks> make_xferlog_hooks(const std::string& path) {
  return std::make_shared<XferlogHooks>(path);
}

}  // namespace feitp::obs
