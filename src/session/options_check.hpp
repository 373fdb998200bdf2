// The Options check as the library's entry points apply it.
#pragma once

#include <string_view>

#include "feitp/options.hpp"

namespace feitp::session {

// Throws std::invalid_argument "<who>: invalid Options: a: ...; b: ..." naming every problem
// validate(options) finds (Server::Builder::build, Server::run).
void throw_if_invalid(const Options& options, std::string_view who);

}  // namespace feitp::session
