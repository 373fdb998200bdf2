// feitp session: the listing cache (see listing_cache.hpp).
#include "session/listing_cache.hpp"

#include <algorithm>
#include <utility>

namespace feitp::session {

ListingCache::ListingCache(std::size_t max_entries, std::size_t max_bytes)
    : max_entries_(max_entries), max_bytes_(max_bytes) {
  entries_.reserve(std::min<std::size_t>(max_entries_, 1024));
}

std::shared_ptr<const std::string> ListingCache::find(std::uint64_t version, std::string_view variant) {
  std::lock_guard lock(mu_);
  for (Entry& e : entries_) {
    if (e.version == version && e.variant == variant) {
      e.last_used = ++clock_;
      return e.text;
    }
  }
  return nullptr;
}

void ListingCache::remove(std::vector<Entry>::iterator it) {
  bytes_ -= it->text->size();
  if (it != entries_.end() - 1) *it = std::move(entries_.back());
  entries_.pop_back();
}

void ListingCache::evict_lru() {
  remove(std::min_element(entries_.begin(), entries_.end(),
                          [](const Entry& a, const Entry& b) { return a.last_used < b.last_used; }));
}

std::shared_ptr<const std::string> ListingCache::put(std::uint64_t version, std::string variant,
                                                     std::string text) {
  auto shared = std::make_shared<const std::string>(std::move(text));
  const std::size_t size = shared->size();
  std::lock_guard lock(mu_);
  // Drop an entry with the same key first, so that a replacement is never counted twice.
  for (auto it = entries_.begin(); it != entries_.end(); ++it) {
    if (it->version == version && it->variant == variant) {
      remove(it);
      break;
    }
  }
  if (max_entries_ == 0 || size > max_bytes_) return shared;
  while (!entries_.empty() && (entries_.size() >= max_entries_ || bytes_ + size > max_bytes_)) {
    evict_lru();
  }
  entries_.push_back(Entry{version, std::move(variant), shared, ++clock_});
  bytes_ += size;
  return shared;
}

std::size_t ListingCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::size_t ListingCache::bytes() const {
  std::lock_guard lock(mu_);
  return bytes_;
}

}  // namespace feitp::session
