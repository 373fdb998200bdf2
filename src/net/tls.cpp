#include "net/tls.hpp"

#include <cstring>
#include <ctime>
#include <stdexcept>

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <asio/redirect_error.hpp>
#include <asio/use_awaitable.hpp>

namespace feitp::net {

namespace {

class TlsCategory final : public std::error_category {
 public:
  [[nodiscard]] const char* name() const noexcept override { return "tls"; }
  [[nodiscard]] std::string message(int c) const override {
    switch (static_cast<TlsError>(c)) {
      case TlsError::handshake_failed: return "TLS handshake failed";
      case TlsError::truncated: return "TLS connection closed without close_notify";
      case TlsError::protocol: return "TLS protocol error";
      case TlsError::foreign_session: return "TLS session of another control connection";
      case TlsError::not_resumed: return "TLS session not resumed";
    }
    return "TLS error";
  }
};

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return r;
}

// Ticket keys of one process, for a server without a shared TicketKeySource: every context of
// the server (main and per-host) uses the same, so a ticket from one is good for the others.
class LocalTicketKeys final : public TicketKeySource {
 public:
  LocalTicketKeys() {
    if (RAND_bytes(reinterpret_cast<unsigned char*>(&key_), sizeof key_) != 1) {
      throw std::runtime_error("TLS: no random bytes for session ticket keys");
    }
  }
  bool current(Key& out) override {
    out = key_;
    return true;
  }
  bool find(const unsigned char* name, Key& out, bool& renew) override {
    if (std::memcmp(name, key_.name, sizeof key_.name) != 0) return false;
    out = key_;
    renew = false;
    return true;
  }

 private:
  Key key_{};
};

// The largest record: 16 KiB of data, 256 bytes of protection, a 5-byte header.
constexpr std::size_t kRecordPayload = 16 * 1024;
constexpr std::size_t kRecordMax = kRecordPayload + 256 + 5;
// A data connection's read buffer: four records.
constexpr std::size_t kDataReadBuffer = 4 * kRecordMax;
// A data connection's write buffer: sixteen records, one send() each time it is flushed.
constexpr int kDataWriteBuffer = 16 * static_cast<int>(kRecordMax);

TlsBinding* binding_of(SSL* ssl) { return static_cast<TlsBinding*>(SSL_get_app_data(ssl)); }

// A ticket made on a control connection carries that connection's token.
int ticket_gen_cb(SSL* ssl, void* /*arg*/) {
  TlsBinding* b = binding_of(ssl);
  if (b == nullptr || b->control != nullptr) return 1;
  SSL_SESSION* sess = SSL_get0_session(ssl);
  if (sess != nullptr) SSL_SESSION_set1_ticket_appdata(sess, b->token.data(), b->token.size());
  return 1;
}

SSL_TICKET_RETURN ticket_dec_cb(SSL* ssl, SSL_SESSION* sess, const unsigned char* /*keyname*/,
                                size_t /*keyname_len*/, SSL_TICKET_STATUS status, void* /*arg*/) {
  const bool good = status == SSL_TICKET_SUCCESS || status == SSL_TICKET_SUCCESS_RENEW;
  if (!good) return SSL_TICKET_RETURN_IGNORE_RENEW;  // OpenSSL's own default: full handshake
  const SSL_TICKET_RETURN use =
      status == SSL_TICKET_SUCCESS_RENEW ? SSL_TICKET_RETURN_USE_RENEW : SSL_TICKET_RETURN_USE;
  TlsBinding* b = binding_of(ssl);
  if (b == nullptr) return use;
  void* data = nullptr;
  size_t len = 0;
  const bool has =
      SSL_SESSION_get0_ticket_appdata(sess, &data, &len) == 1 && len == TlsBinding::Token{}.size();
  if (b->control == nullptr) {
    // A control connection: remember whose session it resumed, so that its data connections
    // may resume that session too (TLS 1.2 keeps the resumed session, and its token).
    if (has) {
      std::memcpy(b->resumed.data(), data, len);
      b->has_resumed = true;
    }
    return use;
  }
  if (b->policy == DataSessionPolicy::any) return SSL_TICKET_RETURN_USE;
  const TlsBinding& c = *b->control;
  const bool own = has && (std::memcmp(data, c.token.data(), len) == 0 ||
                           (c.has_resumed && std::memcmp(data, c.resumed.data(), len) == 0));
  if (own) return SSL_TICKET_RETURN_USE;  // data connections get no new ticket
  b->foreign = true;
  return SSL_TICKET_RETURN_ABORT;
}

}  // namespace

const std::error_category& tls_category() {
  static const TlsCategory c;
  return c;
}

