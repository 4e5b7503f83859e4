// pvdecrypt --format kdump: the sealed dump's pages decrypted, filtered by the dump
// level and compressed on the worker threads, then written in address order by one
// writer into makedumpfile's kdump-compressed format (format/kdump_writer.hpp).
#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include "decryptor/dump.hpp"
#include "decryptor/sealed_dump.hpp"
#include "format/page_pipeline.hpp"
#include "analysis/page_exclusion.hpp"
#include "format/kdump_writer.hpp"

namespace pvdump::decryptor {
using analysis::PageExclusion;

// Error(InvalidArgument) unless 0..31 (makedumpfile's -d bits).
void check_dump_level(unsigned level);

// The header fields pvdecrypt can tell from the guest: utsname from init_uts_ns
// (through VMCOREINFO) when it reads back as "Linux", else OSRELEASE only.
void fill_kdump_utsname(format::KdumpHeaderInfo& info, const format::MemoryView& memory);

// The page pipeline's kdump end (format/page_pipeline.hpp): an ordered sink whose
// worker stage decides each page's fate and compresses it on the worker thread;
// consume() appends the batch to the writer in address order. `exclusion`
// (levels 2-16) may be null.
class KdumpSink final : public format::pipeline::PageSink {
public:
    KdumpSink(format::KdumpWriter& writer, format::KdumpCompression compression, unsigned dump_level,
              const PageExclusion* exclusion);
    ~KdumpSink() override;
    bool ordered() const override { return true; }
    bool scan_zero() const override { return true; }
    void worker_stage(format::pipeline::Batch& batch) override;
    void consume(format::pipeline::Batch& batch) override;

private:
    struct State;
    std::unique_ptr<State> s_;
};

// Levels 2-16 need the guest's VMCOREINFO and struct page array: when they cannot
// be read, Error(Format) names what is missing, or, with request.fallback, the
// dump is written at level 1 and `fallback` says why. Writes (not commits) `out`.
KdumpOutcome write_kdump(const SealedDump& dump, const std::vector<format::CpuState>& cpus,
                         const std::vector<format::MemoryRange>& ranges,
                         const std::optional<std::string>& vmcoreinfo, format::OutputFile& out,
                         const DecryptOptions& options, const KdumpRequest& request);

}  // namespace pvdump::decryptor
