#include "bench/proc_sampler.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace hyperplace::bench {

std::optional<ProcSample> ReadProcSample(pid_t pid) {
  const std::string path = "/proc/" + std::to_string(pid) + "/stat";
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return std::nullopt;
  char buf[2048];
  const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = '\0';
  // The command name (field 2) may contain spaces and parentheses: fields resume after the last
  // ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return std::nullopt;
  std::istringstream in(p + 2);
  std::string field;
  std::vector<std::string> fields;  // fields[0] is field 3 (state)
  while (fields.size() < 22 && in >> field) fields.push_back(field);
  if (fields.size() < 22) return std::nullopt;
  if (fields[0] == "Z" || fields[0] == "X") return std::nullopt;  // exited
  static const double kTicks = static_cast<double>(sysconf(_SC_CLK_TCK));
  static const std::int64_t kPage = sysconf(_SC_PAGESIZE);
  ProcSample s;
  s.t = Clock::now();
  s.cpu_s = (std::stod(fields[11]) + std::stod(fields[12])) / kTicks;  // fields 14 and 15
  s.rss_bytes = std::stoll(fields[21]) * kPage;                        // field 24
  return s;
}

std::int64_t ReadPeakRss(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "N kB"
  }
  return 0;
}

ProcSampler::ProcSampler(pid_t pid, std::chrono::milliseconds interval)
    : pid_(pid), interval_(interval) {}

ProcSampler::~ProcSampler() { Stop(); }

void ProcSampler::Start() {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this] { Loop(); });
}

void ProcSampler::Stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void ProcSampler::Loop() {
  auto next = Clock::now();
  while (!stop_) {
    if (auto s = ReadProcSample(pid_)) {
      std::lock_guard lock(mu_);
      samples_.push_back(*s);
    }
    next += interval_;
    std::this_thread::sleep_until(next);
  }
}

std::vector<ProcSample> ProcSampler::Samples() const {
  std::lock_guard lock(mu_);
  return samples_;
}

std::int64_t ProcSampler::MaxRss() const {
  std::lock_guard lock(mu_);
  std::int64_t m = 0;
  for (const ProcSample& s : samples_) m = std::max(m, s.rss_bytes);
  return m;
}

ProcUsage ProcSampler::Between(Clock::time_point from, Clock::time_point to) const {
  std::lock_guard lock(mu_);
  ProcUsage u;
  if (samples_.empty()) return u;
  const ProcSample* first = &samples_.front();
  const ProcSample* last = &samples_.back();
  for (const ProcSample& s : samples_) {
    if (s.t <= from) first = &s;
  }
  for (auto it = samples_.rbegin(); it != samples_.rend(); ++it) {
    if (it->t >= to) last = &*it;
  }
  const double wall = std::chrono::duration<double>(last->t - first->t).count();
  if (wall > 0) {
    u.cpu_s = last->cpu_s - first->cpu_s;
    u.cpu_percent = 100.0 * u.cpu_s / wall;
  }
  long double sum = 0;
  for (const ProcSample& s : samples_) {
    if (s.t < from || s.t > to) continue;
    sum += s.rss_bytes;
    u.rss_max_bytes = std::max(u.rss_max_bytes, s.rss_bytes);
    ++u.samples;
  }
  if (u.samples > 0) u.rss_mean_bytes = static_cast<std::int64_t>(sum / u.samples);
  return u;
}

}  // namespace hyperplace::bench