std::error_code make_error_code(TlsError e) { return {static_cast<int>(e), tls_category()}; }

int tls_servername_cb(SSL* ssl, int* /*alert*/, void* arg) {
  auto* self = static_cast<TlsContext*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (name == nullptr || self->hosts_.empty()) return SSL_TLSEXT_ERR_OK;
  const std::string n = lower(name);
  for (const auto& [host, ctx] : self->hosts_) {
    if (host == n) {
      SSL_set_SSL_CTX(ssl, ctx);
      return SSL_TLSEXT_ERR_OK;
    }
  }
  return SSL_TLSEXT_ERR_OK;  // unknown name: the default certificate
}

int tls_ticket_key_cb(SSL* ssl, unsigned char* key_name, unsigned char* iv, void* cctx, void* mctx, int enc) {
  auto* self = static_cast<TlsContext*>(SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl)));
  if (self == nullptr || !self->keys_) return -1;
  TicketKeySource::Key k{};
  int ret = 1;
  if (enc) {
    if (!self->keys_->current(k)) return -1;
    std::memcpy(key_name, k.name, sizeof k.name);
    if (RAND_bytes(iv, 16) != 1) return -1;
  } else {
    bool renew = false;
    if (!self->keys_->find(key_name, k, renew)) return 0;  // unknown key: full handshake
    ret = renew ? 2 : 1;
  }
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_octet_string(OSSL_MAC_PARAM_KEY, k.hmac, sizeof k.hmac),
      OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, const_cast<char*>("SHA256"), 0),
      OSSL_PARAM_construct_end()};
  auto* c = static_cast<EVP_CIPHER_CTX*>(cctx);
  auto* m = static_cast<EVP_MAC_CTX*>(mctx);
  // Fetched once: OpenSSL 3 would look the cipher up by name on every ticket otherwise.
  static EVP_CIPHER* const aes = EVP_CIPHER_fetch(nullptr, "AES-256-CBC", nullptr);
  if (aes == nullptr) return -1;
  const int ok =
      enc ? EVP_EncryptInit_ex(c, aes, nullptr, k.aes, iv) : EVP_DecryptInit_ex(c, aes, nullptr, k.aes, iv);
  OPENSSL_cleanse(&k, sizeof k);
  if (ok != 1 || EVP_MAC_CTX_set_params(m, params) != 1) return -1;
  return ret;
}

namespace {

int ticket_key_trampoline(SSL* ssl, unsigned char key_name[16], unsigned char iv[EVP_MAX_IV_LENGTH],
                          EVP_CIPHER_CTX* cctx, EVP_MAC_CTX* mctx, int enc) {
  return tls_ticket_key_cb(ssl, key_name, iv, cctx, mctx, enc);
}

// Loads a PEM certificate and checks its validity period; "" or the problem.
std::string check_cert_file(const std::string& path, const char* what) {
  BIO* bio = BIO_new_file(path.c_str(), "r");
  if (bio == nullptr) {
    ERR_clear_error();
    return std::string(what) + " " + path + ": " + std::strerror(errno);
  }
  X509* cert = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (cert == nullptr) {
    ERR_clear_error();
    return std::string(what) + " " + path + ": not a PEM certificate";
  }
  std::string problem;
  if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
    problem = std::string(what) + " " + path + ": certificate has expired";
  } else if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
    problem = std::string(what) + " " + path + ": certificate is not valid yet";
  }
  X509_free(cert);
  return problem;
}

int parse_min_version(const std::string& v) {
  if (v == "1.2" || v == "TLSv1.2") return TLS1_2_VERSION;
  if (v == "1.3" || v == "TLSv1.3") return TLS1_3_VERSION;
  return 0;
}

}  // namespace

