// The vmcore's memory through the page pipeline, and the whole owner path.
#include <sys/stat.h>

#include "decryptor/dump.hpp"
#include "decryptor/sealed_dump.hpp"
#include "guest/s390.hpp"
#include "decryptor/kdump_output.hpp"

namespace pvdump::decryptor {
using namespace format;

void decrypt_memory(const SealedDump& dump, const VmcoreLayout& layout, OutputFile& out, const DecryptOptions& options) {
    const auto& blocks = dump.pages().blocks();
    if (blocks.size() != layout.ranges().size()) fail(ErrorCode::Internal, "layout does not match the dump's blocks");
    auto offset_of = [&layout](const pipeline::WorkItem& item) {
        return layout.range_offset(item.block) + item.first_page * kPageSize;
    };
    if (out.is_stream()) {
        out.write_all(layout.head());
        pipeline::StreamSink sink(out, offset_of, layout.head().size());
        decrypt_pages(dump, sink, options);
    } else {
        out.set_size(layout.file_size());
        out.pwrite_all(layout.head(), 0);
        pipeline::FileSink sink(out, offset_of);
        decrypt_pages(dump, sink, options);
    }
}

namespace {

void refuse_input_as_output(const DecryptRequest& req) {
    if (req.output_path == "-") return;
    struct stat in_st {}, out_st {};
    if (stat(req.dump_path.c_str(), &in_st) == 0 && stat(req.output_path.c_str(), &out_st) == 0 &&
        in_st.st_dev == out_st.st_dev && in_st.st_ino == out_st.st_ino)
        fail(ErrorCode::InvalidArgument, "the output '" + req.output_path + "' is the input dump itself");
}

void refuse_plan_errors(const PagePlan& plan) {
    std::size_t errors = 0;
    const Finding* first = nullptr;
    for (auto& f : plan.findings)
        if (f.severity == Severity::Error) {
            if (!first) first = &f;
            ++errors;
        }
    std::string more = errors > 1 ? " (and " + std::to_string(errors - 1) + " more; 'pvinspect verify' lists them)" : "";
    fail(ErrorCode::Verify, first->message + more + "; use --force to write the vmcore anyway");
}

}  // namespace

CheckedDump check_dump(SealedDump& dump, const std::string& path, Bytes cck, bool force, unsigned threads) {
    dump.unlock(cck);
    if (dump.file().loads().empty())
        fail(ErrorCode::Format, "'" + path + "' has no PT_LOAD segment: the dump holds no guest memory");
    CheckedDump c;
    DecryptResult& result = c.result;
    result.cpus = dump.cpus();
    result.plan = page_plan(dump.pages(), &dump.keys().nonce, 1000, /*check_zero_content=*/false, threads);
    if (result.plan.has_error() && !force) refuse_plan_errors(result.plan);
    // With --force, pages without a tweak component become holes, but p_memsz
    // is untrusted (up to 2^64): no dump of this size can describe more pages
    // than it holds 16-byte components, so a larger claim is refused.
    const std::uint64_t file_size = dump.file().file_size();
    if (const std::uint64_t pages = dump.pages().total_pages(); pages > file_size / kTweakSize)
        fail(ErrorCode::Format, "the PT_LOADs claim " + hex(pages * kPageSize) + " bytes of guest memory, more than a " +
                                    hex(file_size) + "-byte dump can describe (16 bytes of pv_mem_meta per 4 KiB page)");

    const auto memory = dump.memory();
    analysis::TracedMemory traced(*memory);
    traced.begin("VMCOREINFO (the note or os_info it was found through)");
    const std::optional<std::string> vmcoreinfo = guest::find_vmcoreinfo(traced);
    result.vmcoreinfo_found = vmcoreinfo.has_value();
    if (vmcoreinfo) result.host_supplied = analysis::host_supplied(traced, analysis::PageOrigins(dump.pages()));

    std::vector<CpuState> states;
    for (auto& cpu : result.cpus) states.push_back(cpu.state);
    std::vector<MemoryRange> ranges;
    for (auto& b : dump.pages().blocks()) ranges.push_back({b.paddr, b.pages * kPageSize});
    c.layout.emplace(states, ranges, vmcoreinfo);
    result.memory_bytes = dump.pages().total_pages() * kPageSize;
    result.blocks = ranges.size();
    c.vmcoreinfo = vmcoreinfo;
    c.states = std::move(states);
    c.ranges = std::move(ranges);
    return c;
}

DecryptResult decrypt_dump(const DecryptRequest& req, Bytes cck) {
    SealedDump dump = SealedDump::open(req.dump_path);
    refuse_input_as_output(req);
    // Refuse an existing output before any expensive work.
    OutputFile out(req.output_path, req.overwrite);

    dump.set_shared_as_zero(req.shared_as_zero);
    CheckedDump checked = check_dump(dump, req.dump_path, cck, req.force, req.options.threads);
    if (req.kdump)
        checked.result.kdump =
            write_kdump(dump, checked.states, checked.ranges, checked.vmcoreinfo, out, req.options, *req.kdump);
    else
        decrypt_memory(dump, *checked.layout, out, req.options);
    out.commit();
    return std::move(checked.result);
}

}  // namespace pvdump::decryptor
