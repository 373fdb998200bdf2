// feitp session: formatted directory listings kept for reuse while the directory is unchanged.
//
// The key is the ListingVersions::listing_version() token taken before list(), plus a variant string
// for everything else the text depends on (LIST/NLST/MLSD, options, facts, the user's
// permission facts, ...). A token names one directory in one state, process-wide, so an entry
// is simply never found again once the directory changes; stale entries age out of the LRU.
// Bounded by entry count and by total text bytes; a text larger than the byte bound is not kept
// (put() still returns it). Thread-safe (one mutex); no I/O, no Asio.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace feitp::session {

class ListingCache {
 public:
  static constexpr std::size_t kDefaultMaxEntries = 64;
  static constexpr std::size_t kDefaultMaxBytes = std::size_t{64} << 20;

  explicit ListingCache(std::size_t max_entries = kDefaultMaxEntries,
                        std::size_t max_bytes = kDefaultMaxBytes);

  // The text stored for (version, variant), or nullptr.
  std::shared_ptr<const std::string> find(std::uint64_t version, std::string_view variant);
  // Stores the text (replacing an entry with the same key) and returns it.
  std::shared_ptr<const std::string> put(std::uint64_t version, std::string variant, std::string text);

  [[nodiscard]] std::size_t size() const;
  [[nodiscard]] std::size_t bytes() const;  // sum of the stored texts' sizes

 private:
  struct Entry {
    std::uint64_t version = 0;
    std::string variant;
    std::shared_ptr<const std::string> text;
    std::uint64_t last_used = 0;
  };

  void remove(std::vector<Entry>::iterator it);
  void evict_lru();

  const std::size_t max_entries_;
  const std::size_t max_bytes_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;  // few (tens): a linear scan beats a map here
  std::size_t bytes_ = 0;
  std::uint64_t clock_ = 0;
};

}  // namespace feitp::session
