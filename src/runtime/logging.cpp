// The daemon's logging: spdlog's process-wide default is the daemon's to set, never the
// library's (libfeitp holds no reference to it: tests/build checks its symbols).
#include "runtime/logging.hpp"

#include <spdlog/spdlog.h>

#include <chrono>

#include "obs/log.hpp"

namespace feitp::runtime {

std::shared_ptr<spdlog::logger> setup_logging(const std::string& level, const std::string& format,
                                              const std::string& file) {
  auto logger = obs::make_logger(level, format, file);
  spdlog::set_default_logger(logger);
  // Warnings and errors are flushed at once (flush_on); the rest reaches a file every second.
  if (!file.empty()) spdlog::flush_every(std::chrono::seconds{1});
  return logger;
}

}  // namespace feitp::runtime