SSL_CTX* TlsContext::make_ctx(const TlsOptions& o, const std::string& cert, const std::string& key,
                              const std::string& chain, TlsContext* owner) {
  if (auto p = check_cert_file(cert, "tls.cert"); !p.empty()) throw std::runtime_error(p);
  SSL_CTX* ctx = SSL_CTX_new(TLS_server_method());
  if (ctx == nullptr) throw std::runtime_error("TLS: " + openssl_error());
  auto fail = [&](const std::string& why) {
    SSL_CTX_free(ctx);
    throw std::runtime_error(why);
  };
  const int min = parse_min_version(o.min_version);
  if (min == 0) fail("tls.min_version: '" + o.min_version + "' is not \"1.2\" or \"1.3\"");
  SSL_CTX_set_min_proto_version(ctx, min);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE | SSL_OP_NO_COMPRESSION);
  // NO_AUTO_CHAIN: the chain is what tls.cert and tls.chain say, not one rebuilt from the
  // certificate store at every handshake.
  SSL_CTX_set_mode(
      ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_NO_AUTO_CHAIN);
  // Read ahead: one read() takes whatever records have arrived, instead of one read() for each
  // record's header and another for its body (a TLS seed transaction made 37 reads, now 11).
  SSL_CTX_set_read_ahead(ctx, 1);
  // One ticket per full handshake (OpenSSL sends two by default): a client resumes with one,
  // for its data connections and its next connection alike.
  SSL_CTX_set_num_tickets(ctx, 1);
  if (!o.ciphers.empty() && SSL_CTX_set_cipher_list(ctx, o.ciphers.c_str()) != 1) {
    fail("tls.ciphers: no usable cipher in '" + o.ciphers + "'");
  }
  if (!o.ciphersuites.empty() && SSL_CTX_set_ciphersuites(ctx, o.ciphersuites.c_str()) != 1) {
    fail("tls.ciphersuites: no usable suite in '" + o.ciphersuites + "'");
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert.c_str()) != 1) {
    fail("tls.cert " + cert + ": " + openssl_error());
  }
  if (!chain.empty()) {
    BIO* bio = BIO_new_file(chain.c_str(), "r");
    if (bio == nullptr) fail("tls.chain " + chain + ": " + std::strerror(errno));
    while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) {
      if (SSL_CTX_add_extra_chain_cert(ctx, x) != 1) X509_free(x);  // the context owns it now
    }
    ERR_clear_error();  // the end of the file
    BIO_free(bio);
  }
  if (SSL_CTX_use_PrivateKey_file(ctx, key.c_str(), SSL_FILETYPE_PEM) != 1) {
    if (ERR_GET_REASON(ERR_peek_last_error()) == X509_R_KEY_VALUES_MISMATCH) {
      ERR_clear_error();
      fail("tls.key " + key + ": does not match the certificate " + cert);
    }
    fail("tls.key " + key + ": " + openssl_error());
  }
  if (SSL_CTX_check_private_key(ctx) != 1) {
    ERR_clear_error();
    fail("tls.key " + key + ": does not match the certificate " + cert);
  }
  static const unsigned char sid[] = "feitp";
  SSL_CTX_set_session_id_context(ctx, sid, sizeof sid - 1);
  // Stateless tickets only (TLS 1.2 and 1.3): nothing per client is kept in a worker, and a
  // ticket is good on every worker sharing the keys.
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_timeout(ctx, static_cast<long>(o.session_lifetime.count()));
  SSL_CTX_set_session_ticket_cb(ctx, ticket_gen_cb, ticket_dec_cb, nullptr);
  SSL_CTX_set_tlsext_ticket_key_evp_cb(ctx, ticket_key_trampoline);
  SSL_CTX_set_tlsext_servername_callback(ctx, tls_servername_cb);
  SSL_CTX_set_tlsext_servername_arg(ctx, owner);
  SSL_CTX_set_app_data(ctx, owner);
  return ctx;
}

TlsContext::TlsContext(const TlsOptions& o) : opts_(o) {
  keys_ = o.ticket_keys ? o.ticket_keys : std::make_shared<LocalTicketKeys>();
  main_ = make_ctx(o, o.cert_file, o.key_file, o.chain_file, this);
  try {
    for (const auto& h : o.hosts) {
      SSL_CTX* c = make_ctx(o, h.cert_file, h.key_file, {}, this);
      hosts_.emplace_back(lower(h.name), c);
    }
  } catch (...) {
    for (auto& [n, c] : hosts_) SSL_CTX_free(c);
    SSL_CTX_free(main_);
    throw;
  }
}

TlsContext::~TlsContext() {
  for (auto& [n, c] : hosts_) SSL_CTX_free(c);
  SSL_CTX_free(main_);
}

SSL* TlsContext::new_ssl(int fd, std::string_view host, bool data) const {
  SSL_CTX* ctx = main_;
  if (!host.empty()) {
    const std::string n = lower(host);
    for (const auto& [name, c] : hosts_) {
      if (name == n) ctx = c;
    }
  }
  SSL* ssl = SSL_new(ctx);
  if (ssl == nullptr) return nullptr;
  if (SSL_set_fd(ssl, fd) != 1) {
    SSL_free(ssl);
    return nullptr;
  }
  if (data) {
    // A data connection resumes its control connection's session: it needs no tickets of its
    // own, and unread tickets in a client's socket make its kernel answer our close with a reset.
    SSL_set_num_tickets(ssl, 0);
    // Bulk data: one read() takes up to four full records.
    SSL_set_default_read_buffer_len(ssl, kDataReadBuffer);
  } else {
    // A control connection is idle most of its life: its record buffers go back to the heap
    // whenever they are empty, so an idle TLS session costs what a plain one does.
    SSL_set_mode(ssl, SSL_MODE_RELEASE_BUFFERS);
  }
  return ssl;
}

