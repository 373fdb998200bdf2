// Fuzzes the PROXY protocol header parser (v1 text and v2 binary).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "proto/address.hpp"
#include "proto/proxy_header.hpp"

using namespace feitp::proto;

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const ProxyHeader h = parse_proxy_header(in);
  switch (h.status) {
    case ProxyHeader::Status::incomplete:
      // Only a short input can be incomplete: a reader never needs more than the cap.
      check(size < kProxyMaxHeader);
      check(h.error.empty());
      break;
    case ProxyHeader::Status::invalid: check(!h.error.empty()); break;
    case ProxyHeader::Status::done: {
      check(h.version == 1 || h.version == 2);
      check(h.length > 0 && h.length <= size && h.length <= kProxyMaxHeader);
      if (h.version == 1) check(h.length <= kProxyV1MaxLine);
      // The header alone parses to the same thing, and so does it with anything after it.
      const ProxyHeader again = parse_proxy_header(in.substr(0, h.length));
      check(again.status == ProxyHeader::Status::done && again.length == h.length && again.local == h.local);
      if (!h.local) {
        const std::string src = proxy_address_text(h.source);
        const std::string dst = proxy_address_text(h.destination);
        check(valid_cidr(src) && valid_cidr(dst));
        check(again.source.port == h.source.port && proxy_address_text(again.source) == src);
      }
      // Every shorter prefix is incomplete or (v1: a line end met early cannot happen) the same.
      if (h.length > 1) {
        check(parse_proxy_header(in.substr(0, h.length - 1)).status == ProxyHeader::Status::incomplete);
      }
      break;
    }
  }
  return 0;
}
