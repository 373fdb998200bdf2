// Fuzzes PORT/EPRT/EPSV argument parsing, CIDR matching and time values.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/address.hpp"
#include "proto/listing.hpp"

using namespace feitp::proto;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

  if (auto hp = parse_port_arg(in)) {
    check(!hp->v6 && hp->port != 0);
    // The canonical host is itself a valid address that matches itself.
    check(cidr_contains(hp->host, hp->host));
    const std::string text = pasv_reply_text(hp->host, hp->port);
    check(text.rfind("Entering Passive Mode (", 0) == 0);
  }

  bool unsupported = false;
  if (auto hp = parse_eprt_arg(in, &unsupported)) {
    check(!unsupported && hp->port != 0);
    check(valid_cidr(hp->host));
    // Re-encoding the parsed address parses back to the same thing.
    const std::string again =
        std::string("|") + (hp->v6 ? "2" : "1") + "|" + hp->host + "|" + std::to_string(hp->port) + "|";
    const auto hp2 = parse_eprt_arg(again);
    check(hp2 && hp2->host == hp->host && hp2->port == hp->port && hp2->v6 == hp->v6);
  }
  (void)parse_epsv_arg(in);
  (void)unmap_v4(in);

  // "cidr ip": split at the first space.
  const std::size_t sp = in.find(' ');
  if (sp != std::string_view::npos) {
    const std::string_view cidr = in.substr(0, sp);
    const std::string_view ip = in.substr(sp + 1);
    const bool inside = cidr_contains(cidr, ip);
    if (inside && !cidr.empty()) check(valid_cidr(cidr));
  }

  if (auto t = parse_time_val(in)) {
    const auto again = parse_time_val(format_time_val(*t));
    check(again && *again == *t);
  }
  return 0;
}
