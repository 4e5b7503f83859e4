// A sink for what a lenient parse finds wrong with its input (cf. LLVM's
// WarningHandler): a parser given a Diagnostics* records each problem here and
// goes on with what is in bounds; given nullptr it throws Error(Format) with
// the same message at the first problem (strict). Used by CoreFile::index for
// `pvinspect info` on damaged files.
#pragma once
#include <cstdint>
#include <optional>
#include <string_view>
#include <type_traits>
#include <string>
#include <vector>

#include "format/error.hpp"

namespace pvdump::format {

struct Diagnostic {
    enum class Severity {
        Error,    // strict mode refuses the file: what follows from it is unreliable
        Warning,  // strict mode too lives with it (e.g. an unreadable section table)
    };
    Severity severity = Severity::Error;
    std::string field;         // what was being read: "e_phnum", "program header 2 (PT_LOAD)", ...
    std::uint64_t offset = 0;  // where: the file offset of that field or structure
    std::string message;       // one line, as strict mode would throw it
};

class Diagnostics {
public:
    void report(Diagnostic d) { all_.push_back(std::move(d)); }
    const std::vector<Diagnostic>& all() const { return all_; }
    bool empty() const { return all_.empty(); }
    // The first Error, or nullptr when there are only warnings.
    const Diagnostic* first_error() const {
        for (const Diagnostic& d : all_)
            if (d.severity == Diagnostic::Severity::Error) return &d;
        return nullptr;
    }

private:
    std::vector<Diagnostic> all_;
};

// The boundary of a reader that stops at the first fault by throwing (the
// guest-memory walkers: VMCOREINFO, os_info, the printk ring): with a sink,
// its FormatError becomes an Error finding on `field` and the result is
// empty; any other category passes untouched. With a null sink, `read` runs
// strict and throws as it would. The one place an input fault is caught.
template <class Read>
auto lenient(Diagnostics* sink, std::string_view field, Read&& read) -> std::optional<std::invoke_result_t<Read&>> {
    if (!sink) return read();
    try {
        return read();
    } catch (const FormatError& e) {  // the input's fault, recorded: the caller goes on without this part
        sink->report({Diagnostic::Severity::Error, std::string(field), 0, e.what()});
        return std::nullopt;
    }
}

}  // namespace pvdump::format
