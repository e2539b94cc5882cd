#include "common/log.h"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <cstdio>
#include <ctime>

#include "common/json.h"

namespace hyperplace::log {
namespace {

std::atomic<int> g_level{static_cast<int>(LogLevel::kInfo)};
std::atomic<int> g_format{static_cast<int>(LogFormat::kText)};

bool NeedsQuoting(std::string_view s) {
  if (s.empty()) return true;
  for (unsigned char c : s) {
    if (c <= ' ' || c == '"' || c == '=' || c == '\\' || c >= 0x7f) return true;
  }
  return false;
}

// Appends s as a JSON string body (without quotes); also used for quoted logfmt values.
void AppendEscaped(std::string& out, std::string_view s) { json::AppendJsonStringContent(out, s); }

std::string Timestamp() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm utc;
  gmtime_r(&ts.tv_sec, &utc);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                ts.tv_nsec / 1000000);
  return buf;
}

}  // namespace

Value::Value(double d) : is_number(true) {
  if (!std::isfinite(d)) {
    text = "null";
    return;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", d);
  text = buf;
}

void Configure(LogLevel level, LogFormat format) {
  g_level.store(static_cast<int>(level), std::memory_order_relaxed);
  g_format.store(static_cast<int>(format), std::memory_order_relaxed);
}

bool Enabled(LogLevel level) {
  return static_cast<int>(level) >= g_level.load(std::memory_order_relaxed);
}

std::string Format(LogFormat format, LogLevel level, std::string_view message,
                   std::initializer_list<Field> fields, std::string_view timestamp) {
  std::string line;
  line.reserve(128);
  if (format == LogFormat::kJson) {
    line += "{\"ts\":\"";
    line += timestamp;
    line += "\",\"level\":\"";
    line += LogLevelName(level);
    line += "\",\"msg\":\"";
    AppendEscaped(line, message);
    line += '"';
    for (const Field& f : fields) {
      line += ",\"";
      AppendEscaped(line, f.key);
      line += "\":";
      if (f.value.is_number) {
        line += f.value.text;
      } else {
        line += '"';
        AppendEscaped(line, f.value.text);
        line += '"';
      }
    }
    line += '}';
    return line;
  }
  line += "ts=";
  line += timestamp;
  line += " level=";
  line += LogLevelName(level);
  line += " msg=\"";
  AppendEscaped(line, message);
  line += '"';
  for (const Field& f : fields) {
    line += ' ';
    line += f.key;
    line += '=';
    if (NeedsQuoting(f.value.text)) {
      line += '"';
      AppendEscaped(line, f.value.text);
      line += '"';
    } else {
      line += f.value.text;
    }
  }
  return line;
}

void Write(LogLevel level, std::string_view message, std::initializer_list<Field> fields) {
  if (!Enabled(level)) return;
  auto format = static_cast<LogFormat>(g_format.load(std::memory_order_relaxed));
  std::string line = Format(format, level, message, fields, Timestamp());
  line += '\n';
  // One write per line: concurrent lines never interleave (stderr is unbuffered).
  const char* p = line.data();
  std::size_t left = line.size();
  while (left > 0) {
    ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n <= 0) break;
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

}  // namespace hyperplace::log
