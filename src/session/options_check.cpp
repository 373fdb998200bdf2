// feitp::validate(const Options&): what a Server would do wrong with, or refuse, at start or
// later. The daemon's configuration checks use it for every value that ends in Options.
#include "session/options_check.hpp"

#include <stdexcept>
#include <string>
#include <vector>

#include "feitp/options.hpp"
#include "proto/value_checks.hpp"

namespace feitp {

namespace {

struct Problems {
  std::vector<std::string> lines;
  void add(std::string field, std::string_view problem) {
    field.append(": ").append(problem);
    lines.push_back(std::move(field));
  }
};

std::string indexed(std::string_view field, std::size_t i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

template <class Rep, class Period>
void not_negative(Problems& p, std::string_view field, std::chrono::duration<Rep, Period> d) {
  if (d.count() < 0) p.add(std::string(field), "must not be negative, got " + std::to_string(d.count()));
}

void check_tls(Problems& p, const TlsOptions& t) {
  const bool cert = !t.cert_file.empty();
  if (cert && t.key_file.empty()) p.add("tls.key_file", "is required with a certificate (its private key)");
  if (!cert && !t.key_file.empty()) p.add("tls.cert_file", "is required with a private key");
  if (!cert && t.required != TlsRequired::off) {
    p.add("tls.required", "TLS is required but no certificate is set");
  }
  if (!cert && !t.implicit_listen.empty()) {
    p.add("tls.implicit_listen", "implicit TLS needs a certificate and its key");
  }
  if (t.min_version != "1.2" && t.min_version != "1.3") {
    p.add("tls.min_version", "must be \"1.2\" or \"1.3\", got " + proto::quote(t.min_version));
  }
  for (std::size_t i = 0; i < t.implicit_listen.size(); ++i) {
    if (auto q = proto::check_listen_address(t.implicit_listen[i]); !q.empty()) {
      p.add(indexed("tls.implicit_listen", i), q);
    }
  }
  not_negative(p, "tls.handshake_timeout", t.handshake_timeout);
  not_negative(p, "tls.session_lifetime", t.session_lifetime);
  for (std::size_t i = 0; i < t.hosts.size(); ++i) {
    const auto& h = t.hosts[i];
    const std::string at = indexed("tls.hosts", i);
    if (h.name.empty()) p.add(at + ".name", "is required");
    if (h.cert_file.empty()) p.add(at + ".cert_file", "is required");
    if (h.key_file.empty()) p.add(at + ".key_file", "is required");
  }
}

}  // namespace

std::vector<std::string> validate(const Options& o) {
  Problems p;
  if (o.listen.empty() && o.listen_fds.empty()) p.add("listen", "must name at least one address");
  for (std::size_t i = 0; i < o.listen.size(); ++i) {
    if (auto q = proto::check_listen_address(o.listen[i]); !q.empty()) p.add(indexed("listen", i), q);
  }
  for (std::size_t i = 0; i < o.listen_fds.size(); ++i) {
    if (o.listen_fds[i] < 0) {
      p.add(indexed("listen_fds", i), "must be a listening socket, got " + std::to_string(o.listen_fds[i]));
    }
  }
  for (std::size_t i = 0; i < o.proxy_protocol_from.size(); ++i) {
    if (!proto::is_cidr(o.proxy_protocol_from[i])) {
      p.add(indexed("proxy_protocol_from", i),
            "not an address or CIDR network: " + proto::quote(o.proxy_protocol_from[i]));
    }
  }
  if (o.proxy_protocol_timeout.count() <= 0) p.add("proxy_protocol_timeout", "must be more than 0");

  if (o.banner.find('\r') != std::string::npos || o.banner.find('\0') != std::string::npos) {
    p.add("banner", "must not contain carriage returns or NUL bytes");
  }
  if (o.banner.size() > 4096) p.add("banner", "must be at most 4096 bytes");

  if ((o.passive_port_min == 0) != (o.passive_port_max == 0) || o.passive_port_min > o.passive_port_max) {
    p.add("passive_port_min, passive_port_max",
          "must be MIN-MAX with 1 <= MIN <= MAX <= 65535 (or 0-0: any port), got " +
              std::to_string(o.passive_port_min) + "-" + std::to_string(o.passive_port_max));
  }
  for (std::size_t i = 0; i < o.masquerade.size(); ++i) {
    const auto& m = o.masquerade[i];
    const std::string at = indexed("masquerade", i);
    if (!m.network.empty() && !proto::is_cidr(m.network)) {
      p.add(at + ".network", "not an address or CIDR network: " + proto::quote(m.network));
    }
    if (!proto::is_ipv4(m.address)) {
      p.add(at + ".address",
            "must be a numeric IPv4 address (it goes into 227 replies), got " + proto::quote(m.address));
    }
  }

  not_negative(p, "login_failure_delay", o.login_failure_delay);
  not_negative(p, "ban_window", o.ban_window);
  not_negative(p, "ban_time", o.ban_time);
  if (o.ban_after_failures > 0 && o.ban_window.count() <= 0) {
    p.add("ban_window", "must be at least 1 second when ban_after_failures is set");
  }
  if (o.max_line < 256 || o.max_line > 65536) p.add("max_line", "must be 256 to 65536");
  not_negative(p, "idle_timeout", o.idle_timeout);
  not_negative(p, "login_timeout", o.login_timeout);
  not_negative(p, "data_accept_timeout", o.data_accept_timeout);
  not_negative(p, "data_stall_timeout", o.data_stall_timeout);

  if (o.transfer_buffer < 4096 || o.transfer_buffer > (64U << 20)) {
    p.add("transfer_buffer", "must be 4096 to 67108864 bytes");
  }
  if (!proto::valid_hash_name(o.default_hash)) {
    p.add("default_hash",
          "must be one of SHA-256, SHA-1, SHA-512, MD5, CRC32, got " + proto::quote(o.default_hash));
  }
  if (o.blocking_threads < 1 || o.blocking_threads > 256) p.add("blocking_threads", "must be 1 to 256");

  check_tls(p, o.tls);
  return std::move(p.lines);
}

}  // namespace feitp

namespace feitp::session {

void throw_if_invalid(const Options& options, std::string_view who) {
  const auto problems = validate(options);
  if (problems.empty()) return;
  std::string what = std::string(who) + ": invalid Options: ";
  for (std::size_t i = 0; i < problems.size(); ++i) {
    if (i > 0) what += "; ";
    what += problems[i];
  }
  throw std::invalid_argument(what);
}

}  // namespace feitp::session
