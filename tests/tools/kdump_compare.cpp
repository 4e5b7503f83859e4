// kdump_compare A B: compares two kdump-compressed files page by page, as the
// makedumpfile reference test needs: the 1st bitmaps (pages that exist), the 2nd
// bitmaps (pages kept), and every kept page's decompressed bytes. The stored form
// (compression, layout) may differ. Prints one summary line; exit 0 when equal,
// 1 when they differ (the first differences are listed), 4 when a file is malformed.
#include <cstring>
#include <iostream>
#include <vector>

#include "format/error.hpp"
#include "format/kdump_reader.hpp"

int main(int argc, char** argv) {
    using namespace pvdump;
    if (argc != 3) {
        std::cerr << "usage: kdump_compare A.kdump B.kdump\n";
        return 2;
    }
    try {
        format::KdumpFile a(argv[1]), b(argv[2]);
        const std::uint64_t n = std::max(a.info().max_mapnr, b.info().max_mapnr);
        std::uint64_t present = 0, kept = 0, differences = 0;
        std::vector<std::uint8_t> pa(4096), pb(4096);
        auto report = [&](const std::string& what) {
            if (++differences <= 10) std::cerr << "kdump_compare: " << what << "\n";
        };
        for (std::uint64_t pfn = 0; pfn < n; ++pfn) {
            const bool ea = a.present(pfn), eb = b.present(pfn);
            const bool ka = a.dumped(pfn), kb = b.dumped(pfn);
            if (ea != eb) report("page " + hex(pfn * 4096) + " exists in " + (ea ? argv[1] : argv[2]) + " only");
            if (ka != kb) report("page " + hex(pfn * 4096) + " is kept in " + (ka ? argv[1] : argv[2]) + " only");
            present += ea;
            if (ka && kb) {
                ++kept;
                a.read_page(pfn, pa.data());
                b.read_page(pfn, pb.data());
                if (std::memcmp(pa.data(), pb.data(), 4096) != 0) report("page " + hex(pfn * 4096) + " differs");
            }
        }
        std::cout << "kdump_compare: " << present << " pages exist, " << kept << " kept in both and compared, "
                  << differences << " differences (" << argv[1] << ": dump level " << a.info().dump_level << ", "
                  << a.info().pages_dumped << " kept; " << argv[2] << ": dump level " << b.info().dump_level << ", "
                  << b.info().pages_dumped << " kept)\n";
        return differences ? 1 : 0;
    } catch (const Error& e) {
        std::cerr << "kdump_compare: error: " << e.what() << "\n";
        return 4;
    }
}
