// One emitter per pvinspect report, two back ends (docs/pvinspect.md, "Adding a report").
//
// A report's emit function calls, once each and in the document's order,
// field(key, value) for every member of its JSON document, and text(line) for
// every piece of its text output, in the text's order. The JSON back end writes
// the document and ignores the lines. The text back end builds the same document
// and, once it is complete, runs the lines on it: a line is a plain function
// (no captures) that sees only the document, through a View, so the text cannot
// show a value the JSON lacks. A View records what the lines read; with
// PVDUMP_REPORT_CHECK set in the environment (the tests set it), a member that no
// line read and none marked not_shown() is an internal error, so the JSON cannot
// carry a value the text forgot by accident either.
//
// Header-only, so the tests can check the mechanism without the tools.
#pragma once
#include <cstdint>
#include <cstdlib>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tools/report_json.hpp"

namespace pvdump::tools::report {

// What the text back end may be asked to leave out or add; the document never changes.
struct TextOptions {
    bool diff_only = false;                                   // cpus --diff-only
    bool timestamps = true, show_level = false, show_caller = false, show_dict = false;  // dmesg -t -m -c -d
};

// The members of a document the lines have read: JSON Pointer-like paths, with
// every array index written as "[]" (a member counts once for all the items).
class Coverage {
public:
    void read(const std::string& path) { read_.insert(path); }
    void not_shown(const std::string& path) { whole_.insert(path); }

    // The leaves of `doc` (scalars, nulls, empty arrays and objects) that no line
    // read, and that are not under a member marked not_shown.
    std::set<std::string> unshown(const Json& doc) const {
        std::set<std::string> out;
        walk(doc, "", out);
        return out;
    }

private:
    void walk(const Json& node, const std::string& path, std::set<std::string>& out) const {
        if (whole_.count(path)) return;
        if (node.is_object() && !node.empty()) {
            for (const auto& [key, value] : node.items()) walk(value, path + "/" + key, out);
        } else if (node.is_array() && !node.empty()) {
            for (const auto& item : node) walk(item, path + "/[]", out);
        } else if (!read_.count(path)) {
            out.insert(path);
        }
    }

    std::set<std::string> read_, whole_;
};

// One node of a finished document, as a text line reads it. Every accessor
// records the member it reads; a missing member or one of another type is a
// programming error (nlohmann's type_error / out_of_range).
class View {
public:
    View(const Json& node, Coverage& coverage, std::string path)
        : node_(&node), cov_(&coverage), path_(std::move(path)) {}

    // The member exists (null or not); reads nothing.
    bool contains(const char* key) const { return node_->contains(key); }
    // Present and not null.
    bool has(const char* key) const { return !get(key).is_null(); }
    std::uint64_t u64(const char* key) const { return get(key).get<std::uint64_t>(); }
    std::int64_t i64(const char* key) const { return get(key).get<std::int64_t>(); }
    double number(const char* key) const { return get(key).get<double>(); }
    bool flag(const char* key) const { return get(key).get<bool>(); }
    const std::string& str(const char* key) const { return get(key).get_ref<const std::string&>(); }
    // A guest address or register value, written "0x..." in the document.
    std::uint64_t addr(const char* key) const { return std::stoull(str(key), nullptr, 16); }
    View at(const char* key) const { return View(get(key), *cov_, path_ + "/" + key); }
    std::size_t count(const char* key) const { return get(key).size(); }
    std::vector<View> items(const char* key) const {
        std::vector<View> out;
        for (const auto& item : get(key)) out.emplace_back(item, *cov_, path_ + "/" + key + "/[]");
        return out;
    }
    // The text leaves this member out on purpose (the caller says why), or shows
    // it by other means (stderr).
    void not_shown(const char* key) const { cov_->not_shown(path_ + "/" + key); }
    // The same for this whole node.
    void not_shown() const { cov_->not_shown(path_); }

private:
    const Json& get(const char* key) const {
        cov_->read(path_ + "/" + key);
        return node_->at(key);
    }

    const Json* node_;
    Coverage* cov_;
    std::string path_;
};

// A piece of the text output, written from the finished document.
using Line = void (*)(std::ostream& out, const View& doc, const TextOptions& options);

class Emitter {
public:
    virtual ~Emitter() = default;
    // The next member of the document (keys keep the order of these calls).
    virtual void field(const char* key, Json value) = 0;
    // The next piece of the text output.
    virtual void text(Line line) = 0;
    // Writes the report to `out`.
    virtual void finish(std::ostream& out) = 0;
};

class JsonEmitter final : public Emitter {
public:
    void field(const char* key, Json value) override { doc_[key] = std::move(value); }
    void text(Line) override {}
    void finish(std::ostream& out) override { write_json(out, doc_); }

private:
    Json doc_ = Json::object();
};

class TextEmitter final : public Emitter {
public:
    explicit TextEmitter(TextOptions options, bool check = std::getenv("PVDUMP_REPORT_CHECK") != nullptr)
        : options_(options), check_(check) {}
    void field(const char* key, Json value) override { doc_[key] = std::move(value); }
    void text(Line line) override { lines_.push_back(line); }
    // Throws std::logic_error, naming the members, when checking and a member was not shown.
    void finish(std::ostream& out) override {
        Coverage coverage;
        const View doc(doc_, coverage, "");
        for (Line line : lines_) line(out, doc, options_);
        if (!check_) return;
        std::string missing;
        for (const auto& path : coverage.unshown(doc_)) missing += " " + path;
        if (!missing.empty()) throw std::logic_error("the text report does not show" + missing);
    }

private:
    TextOptions options_;
    bool check_;
    Json doc_ = Json::object();
    std::vector<Line> lines_;
};

}  // namespace pvdump::tools::report
