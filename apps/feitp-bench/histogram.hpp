// Log-linear latency histogram in microseconds: fixed memory, about 3% resolution.
#pragma once

#include <array>
#include <bit>
#include <cstdint>

namespace feitp_bench {

class Histogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kSub = 1 << kSubBits;
  static constexpr int kBuckets = kSub * 40;

  void record(std::uint64_t us) noexcept {
    ++counts_[index(us)];
    ++total_;
    if (us > max_) max_ = us;
  }
  void clear() noexcept {
    counts_.fill(0);
    total_ = 0;
    max_ = 0;
  }
  [[nodiscard]] std::uint64_t total() const noexcept { return total_; }
  [[nodiscard]] std::uint64_t max() const noexcept { return max_; }

  // Upper bound of the bucket holding quantile q (0..1), in microseconds.
  [[nodiscard]] std::uint64_t quantile(double q) const noexcept {
    if (total_ == 0) return 0;
    auto want = static_cast<std::uint64_t>(q * static_cast<double>(total_));
    if (want >= total_) want = total_ - 1;
    std::uint64_t seen = 0;
    for (int i = 0; i < kBuckets; ++i) {
      seen += counts_[static_cast<std::size_t>(i)];
      if (seen > want) {
        const std::uint64_t hi = upper(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }

 private:
  static int index(std::uint64_t v) noexcept {
    if (v < kSub) return static_cast<int>(v);
    const int msb = 63 - std::countl_zero(v);  // >= kSubBits
    const int shift = msb - kSubBits;
    int idx = (shift + 1) * kSub + static_cast<int>((v >> shift) - kSub);
    return idx < kBuckets ? idx : kBuckets - 1;
  }
  static std::uint64_t upper(int i) noexcept {
    if (i < kSub) return static_cast<std::uint64_t>(i);
    const int shift = i / kSub - 1;
    const auto mant = static_cast<std::uint64_t>(i % kSub + kSub);
    return ((mant + 1) << shift) - 1;
  }

  std::array<std::uint64_t, kBuckets> counts_{};
  std::uint64_t total_ = 0;
  std::uint64_t max_ = 0;
};

}  // namespace feitp_bench
