// Structured logging: one line per event, key=value (logfmt) or JSON, to stderr.
//
//   HP_LOG(kInfo, "extender listening", {{"address", addr}, {"threads", 8}});
//
// Lines are written with a single write() so concurrent threads never interleave. Never log a
// secret (tokens, keys, request bodies).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <variant>

#include "common/config.h"

namespace hyperplace::log {

// A field value: text or a number.
struct Value {
  Value(std::string_view s) : text(s), is_number(false) {}              // NOLINT
  Value(const std::string& s) : text(s), is_number(false) {}            // NOLINT
  Value(const char* s) : text(s), is_number(false) {}                   // NOLINT
  Value(std::int64_t n) : text(std::to_string(n)), is_number(true) {}   // NOLINT
  Value(int n) : text(std::to_string(n)), is_number(true) {}            // NOLINT
  Value(unsigned n) : text(std::to_string(n)), is_number(true) {}       // NOLINT
  Value(std::uint64_t n) : text(std::to_string(n)), is_number(true) {}  // NOLINT
  Value(double d);                                                      // NOLINT
  Value(bool b) : text(b ? "true" : "false"), is_number(true) {}        // NOLINT
  std::string text;
  bool is_number;
};

struct Field {
  std::string_view key;
  Value value;
};

void Configure(LogLevel level, LogFormat format);
bool Enabled(LogLevel level);
void Write(LogLevel level, std::string_view message, std::initializer_list<Field> fields = {});

// Formats one line without the trailing newline (exposed for tests).
std::string Format(LogFormat format, LogLevel level, std::string_view message,
                   std::initializer_list<Field> fields, std::string_view timestamp);

}  // namespace hyperplace::log

#define HP_LOG(level, ...)                                                  \
  do {                                                                      \
    if (::hyperplace::log::Enabled(::hyperplace::LogLevel::level)) {        \
      ::hyperplace::log::Write(::hyperplace::LogLevel::level, __VA_ARGS__); \
    }                                                                       \
  } while (0)
