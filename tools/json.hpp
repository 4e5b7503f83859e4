// A small streaming JSON writer for the tools' --json output: proper string
// escaping (control characters, quotes, backslashes; invalid UTF-8 becomes
// U+FFFD so the output is always valid JSON), two-space indentation, keys in
// the order they are written (the order is part of the documented schema).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace pvdump::tools {

// The JSON string literal for `text`, quotes included.
std::string json_quote(std::string_view text);

class JsonWriter {
public:
    explicit JsonWriter(std::ostream& out) : out_(out) {}
    JsonWriter(const JsonWriter&) = delete;
    JsonWriter& operator=(const JsonWriter&) = delete;
    // Ends the document with a newline once the outermost value is closed.
    ~JsonWriter() = default;

    JsonWriter& begin_object();
    JsonWriter& end_object();
    JsonWriter& begin_array();
    JsonWriter& end_array();
    // The next value belongs to this key (inside an object only).
    JsonWriter& key(std::string_view name);

    JsonWriter& value(std::string_view text);
    JsonWriter& value(const char* text) { return value(std::string_view(text)); }
    JsonWriter& value(const std::string& text) { return value(std::string_view(text)); }
    JsonWriter& value(bool b);
    JsonWriter& value(std::uint64_t n);
    JsonWriter& value(std::int64_t n);
    JsonWriter& value(unsigned n) { return value(std::uint64_t(n)); }
    JsonWriter& value(int n) { return value(std::int64_t(n)); }
    JsonWriter& value(double d);
    JsonWriter& null();

    // key + value in one call.
    template <class T>
    JsonWriter& field(std::string_view name, const T& v) {
        key(name);
        return value(v);
    }
    JsonWriter& null_field(std::string_view name) {
        key(name);
        return null();
    }

private:
    struct Level {
        bool object;
        bool empty = true;
    };
    void before_value();
    void newline();

    std::ostream& out_;
    std::vector<Level> stack_;
    bool after_key_ = false;
};

}  // namespace pvdump::tools
