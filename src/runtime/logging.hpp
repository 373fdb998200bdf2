// The daemon's logging: the logger of [log], made spdlog's default in this process.
#pragma once

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace feitp::runtime {

// obs::make_logger, then made spdlog's default (the daemon's own lines and the servers it
// builds log through it), flushed every second when it writes to a file. Throws like
// make_logger.
std::shared_ptr<spdlog::logger> setup_logging(const std::string& level, const std::string& format,
                                              const std::string& file);

}  // namespace feitp::runtime
