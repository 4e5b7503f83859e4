#include "format/xts.hpp"

#include <cstdlib>
#include <string_view>

#include "format/error.hpp"
#include "format/xts_x86.hpp"

namespace pvdump::format {
namespace {

constexpr XtsImpl kAll[] = {XtsImpl::VaesAvx512, XtsImpl::VaesAvx2, XtsImpl::OpenSSL};  // fastest first

// PVDUMP_AES, read once: the implementation, or why the value is refused.
struct Selection {
    XtsImpl impl = XtsImpl::OpenSSL;
    bool forced = false;
    std::string error;
};

Selection select_from_environment() {
    Selection s;
    s.impl = xts_best_impl();
    const char* env = std::getenv("PVDUMP_AES");
    if (!env || !*env) return s;
    const std::string_view v(env);
    if (v == "auto") return s;
    s.forced = true;
    if (v == "vaes") {
        s.impl = xts_impl_supported(XtsImpl::VaesAvx512) ? XtsImpl::VaesAvx512 : XtsImpl::VaesAvx2;
    } else {
        bool known = false;
        for (XtsImpl i : kAll)
            if (v == xts_impl_name(i)) s.impl = i, known = true;
        if (!known) {
            s.error = "PVDUMP_AES=" + std::string(v) +
                      " is not an AES implementation (auto, openssl, vaes, vaes-avx512 or vaes-avx2)";
            return s;
        }
    }
    if (!xts_impl_supported(s.impl))
        s.error = "PVDUMP_AES=" + std::string(v) + ": this CPU (or this build) cannot run " + xts_impl_name(s.impl) +
                  (s.impl == XtsImpl::VaesAvx512 ? " (needs VAES, VPCLMULQDQ and AVX-512 F/BW/VL)"
                                                  : " (needs VAES, VPCLMULQDQ and AVX2)");
    return s;
}

const Selection& selection() {
    static const Selection s = select_from_environment();
    return s;
}

}  // namespace

const char* xts_impl_name(XtsImpl impl) noexcept {
    switch (impl) {
    case XtsImpl::OpenSSL: return "openssl";
    case XtsImpl::VaesAvx2: return "vaes-avx2";
    case XtsImpl::VaesAvx512: return "vaes-avx512";
    }
    return "unknown";
}

bool xts_impl_supported(XtsImpl impl) noexcept {
    switch (impl) {
    case XtsImpl::OpenSSL: return true;
    case XtsImpl::VaesAvx2: return PVDUMP_XTS_X86 && xts_x86::cpu_has_avx2();
    case XtsImpl::VaesAvx512: return PVDUMP_XTS_X86 && xts_x86::cpu_has_avx512();
    }
    return false;
}

XtsImpl xts_best_impl() noexcept {
    for (XtsImpl i : kAll)
        if (xts_impl_supported(i)) return i;
    return XtsImpl::OpenSSL;
}

XtsImpl xts_selected_impl() {
    const Selection& s = selection();
    if (!s.error.empty()) fail(ErrorCode::InvalidArgument, s.error);
    return s.impl;
}

const char* xts_selected_name() noexcept {
    try {
        const Selection& s = selection();
        return s.error.empty() ? xts_impl_name(s.impl) : "invalid PVDUMP_AES";
    } catch (...) {  // noexcept by contract (a name for --version and logs); xts_selected_impl() raises the reason
        return "invalid PVDUMP_AES";
    }
}

std::string xts_impl_description() {
    const Selection& s = selection();
    std::string available;
    for (XtsImpl i : kAll)
        if (xts_impl_supported(i)) available += std::string(available.empty() ? "" : ", ") + xts_impl_name(i);
    if (!s.error.empty()) return "none: " + s.error;
    return std::string(xts_impl_name(s.impl)) + (s.forced ? " (forced by PVDUMP_AES" : " (chosen by CPUID") +
           "; this CPU can run: " + available + ")";
}

}  // namespace pvdump::format
