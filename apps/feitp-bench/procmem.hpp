// Resident memory of a server, read from /proc: proportional set size (Pss) summed over
// its processes, so shared pages are counted once across the whole server.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace feitp_bench {

// The given pids, every descendant of them, and every process whose name (comm) is one
// of `names`; deduplicated.
std::vector<int> collect_pids(const std::vector<int>& roots, const std::vector<std::string>& names);

// Sum of Pss in KiB over `pids` (from /proc/PID/smaps_rollup); processes that vanished
// count as 0.
std::uint64_t pss_kib(const std::vector<int>& pids);

}  // namespace feitp_bench
