// Validating skip for simdjson On-Demand decoders: consumes a value a decoder has no use for and
// checks every token in it. On-Demand would otherwise skip it by counting brackets and accept
// malformed JSON there. Shared by the extender's and the webhook's decoders; include it only from
// code that links simdjson.
#pragma once

#include <simdjson.h>

#include "common/json.h"

namespace hyperplace::json {

// Consumes `v` (at nesting `depth`), validating it: structure by iteration, keys and strings for
// their escapes only (stage 1 already checked UTF-8 and quoting), numbers on their token. Returns
// SUCCESS or the first error; DEPTH_ERROR beyond `max_depth`.
inline simdjson::error_code SkipValue(simdjson::ondemand::value& v, int depth, int max_depth) {
  namespace od = simdjson::ondemand;
  if (depth > max_depth) return simdjson::DEPTH_ERROR;
  od::json_type type{};
  if (auto e = v.type().get(type)) return e;
  switch (type) {
    case od::json_type::object: {
      od::object obj;
      if (auto e = v.get_object().get(obj)) return e;
      for (auto result : obj) {
        od::field field;
        if (auto e = std::move(result).get(field)) return e;
        if (!ValidKey(field.key().raw())) return simdjson::STRING_ERROR;
        if (auto e = SkipValue(field.value(), depth + 1, max_depth)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::array: {
      od::array arr;
      if (auto e = v.get_array().get(arr)) return e;
      for (auto result : arr) {
        if (auto e = result.error()) return e;
        if (auto e = SkipValue(result.value_unsafe(), depth + 1, max_depth)) return e;
      }
      return simdjson::SUCCESS;
    }
    case od::json_type::string: {
      // The token runs from the opening quote to the next token; memchr finds the rare escape.
      // The value must still be consumed: left unconsumed, simdjson's own skip treats a following
      // ':' as an opening bracket and misreads malformed input (found by fuzzing).
      std::string_view token = v.raw_json_token();
      od::raw_json_string raw;
      if (auto e = v.get_raw_json_string().get(raw)) return e;
      if (!HasBackslash(token)) return simdjson::SUCCESS;
      return ValidEscapes(token.data() + 1) ? simdjson::SUCCESS : simdjson::STRING_ERROR;
    }
    case od::json_type::number: {
      std::string_view token = v.raw_json_token();
      while (!token.empty() && IsJsonSpace(token.back())) token.remove_suffix(1);
      if (!IsJsonNumber(token)) return simdjson::NUMBER_ERROR;
      return v.get_number().error();  // consumes it (see above)
    }
    case od::json_type::boolean: {
      bool b;
      return v.get_bool().get(b);
    }
    case od::json_type::null: {
      bool null = false;
      if (auto e = v.is_null().get(null)) return e;
      return null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
    }
  }
  return simdjson::TAPE_ERROR;
}

}  // namespace hyperplace::json
