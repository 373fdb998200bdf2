// HASH (draft-ietf-ftpext2-hash) and the older XMD5/XSHA1/XSHA256/XSHA512/XCRC commands.
// Digests are computed on the bulk pool (ServerCore::bulk_pool) so a large file never stalls
// other sessions nor queues a login behind it; a file over Options::max_hash_bytes is refused,
// and a digest stops between chunks when its client goes away (audit F6).
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <memory>

#include <openssl/evp.h>
#include <zlib.h>

#include <fmt/format.h>

#include <spdlog/spdlog.h>

#include "proto/reply.hpp"
#include "proto/text.hpp"
#include "session/session.hpp"

namespace feitp::session {

namespace code = proto::code;

namespace {

// What a digest on the pool shares with the loop: the loop sets `cancel` when the client has
// gone, the pool checks it between chunks. `done` tells the watcher that the digest ended.
struct HashJob {
  std::atomic<bool> cancel{false};
  bool done = false;  // loop thread only
};

// Reads chunks of the file until its end, `max` bytes (then EFBIG) or a cancel (ECANCELED).
template <class Consume>
Status read_chunks(ReadFile& f, std::span<std::byte> buf, std::uint64_t max, const HashJob& job,
                   Consume&& consume) {
  std::uint64_t total = 0;
  for (;;) {
    if (job.cancel.load(std::memory_order_relaxed)) return std::errc::operation_canceled;
    auto r = f.read(buf);
    if (!r) return r.error();
    if (*r == 0) return {};
    total += *r;
    if (max != 0 && total > max) return std::errc::file_too_large;  // it grew after stat()
    consume(buf.data(), *r);
  }
}

// Reads the file to its end and returns the lower-case hex digest.
Result<std::string> digest_file(ReadFile& f, HashAlgo algo, std::span<std::byte> buf, std::uint64_t max,
                                const HashJob& job) {
  std::string hex;
  if (algo == HashAlgo::crc32) {
    uLong crc = crc32(0L, Z_NULL, 0);
    auto st = read_chunks(f, buf, max, job, [&](const std::byte* d, std::size_t n) {
      crc = crc32(crc, reinterpret_cast<const Bytef*>(d), static_cast<uInt>(n));
    });
    if (!st) return st.error();
    return fmt::format("{:08x}", static_cast<std::uint32_t>(crc));
  }
  const EVP_MD* md = algo == HashAlgo::sha1     ? EVP_sha1()
                     : algo == HashAlgo::sha512 ? EVP_sha512()
                     : algo == HashAlgo::md5    ? EVP_md5()
                                                : EVP_sha256();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  if (!ctx || EVP_DigestInit_ex(ctx.get(), md, nullptr) != 1) return std::errc::not_enough_memory;
  auto st = read_chunks(f, buf, max, job,
                        [&](const std::byte* d, std::size_t n) { EVP_DigestUpdate(ctx.get(), d, n); });
  if (!st) return st.error();
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(ctx.get(), out, &len);
  hex.reserve(len * 2);
  for (unsigned i = 0; i < len; ++i) fmt::format_to(std::back_inserter(hex), "{:02x}", out[i]);
  return hex;
}

// Watches the control connection while a digest runs (the command loop does not read then):
// the client's end of file, a reset, or the session's own end (hang_up() cancels the wait)
// cancel the digest. Pipelined input ends the watch: the client is still there.
void watch_for_departure(asio::ip::tcp::socket& ctrl, std::shared_ptr<HashJob> job) {
  ctrl.async_wait(asio::socket_base::wait_read, [&ctrl, job](std::error_code ec) {
    if (job->done) return;  // the digest ended first; `ctrl` may be gone already
    if (!ec) {
      char c;
      const ssize_t n = ::recv(ctrl.native_handle(), &c, 1, MSG_PEEK | MSG_DONTWAIT);
      if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) return;
    }
    job->cancel.store(true, std::memory_order_relaxed);
  });
}

}  // namespace

asio::awaitable<void> Session::cmd_hash(Call& call) {
  const proto::Command& cmd = call.cmd;
  HashAlgo algo = hash_algo_;
  switch (cmd.verb) {
    case proto::Verb::XCRC: algo = HashAlgo::crc32; break;
    case proto::Verb::XMD5: algo = HashAlgo::md5; break;
    case proto::Verb::XSHA1: algo = HashAlgo::sha1; break;
    case proto::Verb::XSHA256: algo = HashAlgo::sha256; break;
    case proto::Verb::XSHA512: algo = HashAlgo::sha512; break;
    default: break;
  }
  Target target = target_of(cmd);
  if (target.refused) co_return;
  const std::string& path = *target.path;
  auto st = storage_->stat(path);
  if (!st) {
    reply_storage_error(st.error());
    co_return;
  }
  if (st->type == FileType::directory) {
    reply(code::file_unavailable, "Not a regular file.");
    co_return;
  }
  const std::uint64_t max = core_.opts.max_hash_bytes;
  if (max != 0 && st->size > max) {
    reply(code::exceeded_storage,
          fmt::format("File too large to hash: {} bytes, the limit is {} bytes.", st->size, max));
    co_return;
  }
  std::optional<Result<std::string>> digest;
  auto lease = core_.buffers.take();
  const std::span<std::byte> buf(lease.data(), core_.buffers.size());
  auto job = std::make_shared<HashJob>();
  watch_for_departure(control_.socket(), job);
  // Only values and the storage go to the pool; the session's state stays on the loop. (A named
  // lambda: GCC 12 mishandles a temporary with a std::string inside across co_await.)
  auto work = [&digest, &job = *job, storage = storage_.get(), path, algo, buf, max] {
    if (storage->capabilities().native_hash) {
      digest.emplace(storage->hash(path, algo, 0, UINT64_MAX));
      return;
    }
    auto f = storage->open_read(path, 0);
    if (!f) {
      digest.emplace(f.error());
      return;
    }
    digest.emplace(digest_file(**f, algo, buf, max, job));
  };
  co_await offload(core_.bulk_pool(), work);
  job->done = true;
  if (job->cancel.load(std::memory_order_relaxed)) {
    core_.log->info("session {}: {} of {} cancelled: the client has gone", id_, proto::verb_name(cmd.verb),
                    path);
    co_return;  // nobody to answer
  }
  std::error_code ignored;
  control_.socket().cancel(ignored);  // ends the watch (its handler sees `done`)
  if (!*digest) {
    if (digest->error() == std::errc::file_too_large) {
      reply(code::exceeded_storage, fmt::format("File too large to hash: the limit is {} bytes.", max));
    } else {
      reply_storage_error(digest->error());
    }
    co_return;
  }
  if (cmd.verb == proto::Verb::HASH) {
    // The path as the client gave it (draft-ietf-ftpext2-hash §3.1).
    reply(code::file_status,
          fmt::format("{} 0-{} {} {}", proto::hash_algo_name(algo), st->size, **digest, cmd.arg));
  } else {
    reply(code::file_action_ok, **digest);
  }
}

}  // namespace feitp::session
