// Byte-level JSON helpers shared by hyperplace's hand-written decoders and encoders: token checks
// for values a simdjson On-Demand decoder skips without parsing, string writers, base64 both ways.
//
// Header-only and dependency-free (no simdjson here): the decoders that walk JSON with simdjson
// keep their own readers and call these for the bytes simdjson does not check when it skips.
// The extender's codec carries identical private copies of the checks and of AppendJsonString
// (extender/codec.cc); both must keep the same behaviour.
#pragma once

#include <array>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace hyperplace::json {

inline bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Checks the escapes of a string whose content starts at `p` (just after the opening quote) and
// ends at the first unescaped quote, which simdjson's stage 1 guarantees exists.
inline bool ValidEscapes(const char* p) {
  for (;; ++p) {
    const char c = *p;
    if (c == '"') return true;
    if (c != '\\') continue;
    const char e = *++p;
    switch (e) {
      case '"':
      case '\\':
      case '/':
      case 'b':
      case 'f':
      case 'n':
      case 'r':
      case 't':
        break;
      case 'u':
        for (int i = 0; i < 4; ++i) {
          if (!std::isxdigit(static_cast<unsigned char>(*++p))) return false;
        }
        break;
      default:
        return false;
    }
  }
}

// A key's content starts at `p` (after its opening quote). Keys are short: a byte loop beats
// calling memchr twice.
inline bool ValidKey(const char* p) {
  for (const char* q = p;; ++q) {
    if (*q == '"') return true;
    if (*q == '\\') return ValidEscapes(p);
  }
}

// True when a backslash occurs in `s` (short strings without a library call).
inline bool HasBackslash(std::string_view s) {
  if (s.size() > 48) return std::memchr(s.data(), '\\', s.size()) != nullptr;
  for (char c : s) {
    if (c == '\\') return true;
  }
  return false;
}

// RFC 8259 number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
inline bool IsJsonNumber(std::string_view t) {
  std::size_t i = 0;
  auto digits = [&] {
    std::size_t start = i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;
    return i > start;
  };
  if (i < t.size() && t[i] == '-') ++i;
  if (i < t.size() && t[i] == '0') {
    ++i;
  } else if (!digits()) {
    return false;
  }
  if (i < t.size() && t[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == t.size();
}

namespace internal {

// Bytes that JSON strings must escape: control characters, '"' and '\\'.
inline constexpr std::array<bool, 256> kNeedsEscape = [] {
  std::array<bool, 256> t{};
  for (int c = 0; c < 0x20; ++c) t[c] = true;
  t['"'] = t['\\'] = true;
  return t;
}();

// True when any byte of the 8 in `w` is below 0x20, '"' or '\\' (SWAR: a zero byte in x shows as
// a set high bit in (x - 0x01..) & ~x & 0x80..).
inline bool WordNeedsEscape(std::uint64_t w) {
  constexpr std::uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  const std::uint64_t quote = w ^ (kOnes * '"'), slash = w ^ (kOnes * '\\');
  const std::uint64_t zero_quote = (quote - kOnes) & ~quote;
  const std::uint64_t zero_slash = (slash - kOnes) & ~slash;
  const std::uint64_t below_space = (w - kOnes * 0x20) & ~w;
  return ((zero_quote | zero_slash | below_space) & kHigh) != 0;
}

}  // namespace internal

inline bool NeedsEscape(std::string_view s) {
  const std::size_t n = s.size();
  if (n < 8) {
    for (char c : s) {
      if (internal::kNeedsEscape[static_cast<unsigned char>(c)]) return true;
    }
    return false;
  }
  std::uint64_t w;
  for (std::size_t i = 0; i + 8 <= n; i += 8) {
    std::memcpy(&w, s.data() + i, 8);
    if (internal::WordNeedsEscape(w)) return true;
  }
  // The tail as the last 8 bytes, overlapping what was checked.
  std::memcpy(&w, s.data() + n - 8, 8);
  return internal::WordNeedsEscape(w);
}

// Appends the content of a JSON string literal for `s` (no quotes), escaping as RFC 8259
// requires. Bytes >= 0x80 are copied as they are (the input is UTF-8).
inline void AppendJsonStringContent(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (!NeedsEscape(s)) {
    out.append(s);
    return;
  }
  std::size_t run = 0;  // start of the current run of bytes that need no escape
  for (std::size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (!internal::kNeedsEscape[c]) continue;
    out.append(s.data() + run, i - run);
    run = i + 1;
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        out += "\\u00";
        out += kHex[c >> 4];
        out += kHex[c & 15];
    }
  }
  out.append(s.data() + run, s.size() - run);
}

// Appends `s` as a JSON string literal, with quotes.
inline void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  AppendJsonStringContent(out, s);
  out += '"';
}

