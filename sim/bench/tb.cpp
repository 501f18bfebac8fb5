// Verilator testbench for the vsnic core: runs the per-cycle input vectors written by
// `cargo run -p vsnic-sim --example bench -- --vectors FILE` through the emitted Verilog and
// prints the same figures and digest as the RustHDL run. Built by sim/bench/verilator.sh with
// -DWIDTH=64 or 512.
#include "Vtop.h"
#include "verilated.h"
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <vector>

#ifndef WIDTH
#error "build with -DWIDTH=64 or -DWIDTH=512"
#endif
static const int LANES = WIDTH / 8;
static const int REC = 16 + LANES;

struct Digest {
    uint64_t h = 0xcbf29ce484222325ull;
    void add(const uint8_t* p, size_t n) {
        for (size_t i = 0; i < n; i++) { h ^= p[i]; h *= 0x100000001b3ull; }
    }
};

#if WIDTH == 64
static void set_data(Vtop* t, const uint8_t* d) {
    uint64_t v; std::memcpy(&v, d, 8); t->s_data = v;
}
static void get_data(const QData& s, uint8_t* out) { uint64_t v = s; std::memcpy(out, &v, 8); }
#define TX_DATA(t) (t)->m_tx_data
#define EXC_DATA(t) (t)->m_exc_data
#else
static void set_data(Vtop* t, const uint8_t* d) {
    for (int i = 0; i < LANES / 4; i++) { uint32_t w; std::memcpy(&w, d + 4 * i, 4); t->s_data[i] = w; }
}
template <class V> static void get_data(const V& s, uint8_t* out) {
    for (int i = 0; i < LANES / 4; i++) { uint32_t w = s[i]; std::memcpy(out + 4 * i, &w, 4); }
}
#define TX_DATA(t) (t)->m_tx_data
#define EXC_DATA(t) (t)->m_exc_data
#endif

int main(int argc, char** argv) {
    if (argc < 2) { std::fprintf(stderr, "usage: %s VECTORS [min_seconds]\n", argv[0]); return 2; }
    double min_seconds = argc > 2 ? std::atof(argv[2]) : 2.0;
    FILE* f = std::fopen(argv[1], "rb");
    if (!f) { std::perror(argv[1]); return 1; }
    uint8_t hdr[16];
    if (std::fread(hdr, 1, 16, f) != 16 || std::memcmp(hdr, "VSNA", 4) != 0) { std::fprintf(stderr, "bad vector file\n"); return 1; }
    uint32_t width, cycles;
    std::memcpy(&width, hdr + 4, 4); std::memcpy(&cycles, hdr + 8, 4);
    if (width != WIDTH) { std::fprintf(stderr, "vectors are for width %u, testbench for %d\n", width, WIDTH); return 1; }
    std::vector<uint8_t> vec((size_t)cycles * REC);
    if (std::fread(vec.data(), 1, vec.size(), f) != vec.size()) { std::fprintf(stderr, "short vector file\n"); return 1; }
    std::fclose(f);

    VerilatedContext ctx;
    Vtop* t = new Vtop(&ctx);
    std::vector<uint8_t> txf, excf;
    uint8_t lane[LANES];
    Digest tx, exc, rd, tx_first, exc_first, rd_first;
    uint64_t ntx = 0, nexc = 0, nrd = 0, ntx_first = 0, nexc_first = 0, nrd_first = 0, total = 0;
    bool read_pending = false;
    int passes = 0;
    t->clock = 0;
    t->m_exc_ready = 1;
    t->eval();
    auto start = std::chrono::steady_clock::now();
    double secs = 0;
    // Repeat the vector set until min_seconds have passed (the table writes are idempotent and
    // the core is idle at the end of a pass); the digest of the first pass is the one compared.
    do {
        for (uint32_t c = 0; c < cycles; c++) {
            const uint8_t* r = &vec[(size_t)c * REC];
            t->s_valid = r[0] & 1;
            t->s_last = (r[0] >> 1) & 1;
            t->csr_write = (r[0] >> 2) & 1;
            t->csr_read = (r[0] >> 3) & 1;
            t->s_bytes = r[1];
            t->s_user = r[2];
            uint32_t a, v; std::memcpy(&a, r + 4, 4); std::memcpy(&v, r + 8, 4);
            t->csr_addr = a; t->csr_wdata = v;
            uint32_t now; std::memcpy(&now, r + 12, 4);
            t->now = now;
            set_data(t, r + 16);
            t->clock = 0;
            t->eval();
            // a read's data is on csr_rdata the cycle after the read (as the RustHDL driver takes it)
            if (read_pending) {
                uint32_t v = t->csr_rdata;
                rd.add((const uint8_t*)&c, 4); rd.add((const uint8_t*)&v, 4); nrd++;
            }
            read_pending = (r[0] >> 3) & 1;
            if (t->m_tx_valid) {
                int n = t->m_tx_bytes;
                get_data(TX_DATA(t), lane);
                txf.insert(txf.end(), lane, lane + (n < LANES ? n : LANES));
                if (t->m_tx_last) {
                    uint8_t port = t->m_tx_port;
                    tx.add((const uint8_t*)&c, 4);  // cycle-exact: the completion cycle counts
                    tx.add(&port, 1); tx.add(txf.data(), txf.size()); txf.clear(); ntx++;
                }
            }
            if (t->m_exc_valid) {
                int n = t->m_exc_bytes;
                get_data(EXC_DATA(t), lane);
                excf.insert(excf.end(), lane, lane + (n < LANES ? n : LANES));
                if (t->m_exc_last) { exc.add((const uint8_t*)&c, 4); exc.add(excf.data(), excf.size()); excf.clear(); nexc++; }
            }
            t->clock = 1;
            t->eval();
        }
        total += cycles;
        if (passes++ == 0) { tx_first = tx; exc_first = exc; rd_first = rd; ntx_first = ntx; nexc_first = nexc; nrd_first = nrd; }
        secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    } while (secs < min_seconds);
    std::printf("verilator width=%d cycles=%u passes=%d seconds=%.3f cycles_per_s=%.0f tx_frames=%llu exc_frames=%llu reads=%llu digest=%016llx%016llx%016llx\n",
                WIDTH, cycles, passes, secs, total / secs, (unsigned long long)ntx_first,
                (unsigned long long)nexc_first, (unsigned long long)nrd_first,
                (unsigned long long)tx_first.h, (unsigned long long)exc_first.h,
                (unsigned long long)rd_first.h);
    t->final();
    delete t;
    return 0;
}
