// to_string() of the public enums.
#include <string_view>

#include <gtest/gtest.h>

#include "feitp/hooks.hpp"
#include "feitp/options.hpp"
#include "feitp/storage.hpp"

namespace feitp {
namespace {

TEST(EnumNames, TransferOutcome) {
  EXPECT_EQ(to_string(TransferOutcome::complete), "complete");
  EXPECT_EQ(to_string(TransferOutcome::aborted), "aborted");
  EXPECT_EQ(to_string(TransferOutcome::client_gone), "client_gone");
  EXPECT_EQ(to_string(TransferOutcome::failed), "failed");
  EXPECT_EQ(to_string(TransferOutcome::refused), "refused");
  EXPECT_EQ(to_string(static_cast<TransferOutcome>(200)), "unknown");
}

TEST(EnumNames, DecisionKind) {
  EXPECT_EQ(to_string(Decision::Kind::proceed), "proceed");
  EXPECT_EQ(to_string(Decision::Kind::reply), "reply");
  EXPECT_EQ(to_string(Decision::Kind::disconnect), "disconnect");
  EXPECT_EQ(to_string(Decision::refuse("no").kind), "reply");
  EXPECT_EQ(to_string(static_cast<Decision::Kind>(9)), "unknown");
}

TEST(EnumNames, Settings) {
  EXPECT_EQ(to_string(TlsRequired::off), "off");
  EXPECT_EQ(to_string(TlsRequired::login), "login");
  EXPECT_EQ(to_string(TlsRequired::all), "all");
  EXPECT_EQ(to_string(DataSessionPolicy::required), "required");
  EXPECT_EQ(to_string(DataSessionPolicy::own), "own");
  EXPECT_EQ(to_string(DataSessionPolicy::any), "any");
  EXPECT_EQ(to_string(FileType::file), "file");
  EXPECT_EQ(to_string(FileType::directory), "directory");
  EXPECT_EQ(to_string(FileType::symlink), "symlink");
  EXPECT_EQ(to_string(FileType::other), "other");
  EXPECT_EQ(to_string(WriteMode::truncate), "truncate");
  EXPECT_EQ(to_string(WriteMode::append), "append");
  EXPECT_EQ(to_string(WriteMode::exclusive), "exclusive");
  EXPECT_EQ(to_string(WriteMode::at_offset), "at_offset");
}

TEST(EnumNames, HashAlgoUsesTheNamesOfHashAndDefaultHash) {
  EXPECT_EQ(to_string(HashAlgo::sha256), "SHA-256");
  EXPECT_EQ(to_string(HashAlgo::sha1), "SHA-1");
  EXPECT_EQ(to_string(HashAlgo::sha512), "SHA-512");
  EXPECT_EQ(to_string(HashAlgo::md5), "MD5");
  EXPECT_EQ(to_string(HashAlgo::crc32), "CRC32");
  EXPECT_EQ(Options{}.default_hash, to_string(HashAlgo::sha256));
}

}  // namespace
}  // namespace feitp
