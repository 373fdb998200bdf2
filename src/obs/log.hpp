// Logging set-up (spdlog). The library logs through the logger its embedder gives
// (Options::logger), else through default_logger(); never through spdlog's global default.
#pragma once

#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace feitp::obs {

// A logger named "feitp". level: trace debug info warn error off; format: text | json;
// file "" = stderr. Throws std::runtime_error with a clear message when the level or format is
// unknown or the file cannot be opened. It touches no global state: the daemon makes it
// spdlog's default (runtime::setup_logging); the library only logs through it when given it.
std::shared_ptr<spdlog::logger> make_logger(const std::string& level, const std::string& format,
                                            const std::string& file);

// The library's logger when the embedder gives none: "feitp", info and above, the text
// format of make_logger on stderr. One per process, made on first use, not registered with
// spdlog (spdlog::get("feitp") and spdlog's default logger are the embedder's).
std::shared_ptr<spdlog::logger> default_logger();

// `given`, or default_logger() when it is null.
std::shared_ptr<spdlog::logger> logger_or_default(std::shared_ptr<spdlog::logger> given);

}  // namespace feitp::obs