std::string check_tls(const TlsOptions& o) {
  if (!o.enabled()) {
    if (!o.key_file.empty()) return "tls.key is set but tls.cert is not";
    if (o.required != TlsRequired::off)
      return "tls.required (--tls-required) needs a certificate: tls.cert and tls.key (--tls-cert, --tls-key)";
    if (!o.implicit_listen.empty())
      return "tls.implicit_listen (--implicit-tls-listen) needs a certificate: tls.cert and tls.key (--tls-cert, --tls-key)";
    return {};
  }
  if (o.key_file.empty()) return "tls.cert is set but tls.key is not";
  try {
    TlsContext probe(o);
  } catch (const std::exception& e) { return e.what(); }
  return {};
}

// --- the stream -----------------------------------------------------------------------------

TlsStream::TlsStream(SSL* ssl, asio::ip::tcp::socket& sock, bool bulk) : ssl_(ssl), sock_(sock), bulk_(bulk) {
  SSL_set_app_data(ssl_, &binding_);
  if (RAND_bytes(binding_.token.data(), static_cast<int>(binding_.token.size())) != 1) { ERR_clear_error(); }
}

TlsStream::~TlsStream() { SSL_free(ssl_); }

asio::awaitable<bool> TlsStream::wait_for(int ret, std::error_code& ec) {
  const int e = SSL_get_error(ssl_, ret);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
    co_await sock_.async_wait(
        e == SSL_ERROR_WANT_READ ? asio::socket_base::wait_read : asio::socket_base::wait_write,
        asio::redirect_error(asio::use_awaitable, ec));
    co_return !ec;
  }
  if (e == SSL_ERROR_ZERO_RETURN) {
    peer_closed_ = true;
    ec = asio::error::eof;
  } else if (e == SSL_ERROR_SYSCALL) {
    // A bare end of the connection (errno 0) or a reset: no close_notify came.
    ec = errno == 0 || errno == ECONNRESET || errno == EPIPE ? make_error_code(TlsError::truncated)
                                                             : std::error_code(errno, std::system_category());
  } else if (e == SSL_ERROR_SSL && ERR_GET_REASON(ERR_peek_error()) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
    ec = make_error_code(TlsError::truncated);
  } else {
    ec = make_error_code(TlsError::protocol);
  }
  ERR_clear_error();
  co_return false;
}

asio::awaitable<std::error_code> TlsStream::handshake() {
  for (;;) {
    ERR_clear_error();
    errno = 0;
    const int r = SSL_accept(ssl_);
    if (r == 1) co_return std::error_code{};
    std::error_code ec;
    if (!co_await wait_for(r, ec)) {
      if (binding_.foreign) co_return make_error_code(TlsError::foreign_session);
      if (ec == asio::error::operation_aborted) co_return ec;
      co_return make_error_code(TlsError::handshake_failed);
    }
  }
}

asio::awaitable<std::size_t> TlsStream::read_some(void* buf, std::size_t n, std::error_code& ec) {
  ec.clear();
  if (peer_closed_) {
    ec = asio::error::eof;
    co_return 0;
  }
  for (;;) {
    ERR_clear_error();
    errno = 0;
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, buf, n, &got);
    if (r == 1) co_return got + read_buffered(static_cast<char*>(buf) + got, n - got);
    if (!co_await wait_for(r, ec)) co_return 0;
  }
}

// SSL_read gives one record (at most 16 KiB) per call. The records already read ahead fill the
// rest of the caller's buffer without a wait: one storage write and one coroutine resumption
// for several records.
std::size_t TlsStream::read_buffered(char* buf, std::size_t n) {
  std::size_t total = 0;
  while (n > 0 && SSL_has_pending(ssl_) == 1) {
    std::size_t got = 0;
    const int r = SSL_read_ex(ssl_, buf, n, &got);
    if (r != 1) {
      // The peer's close_notify: the caller gets the data now and the end at its next read.
      if (SSL_get_error(ssl_, r) == SSL_ERROR_ZERO_RETURN) peer_closed_ = true;
      ERR_clear_error();
      break;
    }
    buf += got;
    n -= got;
    total += got;
  }
  return total;
}

