#include "common/process_metrics.h"

#include <dirent.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace hyperplace::metrics {
namespace {

// Fields of /proc/self/stat after the command name (which may contain spaces).
std::vector<std::string> StatFields() {
  std::ifstream in("/proc/self/stat");
  std::string line;
  std::getline(in, line);
  std::vector<std::string> fields;
  auto close = line.rfind(')');
  if (close == std::string::npos) return fields;
  std::istringstream rest(line.substr(close + 2));
  std::string f;
  while (rest >> f) fields.push_back(f);
  return fields;  // fields[0] is field 3 (state)
}

double CpuSeconds() {
  auto f = StatFields();
  if (f.size() < 13) return 0;
  // utime and stime are fields 14 and 15, in clock ticks.
  double ticks = std::stod(f[11]) + std::stod(f[12]);
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double OpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  int n = 0;
  while (readdir(dir) != nullptr) ++n;
  closedir(dir);
  return n - 3;  // ".", ".." and the descriptor of the directory itself
}

}  // namespace

double ResidentMemoryBytes() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  if (!(in >> pages_total >> pages_resident)) return 0;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

void RegisterProcessMetrics(Registry& registry) {
  const double start =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  registry.AddCallbackGauge("process_resident_memory_bytes", "Resident memory size in bytes.",
                            ResidentMemoryBytes);
  registry.AddCallbackGauge("process_cpu_seconds_total",
                            "Total user and system CPU time spent in seconds.", CpuSeconds);
  registry.AddCallbackGauge("process_open_fds", "Number of open file descriptors.", OpenFds);
  registry.AddCallbackGauge("process_start_time_seconds",
                            "Start time of the process since unix epoch in seconds.",
                            [start] { return start; });
}

}  // namespace hyperplace::metrics
