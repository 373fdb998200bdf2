#include "procmem.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <string>
#include <utility>

namespace feitp_bench {
namespace {

struct ProcInfo {
  int pid;
  int ppid;
  std::string comm;
};

std::vector<ProcInfo> list_processes() {
  std::vector<ProcInfo> out;
  DIR* dir = opendir("/proc");
  if (dir == nullptr) return out;
  while (const dirent* ent = readdir(dir)) {
    char* end = nullptr;
    const long pid = std::strtol(ent->d_name, &end, 10);
    if (end == ent->d_name || *end != '\0' || pid <= 0) continue;
    std::ifstream stat("/proc/" + std::string(ent->d_name) + "/stat");
    std::string line;
    if (!std::getline(stat, line)) continue;
    // pid (comm) state ppid ...: comm may hold spaces and parentheses, so use the last ')'.
    const auto open = line.find('(');
    const auto close = line.rfind(')');
    if (open == std::string::npos || close == std::string::npos || close < open) continue;
    int ppid = 0;
    if (std::sscanf(line.c_str() + close + 1, " %*c %d", &ppid) != 1) continue;
    out.push_back({static_cast<int>(pid), ppid, line.substr(open + 1, close - open - 1)});
  }
  closedir(dir);
  return out;
}

}  // namespace

std::vector<int> collect_pids(const std::vector<int>& roots, const std::vector<std::string>& names) {
  const auto procs = list_processes();
  std::vector<int> out;
  for (const auto& p : procs) {
    if (std::find(roots.begin(), roots.end(), p.pid) != roots.end()) out.push_back(p.pid);
    for (const auto& n : names)
      if (p.comm == n.substr(0, 15)) out.push_back(p.pid);
  }
  // Descendants, to a fixed point (process trees are shallow).
  for (bool grew = true; grew;) {
    grew = false;
    for (const auto& p : procs) {
      if (std::find(out.begin(), out.end(), p.ppid) != out.end() &&
          std::find(out.begin(), out.end(), p.pid) == out.end()) {
        out.push_back(p.pid);
        grew = true;
      }
    }
  }
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

std::uint64_t pss_kib(const std::vector<int>& pids) {
  std::uint64_t total = 0;
  for (int pid : pids) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/smaps_rollup");
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind("Pss:", 0) == 0) {
        total += std::strtoull(line.c_str() + 4, nullptr, 10);
        break;
      }
    }
  }
  return total;
}

}  // namespace feitp_bench
