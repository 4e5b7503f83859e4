// pvinspect's --json documents are nlohmann::ordered_json values: keys keep the
// order they are set in, which is the order docs/pvinspect.md documents (and
// docs/schema/pvinspect-*.schema.json checks). Header-only, so the tests that
// link only the libraries can use it too.
#pragma once
#include <optional>
#include <ostream>

#include <nlohmann/json.hpp>

namespace pvdump::tools {

using Json = nlohmann::ordered_json;

// null when absent, the value otherwise (the schema's "absent is null, never omitted").
template <class T>
Json json_opt(const std::optional<T>& v) {
    return v ? Json(*v) : Json(nullptr);
}

// The document, two-space indented, and a newline. Guest strings may hold any
// bytes: control characters are escaped and a byte that is not UTF-8 becomes
// U+FFFD, so the output is always valid JSON.
inline std::string json_text(const Json& doc) {
    return doc.dump(2, ' ', false, Json::error_handler_t::replace) + "\n";
}
inline void write_json(std::ostream& out, const Json& doc) { out << json_text(doc); }

}  // namespace pvdump::tools
