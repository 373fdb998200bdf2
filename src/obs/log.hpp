// Logging set-up (spdlog). The server logs through spdlog's default logger.
#pragma once

#include <string>

namespace feitp::obs {

// level: trace debug info warn error off; format: text | json; file "" = stderr.
// Throws std::runtime_error with a clear message when the file cannot be opened.
void setup_logging(const std::string& level, const std::string& format, const std::string& file);

}  // namespace feitp::obs