// A bulk stream's first write of more than one record puts a write buffer between the SSL and
// its socket: records then leave in one send() per flush (at the end of every write_some and
// after the close_notify), so a RETR makes one system call per buffer instead of one per 16 KiB
// record. Only then: an upload, a listing or a handshake never pays for the buffer.
void TlsStream::batch_writes() {
  bulk_ = false;  // one try
  BIO* sock_bio = SSL_get_wbio(ssl_);
  BIO* buffer = BIO_new(BIO_f_buffer());
  if (buffer == nullptr || BIO_set_write_buffer_size(buffer, kDataWriteBuffer) != 1 ||
      BIO_up_ref(sock_bio) != 1) {
    BIO_free(buffer);  // unbuffered writes still work
    ERR_clear_error();
    return;
  }
  BIO_push(buffer, sock_bio);
  SSL_set0_wbio(ssl_, buffer);  // the socket BIO stays the read BIO and ends the write chain
}

asio::awaitable<std::size_t> TlsStream::write_some(const void* buf, std::size_t n, std::error_code& ec) {
  ec.clear();
  if (bulk_ && n > kRecordPayload) batch_writes();
  const auto* p = static_cast<const char*>(buf);
  std::size_t total = 0;
  for (;;) {
    ERR_clear_error();
    errno = 0;
    std::size_t put = 0;
    const int r = SSL_write_ex(ssl_, p + total, n - total, &put);
    if (r == 1) {
      // Partial writes give one record per call: go on while the socket takes them, so that a
      // big buffer is one resumption of the caller, not one per 16 KiB.
      total += put;
      if (total < n) continue;
      if (!co_await flush(ec)) co_return 0;
      co_return total;
    }
    if (total > 0) {
      // Progress made: report it. A retry of the rest is the retry OpenSSL expects.
      ERR_clear_error();
      co_return total;
    }
    if (!co_await wait_for(r, ec)) co_return 0;
  }
}

std::size_t TlsStream::try_write(const void* buf, std::size_t n, std::error_code& ec) {
  ec.clear();
  ERR_clear_error();
  std::size_t put = 0;
  const int r = SSL_write_ex(ssl_, buf, n, &put);
  if (r == 1) return put;
  const int e = SSL_get_error(ssl_, r);
  ec = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? asio::error::would_block
                                                             : make_error_code(TlsError::protocol);
  ERR_clear_error();
  return 0;
}

// Sends what the write buffer holds (see batch_writes; without one, the write BIO is the socket
// itself and has nothing to flush), waiting while the socket is full.
asio::awaitable<bool> TlsStream::flush(std::error_code& ec) {
  BIO* w = SSL_get_wbio(ssl_);
  for (;;) {
    if (BIO_flush(w) > 0) co_return true;
    if (!BIO_should_retry(w)) {
      ERR_clear_error();
      ec = std::error_code(errno != 0 ? errno : EPIPE, std::system_category());
      co_return false;
    }
    co_await sock_.async_wait(asio::socket_base::wait_write, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return false;
  }
}

asio::awaitable<void> TlsStream::shutdown(bool wait_peer) {
  for (int rounds = 0; rounds < 64; ++rounds) {
    ERR_clear_error();
    errno = 0;
    const int r = SSL_shutdown(ssl_);
    if (r >= 0) {
      // OpenSSL does not wait for a flush that would block: the close_notify may still be in
      // the write buffer.
      std::error_code ec;
      if (!co_await flush(ec)) co_return;
    }
    if (r == 1) {
      peer_closed_ = true;
      co_return;
    }
    if (r == 0) {
      if (!wait_peer) co_return;
      continue;  // ours is sent; the next call reads the peer's
    }
    std::error_code ec;
    if (!co_await wait_for(r, ec)) co_return;
  }
}

void TlsStream::shutdown_now() {
  // After CCC the client's close_notify is followed by commands in clear text: read it alone,
  // so that no command is read ahead into the TLS layer and lost there.
  SSL_set_read_ahead(ssl_, 0);
  ERR_clear_error();
  (void)SSL_shutdown(ssl_);
  (void)BIO_flush(SSL_get_wbio(ssl_));  // without waiting: what the socket takes now
  ERR_clear_error();
}

bool TlsStream::resumed() const { return SSL_session_reused(ssl_) == 1; }

std::string TlsStream::version() const { return SSL_get_version(ssl_); }

std::string TlsStream::cipher() const {
  const char* c = SSL_get_cipher_name(ssl_);
  return c ? c : "";
}

std::string TlsStream::server_name() const {
  const char* n = SSL_get_servername(ssl_, TLSEXT_NAMETYPE_host_name);
  return n ? n : "";
}

}  // namespace feitp::net