// For replies of thousands of names, written in place rather than appended piece by piece:
// JsonStringSize(s) is what AppendJsonString(out, s) appends, and WriteJsonString writes it at `p`
// (which has room for it) and returns the end.
inline std::size_t JsonStringSize(std::string_view s) {
  if (!NeedsEscape(s)) return s.size() + 2;
  std::size_t size = 2;
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (!internal::kNeedsEscape[c]) {
      size += 1;
    } else if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
      size += 2;
    } else {
      size += 6;
    }
  }
  return size;
}

inline char* WriteJsonString(char* p, std::string_view s) {
  *p++ = '"';
  if (!NeedsEscape(s)) {
    std::memcpy(p, s.data(), s.size());
    p += s.size();
  } else {
    std::string escaped;
    AppendJsonStringContent(escaped, s);
    std::memcpy(p, escaped.data(), escaped.size());
    p += escaped.size();
  }
  *p++ = '"';
  return p;
}

// Writes `text` at `p` and returns the end.
inline char* WriteBytes(char* p, std::string_view text) {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

// Appends `data` in standard base64 (RFC 4648 §4, with '=' padding), as Go encodes []byte.
inline void AppendBase64(std::string& out, std::string_view data) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::size_t at = out.size();
  out.resize(at + (data.size() + 2) / 3 * 4);
  char* p = out.data() + at;
  const auto* in = reinterpret_cast<const unsigned char*>(data.data());
  std::size_t i = 0;
  for (; i + 3 <= data.size(); i += 3) {
    const std::uint32_t v =
        (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | std::uint32_t{in[i + 2]};
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = kAlphabet[(v >> 6) & 63];
    *p++ = kAlphabet[v & 63];
  }
  if (const std::size_t rest = data.size() - i; rest > 0) {
    std::uint32_t v = std::uint32_t{in[i]} << 16;
    if (rest == 2) v |= std::uint32_t{in[i + 1]} << 8;
    *p++ = kAlphabet[(v >> 18) & 63];
    *p++ = kAlphabet[(v >> 12) & 63];
    *p++ = rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
    *p++ = '=';
  }
}

// Decodes standard base64 (RFC 4648 §4): whole quanta, '=' padding only at the end. Line breaks
// and spaces are skipped (a PEM or YAML value may be wrapped). Nullopt for anything else.
inline std::optional<std::string> DecodeBase64(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  std::string out;
  out.reserve(in.size() / 4 * 3);
  std::uint32_t bits = 0;
  int have = 0;
  std::size_t symbols = 0, padding = 0;
  for (const char c : in) {
    if (c == '\n' || c == '\r' || c == ' ') continue;
    ++symbols;
    if (c == '=') {
      if (++padding > 2) return std::nullopt;
      continue;
    }
    const int v = value(c);
    if (v < 0 || padding > 0) return std::nullopt;  // data after padding
    bits = (bits << 6) | static_cast<std::uint32_t>(v);
    have += 6;
    if (have >= 8) {
      have -= 8;
      out.push_back(static_cast<char>((bits >> have) & 0xff));
    }
  }
  if (symbols % 4 != 0) return std::nullopt;
  return out;
}

}  // namespace hyperplace::json
