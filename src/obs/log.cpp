// Logging set-up: a logger for human text or JSON lines, to a file or stderr; the library's
// default logger.
// Messages below the level are rejected before any formatting (spdlog checks the level first).
#include "obs/log.hpp"

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <cstdio>
#include <string_view>

#include "proto/text.hpp"

namespace feitp::obs {

namespace {

// %* in a pattern: the message payload escaped for a JSON string.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    static constexpr char kHex[] = "0123456789abcdef";
    for (char c : std::string_view(msg.payload.data(), msg.payload.size())) {
      auto u = static_cast<unsigned char>(c);
      switch (c) {
        case '"': dest.append(std::string_view("\\\"")); break;
        case '\\': dest.append(std::string_view("\\\\")); break;
        case '\n': dest.append(std::string_view("\\n")); break;
        case '\r': dest.append(std::string_view("\\r")); break;
        case '\t': dest.append(std::string_view("\\t")); break;
        default:
          if (u < 0x20 || u == 0x7f) {
            const char esc[6] = {'\\', 'u', '0', '0', kHex[u >> 4], kHex[u & 15]};
            dest.append(esc, esc + 6);
          } else {
            dest.push_back(c);
          }
      }
    }
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonEscapedMessage>();
  }
};

// %* in the text pattern: the message payload with control characters escaped as \xNN.
// Messages carry client text (user names, paths); a raw CR or LF would forge a log line, an
// ESC would drive the terminal of whoever reads the log (audit F17). One scan per line; a copy
// only when something needs escaping.
class TextEscapedMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    const std::string_view text(msg.payload.data(), msg.payload.size());
    if (!proto::has_controls(text)) {
      dest.append(text.data(), text.data() + text.size());
      return;
    }
    const std::string escaped = proto::escape_controls(text);
    dest.append(escaped.data(), escaped.data() + escaped.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<TextEscapedMessage>();
  }
};

// The process and thread ids of the calling thread, looked up once per thread and again after
// a fork(). spdlog's own %t caches the thread id in a thread_local that a forked worker
// inherits, so every worker's lines carried the master's thread id; %P asks the kernel on
// every line. A fork generation, bumped in the child by pthread_atfork, invalidates the cache.
std::atomic<unsigned> g_fork_generation{0};

struct Ids {
  unsigned generation = ~0u;
  long pid = 0;
  long tid = 0;
};

const Ids& current_ids() {
  thread_local Ids ids;
  const unsigned g = g_fork_generation.load(std::memory_order_relaxed);
  if (ids.generation != g) {
    ids.generation = g;
    ids.pid = static_cast<long>(::getpid());
    ids.tid = static_cast<long>(::syscall(SYS_gettid));
  }
  return ids;
}

void append_number(spdlog::memory_buf_t& dest, long v) {
  char buf[24];
  const int n = std::snprintf(buf, sizeof buf, "%ld", v);
  dest.append(buf, buf + n);
}

class ProcessId final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& /*msg*/, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    append_number(dest, current_ids().pid);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ProcessId>();
  }
};

class ThreadId final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& /*msg*/, const std::tm& /*tm*/,
              spdlog::memory_buf_t& dest) override {
    append_number(dest, current_ids().tid);
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ThreadId>();
  }
};

spdlog::level::level_enum parse_level(const std::string& level) {
  if (level == "trace") return spdlog::level::trace;
  if (level == "debug") return spdlog::level::debug;
  if (level == "info") return spdlog::level::info;
  if (level == "warn" || level == "warning") return spdlog::level::warn;
  if (level == "error") return spdlog::level::err;
  if (level == "critical") return spdlog::level::critical;
  if (level == "off") return spdlog::level::off;
  throw std::runtime_error("unknown log level \"" + level +
                           "\" (use trace, debug, info, warn, error, critical or off)");
}

}  // namespace

namespace {

void count_forks() {
  static std::once_flag at_fork;
  std::call_once(at_fork, [] {
    ::pthread_atfork(nullptr, nullptr, [] { g_fork_generation.fetch_add(1, std::memory_order_relaxed); });
  });
}

std::unique_ptr<spdlog::pattern_formatter> make_formatter(bool json) {
  std::unique_ptr<spdlog::pattern_formatter> formatter;
  if (json) {
    // One JSON object per line: time (UTC, ISO 8601), level, pid, thread, message.
    formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
    formatter->add_flag<JsonEscapedMessage>('*').add_flag<ProcessId>('P').add_flag<ThreadId>('t').set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%fZ","level":"%l","pid":%P,"thread":%t,"msg":"%*"})");
  } else {
    // "2026-12-03 08:15:02.113 [info] [4242] session 7: ..." (pid: which worker said it).
    formatter = std::make_unique<spdlog::pattern_formatter>();
    formatter->add_flag<TextEscapedMessage>('*').add_flag<ProcessId>('P').set_pattern(
        "%Y-%m-%d %H:%M:%S.%e [%l] [%P] %*");
  }
  return formatter;
}

}  // namespace

std::shared_ptr<spdlog::logger> make_logger(const std::string& level, const std::string& format,
                                            const std::string& file) {
  const auto lvl = parse_level(level);
  if (format != "text" && format != "json") {
    throw std::runtime_error("unknown log format \"" + format + "\" (use text or json)");
  }

  spdlog::sink_ptr sink;
  if (file.empty()) {
    sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  } else {
    // spdlog would create a missing directory; a typo in the path should be an error instead.
    const auto slash = file.find_last_of('/');
    const std::string dir = slash == std::string::npos ? "." : slash == 0 ? "/" : file.substr(0, slash);
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) {
      throw std::runtime_error("cannot open log file " + file + ": directory " + dir + " does not exist");
    }
    try {
      sink = std::make_shared<spdlog::sinks::basic_file_sink_mt>(file, /*truncate=*/false);
    } catch (const spdlog::spdlog_ex& e) {
      throw std::runtime_error("cannot open log file " + file + ": " + e.what());
    }
  }

  count_forks();
  sink->set_formatter(make_formatter(format == "json"));

  auto logger = std::make_shared<spdlog::logger>("feitp", std::move(sink));
  logger->set_level(lvl);
  // Warnings and errors reach the file at once; the rest is flushed every second.
  logger->flush_on(spdlog::level::warn);
  return logger;
}

std::shared_ptr<spdlog::logger> default_logger() {
  static const std::shared_ptr<spdlog::logger> logger = [] {
    count_forks();
    auto sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
    sink->set_formatter(make_formatter(false));
    auto l = std::make_shared<spdlog::logger>("feitp", std::move(sink));
    l->set_level(spdlog::level::info);
    l->flush_on(spdlog::level::warn);
    return l;
  }();
  return logger;
}

std::shared_ptr<spdlog::logger> logger_or_default(std::shared_ptr<spdlog::logger> given) {
  return given ? std::move(given) : default_logger();
}

}  // namespace feitp::obs
