// Escaping for HTML and XML text and attribute values (the bench report, the topology page).
#pragma once

#include <string>
#include <string_view>

namespace hyperplace::html {

// `s` with & < > " ' as entities; control characters other than tab and newline (which XML 1.0
// forbids even as references) become '?'. Safe in element text and in quoted attributes.
inline std::string Escape(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') ? '?' : c;
    }
  }
  return out;
}

}  // namespace hyperplace::html
