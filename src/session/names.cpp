// to_string() for the public enums: names for logs, JSON and messages, so that an embedder
// need not keep a switch of its own in step with the library. A value outside the enum (a cast)
// gives "unknown".
#include "feitp/hooks.hpp"
#include "feitp/options.hpp"
#include "feitp/storage.hpp"
#include "proto/text.hpp"

namespace feitp {

std::string_view to_string(TransferOutcome outcome) {
  switch (outcome) {
    case TransferOutcome::complete: return "complete";
    case TransferOutcome::aborted: return "aborted";
    case TransferOutcome::client_gone: return "client_gone";
    case TransferOutcome::failed: return "failed";
    case TransferOutcome::refused: return "refused";
  }
  return "unknown";
}

std::string_view to_string(Decision::Kind kind) {
  switch (kind) {
    case Decision::Kind::proceed: return "proceed";
    case Decision::Kind::reply: return "reply";
    case Decision::Kind::disconnect: return "disconnect";
  }
  return "unknown";
}

std::string_view to_string(TlsRequired r) {
  switch (r) {
    case TlsRequired::off: return "off";
    case TlsRequired::login: return "login";
    case TlsRequired::all: return "all";
  }
  return "unknown";
}

std::string_view to_string(DataSessionPolicy p) {
  switch (p) {
    case DataSessionPolicy::required: return "required";
    case DataSessionPolicy::own: return "own";
    case DataSessionPolicy::any: return "any";
  }
  return "unknown";
}

std::string_view to_string(FileType type) {
  switch (type) {
    case FileType::file: return "file";
    case FileType::directory: return "directory";
    case FileType::symlink: return "symlink";
    case FileType::other: return "other";
  }
  return "unknown";
}

std::string_view to_string(WriteMode mode) {
  switch (mode) {
    case WriteMode::truncate: return "truncate";
    case WriteMode::append: return "append";
    case WriteMode::exclusive: return "exclusive";
    case WriteMode::at_offset: return "at_offset";
  }
  return "unknown";
}

std::string_view to_string(HashAlgo algo) {
  const std::string_view name = proto::hash_algo_name(algo);
  return name.empty() ? std::string_view("unknown") : name;
}

}  // namespace feitp
