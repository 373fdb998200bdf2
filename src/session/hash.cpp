// HASH (draft-ietf-ftpext2-hash) and the older XMD5/XSHA1/XSHA256/XSHA512/XCRC commands.
// Digests are computed on the thread pool so a large file never stalls other sessions.
#include <openssl/evp.h>
#include <zlib.h>

#include <fmt/format.h>

#include "proto/text.hpp"
#include "session/session.hpp"

namespace feitp::session {

namespace {

// Reads the file to its end and returns the lower-case hex digest.
Result<std::string> digest_file(ReadFile& f, HashAlgo algo, std::span<std::byte> buf) {
  std::string hex;
  if (algo == HashAlgo::crc32) {
    uLong crc = crc32(0L, Z_NULL, 0);
    for (;;) {
      auto r = f.read(buf);
      if (!r) return r.error();
      if (*r == 0) break;
      crc = crc32(crc, reinterpret_cast<const Bytef*>(buf.data()), static_cast<uInt>(*r));
    }
    return fmt::format("{:08x}", static_cast<std::uint32_t>(crc));
  }
  const EVP_MD* md = algo == HashAlgo::sha1     ? EVP_sha1()
                     : algo == HashAlgo::sha512 ? EVP_sha512()
                     : algo == HashAlgo::md5    ? EVP_md5()
                                                : EVP_sha256();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return std::errc::not_enough_memory;
  for (;;) {
    auto r = f.read(buf);
    if (!r) return r.error();
    if (*r == 0) break;
    EVP_DigestUpdate(ctx.get(), buf.data(), *r);
  }
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) fmt::format_to(std::back_inserter(hex), "{:02x}", out[i]);
  return hex;
}

}  // namespace

asio::awaitable<void> Session::cmd_hash(proto::Verb verb, std::string_view arg) {
  HashAlgo algo = hash_algo_;
  switch (verb) {
    case proto::Verb::XCRC: algo = HashAlgo::crc32; break;
    case proto::Verb::XMD5: algo = HashAlgo::md5; break;
    case proto::Verb::XSHA1: algo = HashAlgo::sha1; break;
    case proto::Verb::XSHA256: algo = HashAlgo::sha256; break;
    case proto::Verb::XSHA512: algo = HashAlgo::sha512; break;
    default: break;
  }
  auto p = path_arg(arg);
  if (!p || !allowed('r', *p)) co_return;
  auto st = storage_->stat(*p);
  if (!st) {
    reply_storage_error(st.error());
    co_return;
  }
  if (st->type == FileType::directory) {
    reply(550, "Not a regular file.");
    co_return;
  }
  std::optional<Result<std::string>> digest;
  auto lease = core_.buffers.take();
  const std::span<std::byte> buf(lease.data(), core_.buffers.size());
  co_await offload(core_.pool(), [&] {
    if (storage_->capabilities().native_hash) {
      digest.emplace(storage_->hash(*p, algo, 0, UINT64_MAX));
      return;
    }
    auto f = storage_->open_read(*p, 0);
    if (!f) {
      digest.emplace(f.error());
      return;
    }
    digest.emplace(digest_file(**f, algo, buf));
  });
  if (!*digest) {
    reply_storage_error(digest->error());
    co_return;
  }
  if (verb == proto::Verb::HASH) {
    // The path as the client gave it (draft-ietf-ftpext2-hash §3.1).
    reply(213, fmt::format("{} 0-{} {} {}", proto::hash_algo_name(algo), st->size, **digest, arg));
  } else {
    reply(250, **digest);
  }
}

}  // namespace feitp::session
