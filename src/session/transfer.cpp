// The data channel (PORT/EPRT/PASV/EPSV) and transfers (RETR, STOR, STOU, APPE, LIST, NLST,
// MLSD). A transfer runs as its own coroutine so the control connection stays readable; every
// way it ends sends exactly one final reply and fires exactly one completion event.
#include <algorithm>
#include <cerrno>
#include <ctime>
#include <random>
#include <span>

#include <fcntl.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "net/endpoint.hpp"
#include "net/send_queue.hpp"
#include "proto/reply.hpp"
#include "proto/address.hpp"
#include "proto/listing.hpp"
#include "proto/path.hpp"
#include "proto/text.hpp"
#include "session/offload.hpp"
#include "session/session.hpp"
#include "os/pipe.hpp"
#include "os/unique_fd.hpp"

namespace feitp::session {

namespace code = proto::code;

using asio::use_awaitable;
using proto::Verb;

namespace {

// Listings of directories with fewer entries are not cached.
constexpr std::size_t kCachedListingMinEntries = 64;

// Uploads: at most this much per receive call; past kSpliceAfter bytes, splice() through a
// pipe of kSplicePipe bytes (measured best here: feitp-copy-bench for the receive size, feitpd
// itself for the pipe, see docs/performance.md).
constexpr std::size_t kMaxReceive = 256 * 1024;
constexpr std::uint64_t kSpliceAfter = 1 << 20;
constexpr std::size_t kSplicePipe = 1024 * 1024;
// How long PASV/EPSV waits for a port when the whole range is taken (at most the accept
// timeout): long enough for other sessions' short transfers to end, short of clients' timeouts.
constexpr std::chrono::seconds kPassiveWait{5};

}  // namespace

// --- data channel set-up ----------------------------------------------------------------------

void Session::give_back_passive() {
  net::PassivePorts::Listener l;
  if (pasv_.is_open()) {
    // Taking it out of the event loop wakes a transfer waiting for the client to connect.
    std::error_code ec;
    l.fd.reset(pasv_.release(ec));
  } else {
    l.fd = std::move(pasv_fd_);
  }
  l.port = pasv_port_;
  pasv_offered_until_ = Clock::time_point::max();
  core_.passive_ports.give_back(local_addr_, std::move(l));
}

void Session::close_data_channel() {
  give_back_passive();
  if (xfer_ && xfer_->data.is_open()) {
    xfer_->data.shutdown();
    xfer_->data.close();
  }
  if (xfer_ && xfer_->pacing) xfer_->pacing->cancel();
}

void Session::cmd_port(Call& call) {
  const std::string_view arg = call.cmd.arg;
  const bool extended = call.cmd.verb == proto::Verb::EPRT;
  if (epsv_all_) {
    reply(code::bad_sequence, "EPSV ALL is in effect: only EPSV is accepted.");
    return;
  }
  bool bad_family = false;
  auto hp = extended ? proto::parse_eprt_arg(arg, &bad_family) : proto::parse_port_arg(arg);
  if (!hp) {
    if (bad_family) {
      reply(code::protocol_not_supported, "Network protocol not supported, use (1,2).");
    } else {
      reply(code::bad_arguments, "Syntax error in parameters or arguments.");
    }
    return;
  }
  std::error_code ec;
  auto addr = net::unmapped(asio::ip::make_address(hp->host, ec));
  if (ec) {
    reply(code::bad_arguments, "Syntax error in parameters or arguments.");
    return;
  }
  // RFC 2577: no bounce attacks. Data connections go back to the client only, and not to a
  // privileged port.
  if (!core_.opts.allow_foreign_active && addr != peer_addr_) {
    reply(code::bad_arguments, "Rejected data connection to an address other than the client's.");
    return;
  }
  if (!core_.opts.allow_privileged_active_port && hp->port < 1024) {
    reply(code::bad_arguments, "Rejected data connection to a privileged port.");
    return;
  }
  give_back_passive();
  active_target_ = asio::ip::tcp::endpoint(addr, hp->port);
  data_mode_ = DataMode::active;
  reply(code::ok, extended ? "EPRT command successful." : "PORT command successful. Consider using PASV.");
}

asio::awaitable<void> Session::cmd_pasv(Call& call) {
  const std::string_view arg = call.cmd.arg;
  const bool extended = call.cmd.verb == proto::Verb::EPSV;
  const bool local_v4 = net::unmapped(local_addr_).is_v4();
  if (extended) {
    switch (proto::parse_epsv_arg(arg)) {
      case proto::EpsvArg::all:
        epsv_all_ = true;
        reply(code::ok, "EPSV ALL ok.");
        co_return;
      case proto::EpsvArg::bad:
        reply(code::bad_arguments, "Syntax error in parameters or arguments.");
        co_return;
      case proto::EpsvArg::ipv4:
        if (!local_v4) {
          reply(code::protocol_not_supported, "Network protocol not supported, use (2).");
          co_return;
        }
        break;
      case proto::EpsvArg::ipv6:
        if (local_v4) {
          reply(code::protocol_not_supported, "Network protocol not supported, use (1).");
          co_return;
        }
        break;
      case proto::EpsvArg::none: break;
    }
  } else {
    if (epsv_all_) {
      reply(code::bad_sequence, "EPSV ALL is in effect: only EPSV is accepted.");
      co_return;
    }
    if (!local_v4) {
      reply(code::protocol_not_supported,
            "Network protocol not supported: PASV cannot carry an IPv6 address; use EPSV.");
      co_return;
    }
  }
  // A second PASV/EPSV replaces the first offer: its listener goes back (and may come back).
  give_back_passive();
  std::error_code ec;
  // Every port taken: wait a while for one rather than fail at once (see net::PassivePorts).
  const auto accept = core_.opts.data_accept_timeout;
  const auto patience = accept.count() > 0 ? std::min<Clock::duration>(accept, kPassiveWait) : kPassiveWait;
  auto l = co_await core_.passive_ports.acquire(local_addr_, core_.rng, patience, ec);
  if (!l) {
    core_.log->warn("session {}: no passive port available: {}", id_, ec.message());
    reply(code::cannot_open_data, "Can't open passive connection: no port available.");
    co_return;
  }
  pasv_fd_ = std::move(l.fd);
  pasv_port_ = l.port;
  const std::uint16_t port = pasv_port_;
  data_mode_ = DataMode::passive;
  pasv_offered_until_ = after(core_.opts.data_accept_timeout);
  if (extended) {
    reply(code::extended_passive, proto::epsv_reply_text(port));
    co_return;
  }
  std::string_view shown = local_ip_;
  for (const auto& rule : core_.opts.masquerade) {
    if (proto::cidr_contains(rule.network, peer_ip_)) {
      shown = rule.address;
      break;
    }
  }
  reply(code::passive, proto::pasv_reply_text(shown, port));
}

// --- preparing a transfer (checks and opening files; runs before any data moves) ------------

std::size_t Session::listing_limit(std::size_t entries) const {
  const std::size_t cap = core_.opts.max_listing_entries;
  return cap != 0 ? std::min(entries, cap) : entries;
}

std::string Session::truncated_note(std::size_t shown, std::size_t entries) {
  return fmt::format("listing truncated to {} of {} entries (limits.max_listing_entries).", shown, entries);
}

bool Session::prepare_retr(Transfer& t, std::string path) {
  auto st = storage_->stat(path);
  if (!st) {
    reply_storage_error(st.error());
    return false;
  }
  if (st->type == FileType::directory) {
    reply(code::file_unavailable, "Not a regular file.");
    return false;
  }
  if (rest_ > st->size && st->type == FileType::file) {
    reply(code::bad_rest, "Invalid REST parameter: beyond the end of the file.");
    return false;
  }
  auto f = storage_->open_read(path, rest_);
  if (!f) {
    reply_storage_error(f.error());
    return false;
  }
  t.kind = Transfer::Kind::retr;
  t.reader = std::move(f.value());
  t.offset = rest_;
  t.size = st->size >= rest_ ? st->size - rest_ : 0;
  t.path = std::move(path);
  return true;
}

bool Session::prepare_stor(Transfer& t, Verb verb, std::string path, std::uint32_t stou_seed) {
  WriteMode mode = WriteMode::truncate;
  std::uint64_t offset = 0;
  if (verb == Verb::STOU) {
    mode = WriteMode::exclusive;
  } else if (verb == Verb::APPE) {
    mode = WriteMode::append;
    if (auto st = storage_->stat(path); st) offset = st->size;
  } else {
    if (rest_ > 0) {
      mode = WriteMode::at_offset;
      offset = rest_;
    }
  }
  if (verb == Verb::STOU) {
    // A fresh name next to the requested one: "name.XXXXXXXX".
    const std::string base = std::move(path);
    std::minstd_rand names(stou_seed);  // not core_.rng: this may run on a pool thread
    for (int attempt = 0; attempt < 16; ++attempt) {
      auto candidate = fmt::format("{}.{:08x}", base, names());
      auto f = storage_->open_write(candidate, WriteMode::exclusive, 0);
      if (f) {
        t.writer = std::move(f.value());
        t.path = std::move(candidate);
        t.stou_name = std::string(proto::base_name(t.path));
        break;
      }
      if (f.error() != std::errc::file_exists) {
        reply_storage_error(f.error(), true);
        return false;
      }
    }
    if (!t.writer) {
      reply(code::file_busy, "Could not find a unique file name.");
      return false;
    }
  } else {
    auto f = storage_->open_write(path, mode, offset);
    if (!f) {
      if (mode == WriteMode::at_offset && f.error() == std::errc::invalid_argument) {
        reply(code::bad_rest, "Invalid REST parameter: beyond the end of the file.");
      } else {
        reply_storage_error(f.error(), true);
      }
      return false;
    }
    t.writer = std::move(f.value());
    t.path = std::move(path);
  }
  t.kind = Transfer::Kind::stor;
  t.offset = offset;
  return true;
}

bool Session::prepare_listing(Transfer& t, Verb verb, std::string_view arg, std::string path) {
  // The flags; the path in them was resolved and permitted already (target_of()).
  const proto::ListArgs la = verb == Verb::MLSD ? proto::ListArgs{} : proto::parse_list_args(arg);
  const bool utc = core_.opts.listing_utc;
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  const bool long_form = verb == Verb::LIST || la.long_form;

  // A directory listed before and unchanged since (Storage::listing_versions) is served from
  // the cache. The version is taken before list(), so a change while listing gives a new one.
  // The variant names all else the text depends on: MLSD's facts and permission facts (the
  // user's), LIST's or NLST's form.
  // (A value and a flag, not an optional: GCC 12 at -O2 warns that the optional "may be used
  // uninitialized" in the sanitizer builds.)
  std::uint64_t version = 0;
  bool versioned = false;
  std::string variant;
  if (!la.directory && core_.opts.listing_cache) {
    if (auto* versions = storage_->listing_versions()) {
      if (const auto v = versions->listing_version(path)) {
        version = *v;
        versioned = true;
      }
    }
    if (versioned) {
      if (verb == Verb::MLSD) {
        variant = fmt::format("M{}:{}", mlst_facts_, user_->name);
      } else {
        variant = long_form ? "L" : "N";
      }
      if (auto hit = core_.listings.find(version, variant)) {
        t.kind = Transfer::Kind::listing;
        t.listing = std::move(hit);
        t.size = t.listing->size();
        t.path = std::move(path);
        return true;
      }
    }
  }
  std::string out;
  std::size_t entry_count = 0;
  std::size_t shown = 0;  // entries in the text: at most Options::max_listing_entries (F14)

  if (verb == Verb::MLSD) {
    auto entries = storage_->list(path);
    if (!entries) {
      if (entries.error() == std::errc::not_a_directory) {
        reply(code::bad_arguments, "Not a directory.");
      } else {
        reply_storage_error(entries.error());
      }
      return false;
    }
    entry_count = entries->size();
    shown = listing_limit(entry_count);
    const auto& perms = user_->permissions;
    const std::string dir_letters(perms.letters_for(path));
    const auto file_perm = proto::mlsx_perm(FileType::file, dir_letters);
    out.reserve(shown * 96);
    for (const auto& e : std::span(*entries).first(shown)) {
      if (e.type == FileType::directory) {
        const auto sub = proto::join_path(path, e.name);
        proto::append_mlsx_line(out, e, mlst_facts_,
                                proto::mlsx_perm(FileType::directory, perms.letters_for(sub)), e.name);
      } else {
        proto::append_mlsx_line(out, e, mlst_facts_, file_perm, e.name);
      }
    }
  } else {
    auto single = [&](FileInfo fi) {
      if (long_form) {
        proto::append_list_line(out, fi, now, utc);
      } else {
        proto::append_nlst_line(out, la.path.empty() ? fi.name : la.path);
      }
    };
    Result<std::vector<FileInfo>> entries = std::errc::not_a_directory;
    if (!la.directory) entries = storage_->list(path);
    if (entries) {
      entry_count = entries->size();
      shown = listing_limit(entry_count);
      out.reserve(shown * (long_form ? 72 : 24));
      for (const auto& e : std::span(*entries).first(shown)) {
        if (long_form) {
          proto::append_list_line(out, e, now, utc);
        } else {
          proto::append_nlst_line(out, e.name);
        }
      }
    } else if (entries.error() == std::errc::not_a_directory) {
      versioned = false;  // a single file's line: not a directory listing
      auto st = storage_->stat(path);
      if (!st) {
        reply_storage_error(st.error());
        return false;
      }
      if (st->name.empty()) st->name = path == "/" ? "." : std::string(proto::base_name(path));
      single(std::move(*st));
    } else {
      reply_storage_error(entries.error());
      return false;
    }
  }
  const bool truncated = shown < entry_count;
  if (truncated) {
    t.listing_note = truncated_note(shown, entry_count);
    core_.log->info("session {}: listing of {} truncated to {} of {} entries", id_, path, shown, entry_count);
  }
  // Small directories are cheap to list again; the cache keeps the big ones. A truncated text
  // is not kept: it is the cap's answer, not the directory's.
  if (versioned && !truncated && entry_count >= kCachedListingMinEntries) {
    t.listing = core_.listings.put(version, std::move(variant), std::move(out));
  } else {
    t.listing = std::make_shared<const std::string>(std::move(out));
  }
  t.kind = Transfer::Kind::listing;
  t.size = t.listing->size();
  t.path = std::move(path);
  return true;
}

asio::awaitable<bool> Session::transfer_hooks_proceed(Verb verb, const std::string& path) {
  if (verb != Verb::RETR && verb != Verb::STOR && verb != Verb::STOU && verb != Verb::APPE) co_return true;
  const Decision d = co_await decide_hooks([&](Hooks& h) {
    return verb == Verb::RETR ? h.before_download(*this, path) : h.before_upload(*this, path);
  });
  if (d.proceeds()) co_return true;
  reply_refusal(d, code::file_unavailable);
  co_return false;
}

asio::awaitable<void> Session::cmd_transfer(Call& call) {
  const proto::Command& cmd = call.cmd;
  if (!tls_allows_transfer()) {
    rest_ = 0;
    co_return;
  }
  if (data_mode_ == DataMode::none) {
    rest_ = 0;
    reply(code::cannot_open_data, "Use PORT, PASV, EPRT or EPSV first.");
    co_return;
  }
  auto t = std::make_unique<Transfer>(core_.io);
  t->verb = cmd.verb;
  t->ascii = ascii_;
  bool ok = false;
  const std::uint32_t stou_seed = cmd.verb == Verb::STOU ? static_cast<std::uint32_t>(core_.rng()) : 0;
  // The steps: the path and its permission (the storage may be asked: on the pool when it may
  // block), the before_download/before_upload hooks (only their calls go to the pool when one
  // may block), then the checks and the opening of the file (the storage's again).
  Target target;
  if (storage_blocking_) {
    co_await maybe_offload(true, [&] { target = target_of(cmd); });
  } else {
    target = target_of(cmd);
  }
  if (!target.refused && !core_.hooks.empty() && !co_await transfer_hooks_proceed(cmd.verb, *target.path)) {
    target.refused = true;
  }
  if (target.refused) {
    rest_ = 0;
    co_return;
  }
  auto prepare = [&] {
    std::string path = std::move(target.path).value();  // every transfer verb names a path
    switch (cmd.verb) {
      case Verb::RETR: ok = prepare_retr(*t, std::move(path)); break;
      case Verb::STOR:
      case Verb::STOU:
      case Verb::APPE: ok = prepare_stor(*t, cmd.verb, std::move(path), stou_seed); break;
      default: ok = prepare_listing(*t, cmd.verb, cmd.arg, std::move(path)); break;
    }
  };
  // On the pool the session is lent (maybe_offload): the loop leaves it alone meanwhile.
  co_await maybe_offload(storage_blocking_, prepare);
  rest_ = 0;
  if (!ok) co_return;
  if (t->kind != Transfer::Kind::listing) {
    t->throttle = core_.make_throttle(*user_, host_, t->kind == Transfer::Kind::stor);
  }
  xfer_ = std::move(t);
  xfer_done_.expires_at(Clock::time_point::max());
  phase_ = Phase::accepting;
  asio::co_spawn(core_.io, run_transfer(shared_from_this()), asio::detached);
}

// --- running a transfer -----------------------------------------------------------------------

asio::awaitable<std::error_code> Session::open_data_connection(Transfer& t) {
  std::error_code ec;
  // The accept clock runs from the transfer command; the offer's own clock stops here.
  accept_deadline_ = after(core_.opts.data_accept_timeout);
  pasv_offered_until_ = Clock::time_point::max();
  if (data_mode_ == DataMode::passive) {
    // Clients usually connect before they send the transfer command, so try accept4() at once;
    // only when nobody is there yet does the listener join the event loop to wait.
    for (;;) {
      const int listener = pasv_.is_open() ? pasv_.native_handle() : pasv_fd_.get();
      if (listener < 0) co_return asio::error::operation_aborted;
      asio::ip::tcp::endpoint remote;
      socklen_t len = static_cast<socklen_t>(remote.capacity());
      const int fd = ::accept4(listener, remote.data(), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        if (err != EAGAIN && err != EWOULDBLOCK && err != EINTR && err != ECONNABORTED) {
          co_return std::error_code(err, std::system_category());
        }
        if (!pasv_.is_open()) {
          pasv_.assign(local_addr_.is_v6() ? asio::ip::tcp::v6() : asio::ip::tcp::v4(), pasv_fd_.get(), ec);
          if (ec) co_return ec;
          (void)pasv_fd_.release();  // pasv_ owns it now
        }
        co_await pasv_.async_wait(asio::socket_base::wait_read, asio::redirect_error(use_awaitable, ec));
        if (ec) co_return ec;  // closed by ABOR, a timeout or the session's end
        continue;
      }
      remote.resize(len);
      if (core_.opts.allow_foreign_passive || net::unmapped(remote.address()) == peer_addr_) {
        t.data.socket().assign(remote.protocol(), fd, ec);
        if (ec) {
          ::close(fd);
          co_return ec;
        }
        break;
      }
      // Someone else connected to this session's passive port: refuse them, keep waiting.
      core_.log->warn("session {}: refused data connection from {} (control peer is {})", id_,
                      net::address_text(remote.address()), peer_ip_);
      ::close(fd);
    }
    // The transfer has its connection: the listener serves the next PASV/EPSV of this loop
    // (most likely this session's own next one), with no socket, bind or listen.
    give_back_passive();
  } else {
    auto& sock = t.data.socket();
    sock.open(active_target_.protocol(), ec);
    if (ec) co_return ec;
    // The data connection comes from the address the client is talking to.
    sock.set_option(asio::socket_base::reuse_address(true), ec);
    sock.bind(asio::ip::tcp::endpoint(local_addr_, 0), ec);
    if (ec) co_return ec;
    co_await sock.async_connect(active_target_, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return ec;
  }
  data_mode_ = DataMode::none;
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Session::secure_data_connection(Transfer& t) {
  // PROT P: the handshake comes after the 150 (clients such as Python's ftplib start it only
  // then), on the accept clock, shortened to the handshake timeout.
  auto* ctl = control_.tls_stream();
  if (ctl == nullptr || !core_.tls) co_return net::make_error_code(net::TlsError::handshake_failed);
  phase_ = Phase::accepting;
  const auto limit = core_.opts.tls.handshake_timeout;
  accept_deadline_ = limit.count() > 0 ? Clock::now() + limit : Clock::time_point::max();
  const auto ec =
      co_await t.data.start_tls(*core_.tls, host_name_, ctl->binding(), core_.opts.tls.data_session);
  accept_deadline_ = Clock::time_point::max();
  if (ec) {
    t.tls_failed = ec;
    core_.log->info("session {}: data connection TLS from {}: {}", id_, peer_ip_, ec.message());
    co_return ec;
  }
  ++data_tls_;
  if (t.data.tls_stream()->resumed()) ++data_resumed_;
  phase_ = Phase::transferring;
  t.progress_at = Clock::now();
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Session::write_data(Transfer& t, asio::const_buffer out) {
  // Partial writes, not one async_write: each one moves the stall clock's measure, whatever
  // the size of the buffer and however long a blocked writer waits for the kernel to wake it.
  // async_write_some tries the write at once, so this costs no more than async_write.
  std::error_code ec;
  while (out.size() > 0) {
    std::size_t n = 0;
    // The plain path awaits the socket itself: no extra coroutine frame per write.
    if (!t.data.tls()) {
      n = co_await t.data.socket().async_write_some(out, asio::redirect_error(use_awaitable, ec));
    } else {
      n = co_await t.data.write_some(out.data(), out.size(), ec);
    }
    t.sent += n;
    out += n;
    if (ec) co_return ec;
  }
  co_return ec;
}

std::uint64_t Session::data_progress(Transfer& t) {
  if (t.kind == Transfer::Kind::stor) return t.bytes;
  // Bytes still in our send queue have not reached the client: a client that stops reading
  // leaves them there. (A blocked writer is woken only when a third of the send buffer, up to
  // megabytes, has drained, so the writes alone do not show a slow reader's progress.)
  const auto queued = net::unacked_bytes(t.data.is_open() ? t.data.native_handle() : -1);
  return queued && *queued <= t.sent ? t.sent - *queued : t.sent;
}

asio::awaitable<std::error_code> Session::send_data(Transfer& t) {
  std::error_code ec;
  if (t.kind == Transfer::Kind::listing) {
    // A listing (megabytes for a big directory) goes out the same way as a file: the kernel
    // takes what fits each time and every partial write counts as progress.
    ec = co_await write_data(t, asio::buffer(*t.listing));
    t.bytes = t.sent;
    co_return ec;
  }
  auto lease = core_.buffers.take();
  // Throttled: smaller reads, each paid for before the next.
  const std::span<std::byte> buf(lease.data(),
                                 t.throttle ? t.throttle->chunk(core_.buffers.size()) : core_.buffers.size());
  if (t.throttle) {
    // A send buffer of a few chunks: pacing needs no deep queue, and a client that stops
    // reading then stops taking tokens from the buckets it shares almost at once.
    const auto size = std::clamp<std::size_t>(2 * buf.size(), 16 * 1024, 4 << 20);
    std::error_code ignored;
    t.data.socket().set_option(asio::socket_base::send_buffer_size(static_cast<int>(size)), ignored);
  }
  proto::ToCrlf to_crlf;
  std::string converted;
  for (;;) {
    std::optional<Result<std::size_t>> r;
    // Inline unless the back-end may block (not through maybe_offload: no coroutine frame per
    // chunk on the common path).
    if (storage_blocking_) {
      co_await offload(core_.pool(), [&] { r.emplace(t.reader->read(buf)); });
    } else {
      r.emplace(t.reader->read(buf));
    }
    if (!*r) {
      t.local_error = r->error();
      co_return r->error();
    }
    const std::size_t n = r->value();
    if (n == 0) break;
    asio::const_buffer out(buf.data(), n);
    if (t.ascii) {
      converted.clear();
      to_crlf.convert(std::string_view(reinterpret_cast<const char*>(buf.data()), n), converted);
      out = asio::buffer(converted);
    }
    ec = co_await write_data(t, out);
    if (ec) co_return ec;
    t.bytes += n;
    if (t.throttle) {
      ec = co_await pace(t, n);
      if (ec) co_return ec;
    }
  }
  co_return ec;
}

asio::awaitable<std::error_code> Session::pace(Transfer& t, std::size_t n) {
  const auto wait = t.throttle->charge(n);
  // A wait too short to be worth a timer is left to the next chunk's (the bucket keeps count).
  if (wait >= std::chrono::microseconds{200}) {
    asio::steady_timer timer(core_.io, wait);
    t.pacing = &timer;
    std::error_code ec;
    co_await timer.async_wait(asio::redirect_error(use_awaitable, ec));
    t.pacing = nullptr;
  }
  if (!t.data.is_open()) co_return asio::error::operation_aborted;  // ABOR or a timeout
  co_return std::error_code{};
}

asio::awaitable<std::error_code> Session::receive_data(Transfer& t) {
  std::error_code ec;
  auto lease = core_.buffers.take();
  // Reads bigger than this cost more CPU per byte here (feitp-copy-bench): the buffer no longer
  // stays in the CPU cache between the receive and the write.
  std::size_t cap = std::min<std::size_t>(core_.buffers.size(), kMaxReceive);
  // Throttled: smaller receives, each paid for before the next (the client's TCP window closes
  // meanwhile), and no splice().
  if (t.throttle) cap = t.throttle->chunk(cap);
  // Big binary uploads to a back-end with a kernel descriptor continue with splice() once
  // they pass kSpliceAfter; small ones never pay for the pipe.
  bool may_splice =
      !t.ascii && !storage_blocking_ && !t.data.tls() && !t.throttle && t.writer->native_handle() >= 0;
  proto::FromCrlf from_crlf;
  std::string converted;
  auto write_all = [&](const std::byte* data, std::size_t n) {
    auto r = t.writer->write(std::span<const std::byte>(data, n));
    if (!r) t.local_error = r.error();
    return static_cast<bool>(r);
  };
  // Inline unless the back-end may block (not through maybe_offload: no coroutine frame per
  // chunk on the common path).
  auto store = [&](const std::byte* data, std::size_t n) -> asio::awaitable<bool> {
    bool ok = false;
    co_await offload(core_.pool(), [&] { ok = write_all(data, n); });
    co_return ok;
  };
  for (;;) {
    if (may_splice && t.bytes >= kSpliceAfter) {
      may_splice = false;
      auto end = co_await receive_spliced(t, std::span<std::byte>(lease.data(), cap));
      if (end) co_return *end;
      // splice() does not work here: carry on with receive and write.
    }
    std::size_t n = 0;
    // The plain path awaits the socket itself: no extra coroutine frame per receive.
    if (!t.data.tls()) {
      n = co_await t.data.socket().async_read_some(asio::buffer(lease.data(), cap),
                                                   asio::redirect_error(use_awaitable, ec));
    } else {
      n = co_await t.data.read_some(lease.data(), cap, ec);
    }
    const bool end = ec == asio::error::eof;
    if (ec && !end) co_return ec;
    t.bytes += n;  // the stall clock's progress (sampled by the sweep)
    const std::byte* data = lease.data();
    std::size_t len = n;
    if (t.ascii) {
      // ASCII: the converter may hold back a CR until it sees what follows, or the end.
      converted.clear();
      from_crlf.convert(std::string_view(reinterpret_cast<const char*>(lease.data()), n), converted);
      if (end) from_crlf.finish(converted);
      data = reinterpret_cast<const std::byte*>(converted.data());
      len = converted.size();
    }
    if (len > 0) {
      bool ok;
      if (storage_blocking_) {
        ok = co_await store(data, len);
      } else {
        ok = write_all(data, len);
      }
      if (!ok) co_return t.local_error;
    }
    if (end) co_return std::error_code{};
    if (t.throttle) {
      ec = co_await pace(t, n);
      if (ec) co_return ec;
    }
  }
}

asio::awaitable<std::optional<std::error_code>> Session::receive_spliced(Transfer& t,
                                                                         std::span<std::byte> buf) {
  // Socket -> pipe -> file: the bytes are not copied to user space. With a 1 MiB pipe this
  // took about half the CPU per MiB of receive + write in feitpd here; if the pipe cannot grow
  // (pipe-max-size, the per-user pipe quota) it keeps its default 64 KiB, which still wins.
  const int file = t.writer->native_handle();
  const int flags = ::fcntl(file, F_GETFL);
  if (flags < 0 || (flags & O_APPEND) != 0) co_return std::nullopt;  // splice() refuses O_APPEND
  const auto pipe = os::Pipe::open();
  if (!pipe.r) co_return std::nullopt;
  (void)pipe.grow(kSplicePipe);  // best effort
  bool moved = false;            // whether a byte went to the file this way
  for (;;) {
    if (!t.data.is_open()) co_return asio::error::operation_aborted;  // ABOR or a timeout
    const ssize_t n = ::splice(t.data.native_handle(), nullptr, pipe.w.get(), nullptr, kSplicePipe,
                               SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
    if (n == 0) co_return std::error_code{};  // the client's end of file
    if (n < 0) {
      const int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        std::error_code ec;
        co_await t.data.socket().async_wait(asio::socket_base::wait_read,
                                            asio::redirect_error(use_awaitable, ec));
        if (ec) co_return ec;
        continue;
      }
      if (!moved && (err == EINVAL || err == ENOSYS)) co_return std::nullopt;
      co_return std::error_code(err, std::system_category());
    }
    t.bytes += static_cast<std::uint64_t>(n);
    auto left = static_cast<std::size_t>(n);
    while (left > 0) {
      const ssize_t w = ::splice(pipe.r.get(), nullptr, file, nullptr, left, SPLICE_F_MOVE);
      if (w > 0) {
        left -= static_cast<std::size_t>(w);
        moved = true;
        continue;
      }
      const int err = w == 0 ? ENOSPC : errno;
      if (err == EINTR) continue;
      if (!moved && (err == EINVAL || err == ENOSYS)) {
        // This file cannot take splice(): what is in the pipe goes through write(), and the
        // caller goes on with receive and write.
        while (left > 0) {
          const ssize_t r = ::read(pipe.r.get(), buf.data(), std::min(left, buf.size()));
          if (r <= 0) co_return std::error_code(r < 0 ? errno : EIO, std::system_category());
          auto wr = t.writer->write(std::span<const std::byte>(buf.data(), static_cast<std::size_t>(r)));
          if (!wr) {
            t.local_error = wr.error();
            co_return t.local_error;
          }
          left -= static_cast<std::size_t>(r);
        }
        co_return std::nullopt;
      }
      t.local_error = errno_code(err);  // disk full, quota, I/O error
      co_return t.local_error;
    }
  }
}

asio::awaitable<void> Session::run_transfer(std::shared_ptr<Session> self) {
  // `self` keeps the session alive until the transfer has replied.
  (void)self;
  Transfer& t = *xfer_;
  std::error_code ec = co_await open_data_connection(t);
  const bool connected = !ec;
  if (connected && !t.abort_requested && !closing_) {
    phase_ = Phase::transferring;
    accept_deadline_ = Clock::time_point::max();
    t.progress_at = Clock::now();
    switch (t.kind) {
      case Transfer::Kind::retr:
        reply(code::opening_data,
              fmt::format("Opening {} mode data connection for {} ({} bytes).", t.ascii ? "ASCII" : "BINARY",
                          proto::base_name(t.path), t.size));
        break;
      case Transfer::Kind::stor:
        if (t.verb == Verb::STOU) {
          reply(code::opening_data, "FILE: " + t.stou_name);
        } else {
          reply(code::opening_data, "Ok to send data.");
        }
        break;
      case Transfer::Kind::listing: reply(code::opening_data, "Here comes the directory listing."); break;
    }
    co_await flush();
    if (prot_private_ && !t.abort_requested) ec = co_await secure_data_connection(t);
    t.started = Clock::now();
    // (Not a conditional expression: GCC 12 miscompiles co_await inside ?:.)
    if (ec) {
      // no data moves
    } else if (t.kind == Transfer::Kind::stor) {
      ec = co_await receive_data(t);
    } else {
      ec = co_await send_data(t);
    }
    // A download ends with our FIN at once (under TLS: close_notify first, then the client's
    // is awaited). After an upload the client has closed its side already, and close() below
    // sends the FIN without a shutdown() call first (under TLS: after our close_notify).
    if (!ec && t.data.is_open()) {
      if (t.kind != Transfer::Kind::stor) {
        co_await t.data.finish_send();
      } else {
        co_await t.data.finish_receive();
      }
    }
  }
  // The data has moved (or failed): no data clock runs while the reply and events are made
  // (a check_upload hook may take long).
  phase_ = Phase::finishing;
  accept_deadline_ = Clock::time_point::max();
  co_await finish_transfer(t, ec, connected);
  t.data.close();
  xfer_.reset();
  phase_ = Phase::command;
  touch();
  xfer_done_.cancel();
  if (quit_after_transfer_ && !closing_) {
    reply(code::unavailable, "Server shutting down, closing control connection.");
    co_await flush();
    control_.hang_up();
    closing_ = true;
  } else {
    co_await flush();
  }
}

// The steps of finish_transfer(). Only the steps that may wait (storage and hooks on the pool)
// stay in the coroutine: the others are plain functions, so a transfer's end costs no more
// coroutine frames than before.

namespace {

// What the events tell of a transfer, before its outcome is known.
TransferEvent transfer_event(const Transfer& t) {
  TransferEvent ev;
  ev.path = t.path;
  ev.bytes = t.bytes;
  ev.offset = t.offset;
  ev.upload = t.kind == Transfer::Kind::stor;
  ev.seconds = t.started == Clock::time_point{}
                   ? 0.0
                   : std::chrono::duration<double>(Clock::now() - t.started).count();
  return ev;
}

// How the data moved: sets ev's outcome (and error) and returns the final reply's code, with
// its text in `text` (226 and no text when nothing went wrong so far).
int judge_transfer(const Transfer& t, std::error_code ec, bool connected, TransferEvent& ev,
                   std::string& text) {
  int code = code::transfer_complete;
  if (t.abort_requested) {
    ev.outcome = TransferOutcome::aborted;
    code = code::transfer_aborted;
    text = "Connection closed; transfer aborted.";
  } else if (t.local_error) {
    ev.outcome = TransferOutcome::failed;
    ev.error = t.local_error.message();
  } else if (t.tls_failed) {
    // The data connection's TLS failed: a session that is not the control connection's is
    // refused with 522 (like vsftpd's "session reuse required"), anything else is 425.
    ev.outcome = TransferOutcome::client_gone;
    const bool policy =
        t.tls_failed == net::TlsError::foreign_session || t.tls_failed == net::TlsError::not_resumed;
    code = policy ? code::protocol_not_supported : code::cannot_open_data;
    text = t.tls_failed == net::TlsError::foreign_session
               ? "Data connection refused: its TLS session belongs to another control connection."
           : t.tls_failed == net::TlsError::not_resumed
               ? "Data connection refused: TLS session reuse of the control connection required."
           : t.timed_out ? "Can't open data connection: TLS handshake timed out."
                         : "Can't open data connection: TLS handshake failed.";
  } else if (t.timed_out) {
    ev.outcome = TransferOutcome::client_gone;
    code = connected ? code::transfer_aborted : code::cannot_open_data;
    text =
        connected ? "Data connection timed out; transfer aborted." : "Can't open data connection: timed out.";
  } else if (ec) {
    ev.outcome = TransferOutcome::client_gone;
    code = connected ? code::transfer_aborted : code::cannot_open_data;
    text = connected ? "Connection closed; transfer aborted." : "Can't open data connection.";
  }
  if (ev.outcome != TransferOutcome::complete && ev.error.empty()) ev.error = text;
  return code;
}

}  // namespace

Status Session::commit_upload(Transfer& t) {
  // A check_upload hook may still refuse it: keep what it replaces until then.
  return t.writer->commit(core_.hooks.empty() ? Commit::plain : Commit::keep_previous);
}

void Session::refuse_upload(const Decision& verdict, TransferEvent& ev, int& code, std::string& text) {
  ev.outcome = TransferOutcome::refused;
  ev.error = verdict.text;
  code = verdict.code && verdict.code >= 400 ? verdict.code : code::file_unavailable;
  text = verdict.text.empty() ? "Upload refused." : verdict.text;
  if (verdict.kind == Decision::Kind::disconnect) closing_ = true;
}

void Session::reply_transfer_end(const Transfer& t, const TransferEvent& ev, int code,
                                 std::string_view text) {
  if (ev.outcome == TransferOutcome::failed) {
    // Reply as for the storage error (452 disk full, 552 quota, 451 otherwise).
    reply_storage_error(t.local_error, ev.upload);
  } else if (ev.outcome == TransferOutcome::complete) {
    if (ev.upload) {
      core_.stats.uploads.fetch_add(1, std::memory_order_relaxed);
    } else if (t.kind == Transfer::Kind::retr) {
      core_.stats.downloads.fetch_add(1, std::memory_order_relaxed);
    }
    reply(code::transfer_complete,
          t.listing_note.empty() ? "Transfer complete." : "Transfer complete; " + t.listing_note);
  } else {
    reply(code, text);
  }
}

void Session::tell_transfer_hook(Hooks& h, const TransferEvent& ev) {
  if (ev.upload) {
    if (ev.outcome == TransferOutcome::complete) {
      h.on_file_received(*this, ev);
    } else {
      h.on_incomplete_file_received(*this, ev);
    }
  } else if (ev.outcome == TransferOutcome::complete) {
    h.on_file_sent(*this, ev);
  } else {
    h.on_incomplete_file_sent(*this, ev);
  }
}

asio::awaitable<void> Session::finish_transfer(Transfer& t, std::error_code ec, bool connected) {
  TransferEvent ev = transfer_event(t);
  std::string text;
  int code = judge_transfer(t, ec, connected, ev, text);

  if (ev.upload) {
    core_.stats.bytes_in.fetch_add(t.bytes, std::memory_order_relaxed);
    if (ev.outcome == TransferOutcome::complete) {
      std::optional<Status> committed;
      auto commit = [&] { committed.emplace(commit_upload(t)); };
      if (storage_blocking_) {
        co_await offload(core_.pool(), commit);
      } else {
        commit();
      }
      if (!*committed) {
        t.local_error = committed->error();
        ev.outcome = TransferOutcome::failed;
        ev.error = t.local_error.message();
      }
    } else {
      // The client may resume a dropped upload (REST + STOR), so keep what arrived then; a
      // failed one (disk full) leaves nothing that looks complete.
      const bool keep = ev.outcome == TransferOutcome::client_gone || ev.outcome == TransferOutcome::aborted;
      co_await maybe_offload(storage_blocking_, [&] { t.writer->abort(keep); });
    }
    if (ev.outcome == TransferOutcome::complete && !core_.hooks.empty()) {
      const Decision verdict = co_await decide_hooks([&](Hooks& h) { return h.check_upload(*this, ev); });
      if (!verdict.proceeds()) {
        co_await maybe_offload(storage_blocking_, [&] {
          if (!t.writer->revert()) (void)storage_->remove(t.path);
        });
        refuse_upload(verdict, ev, code, text);
      }
    }
  } else {
    core_.stats.bytes_out.fetch_add(t.bytes, std::memory_order_relaxed);
  }

  reply_transfer_end(t, ev, code, text);
  if (core_.monitor && t.kind != Transfer::Kind::listing && t.started != Clock::time_point{}) {
    core_.monitor->transfer_done(ev.upload, Clock::now() - t.started, t.bytes);
  }
  if (t.kind != Transfer::Kind::listing && !core_.hooks.empty()) {
    co_await notify_hooks([&](Hooks& h) { tell_transfer_hook(h, ev); });
  }
}

asio::awaitable<void> Session::wait_transfer_done() {
  while (xfer_) {
    std::error_code ec;
    co_await xfer_done_.async_wait(asio::redirect_error(use_awaitable, ec));
  }
}

void Session::abort_transfer() {
  if (!xfer_) return;
  xfer_->abort_requested = true;
  close_data_channel();
}

void Session::transfer_status() {
  if (!xfer_) return;
  const auto& t = *xfer_;
  const double secs = t.started == Clock::time_point{}
                          ? 0.0
                          : std::chrono::duration<double>(Clock::now() - t.started).count();
  if (t.kind == Transfer::Kind::stor) {
    reply(code::file_status, fmt::format("Status: {} {}: {} bytes received in {:.1f} s.",
                                         proto::verb_name(t.verb), t.path, t.bytes, secs));
  } else {
    reply(code::file_status, fmt::format("Status: {} {}: {} of {} bytes sent in {:.1f} s.",
                                         proto::verb_name(t.verb), t.path, t.bytes, t.size, secs));
  }
}

}  // namespace feitp::session
