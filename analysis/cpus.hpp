// CPU views: per vCPU, the authoritative state beside the hypervisor's clear
// view, field by field (pvinspect cpus). No key needed: the decryptor hands in
// the decrypted states; a plain vmcore's come from its notes.
#pragma once
#include <string>
#include <vector>

#include "format/core_file.hpp"
#include "format/pv.hpp"

namespace pvdump::analysis {

// One vCPU of a sealed dump once its state is decrypted (decryptor::cpu_states).
struct CpuRecord {
    unsigned index;
    format::CpuState state;       // decrypted: the truth
    format::CpuState hypervisor;  // the clear notes: the hypervisor's view
    bool has_osii;
};

// ---- cpus ------------------------------------------------------------------------

struct CpuField {
    std::string name;        // "psw.mask", "gpr3", "cr0", "vr17", "prefix", ...
    std::string value;       // the authoritative value: decrypted, or the notes of a plain vmcore
    std::string hypervisor;  // the hypervisor's clear view (PV dumps only; empty otherwise)
    bool differs = false;
};

struct CpuComparison {
    unsigned index = 0;
    bool has_osii = false;
    std::vector<CpuField> fields;  // fixed order, see cpu_field_names()
    unsigned differing = 0;
};

struct CpusReport {
    bool pv = false;  // false: a plain vmcore, `value` comes from the clear notes
    std::vector<CpuComparison> cpus;
};

// The field names in report order.
std::vector<std::string> cpu_field_names();
// Decrypted (authoritative) states beside the hypervisor's view.
CpusReport compare_cpus(const std::vector<CpuRecord>& records);
// A plain vmcore's CPUs from its notes.
CpusReport plain_cpus(const format::CoreFile& vmcore);
// One plain sentence explaining has_osii for a CPU.
std::string osii_sentence(const CpuComparison& cpu);

}  // namespace pvdump::analysis
