// A Verilator main for any block with one input stream `i` and one output stream `o`
// (Amaranth lib.stream: i__valid/i__ready/i__payload, o__valid/o__ready/o__payload, clk, rst).
// The clock and the handshakes run here, in C++; Python only writes the problems and reads the result.
//
// Usage: harness IN_FILE OUT_FILE [--settle-every-cycle]
//
// Speed: Verilator evaluates all of the design's input-dependent logic on every eval(), so the
// harness evaluates once per cycle (the rising edge) plus once when the inputs change (to sample
// the handshakes on settled outputs). The falling edge is not evaluated: CLK_PREV names the member
// in which this Verilator keeps the clock's last value for edge detection, and the harness sets it
// to 0. With EDGE_EVAL, the rising edge runs only Verilator's active and NBA phases, not its
// input-combinational (ico) phase: eval() runs that phase every time, but the inputs are unchanged
// since the last evaluation, which left every signal settled (about 29% of the instructions of the
// 4x4 engine). Without CLK_PREV, or with --settle-every-cycle (the reference the tests compare
// against), every cycle is a settle with the clock low and a rising edge, each a full eval().
//
// IN_FILE (little-endian): u32 magic "ATSI", u32 in_words, u32 out_words, u32 problems,
//   u64 seed (back-pressure generator), u64 cycle_limit (per problem, stalls included),
//   u32 first_problem (the index of this file's first problem among all: messages and back-pressure draws use
//   it, so a problem stalls at the same cycles however the problems are split over harness processes),
//   then per problem: u32 in_beats, u32 out_beats, u32 stall (P(o.ready low) in 1/65536 while o.valid),
//   in_beats x in_words u32 payload words (least significant first).
// OUT_FILE: u32 magic "ATSO", u32 problems done, u32 status (0 ok, 1 watchdog, 2 port width mismatch),
//   f64 wall seconds in the cycle loop, then per problem: u64 cycles, u64 stalls, u32 out beats taken,
//   out_beats x out_words u32.
// A problem's cycles run from the edge its first input beat is taken to the edge its last output
// beat is taken, both counted, less the cycles o.ready was held low (the engine freezes in them),
// as attention_tb counts them. Problem k + 1 starts after problem k's last output.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "Vdut.h"
#include "Vdut___024root.h"
#include "verilated.h"
#if __has_include("harness_clock.h")
#include "harness_clock.h"   // written by attnkit.testbench.fast: CLK_PREV and EDGE_EVAL, if this Verilator has them
#endif

// Verilator spells the "__" of Amaranth's port names as "___05F".
#define I_VALID i___05Fvalid
#define I_READY i___05Fready
#define I_PAYLOAD i___05Fpayload
#define O_VALID o___05Fvalid
#define O_READY o___05Fready
#define O_PAYLOAD o___05Fpayload

// Ports of any width: Verilator holds <= 8 bits in CData, <= 16 in SData, <= 32 in IData, <= 64 in
// QData and wider ones in VlWide<N> (N 32-bit words, least significant first).
static void put(CData& p, const uint32_t* w) { p = (CData)w[0]; }
static void put(SData& p, const uint32_t* w) { p = (SData)w[0]; }
static void put(IData& p, const uint32_t* w) { p = w[0]; }
static void put(QData& p, const uint32_t* w) { p = (QData)w[0] | ((QData)w[1] << 32); }
template <std::size_t N> static void put(VlWide<N>& p, const uint32_t* w) {
    for (std::size_t k = 0; k < N; ++k) p[k] = w[k];
}
static void get(const CData& p, uint32_t* w) { w[0] = p; }
static void get(const SData& p, uint32_t* w) { w[0] = p; }
static void get(const IData& p, uint32_t* w) { w[0] = p; }
static void get(const QData& p, uint32_t* w) { w[0] = (uint32_t)p; w[1] = (uint32_t)(p >> 32); }
template <std::size_t N> static void get(const VlWide<N>& p, uint32_t* w) {
    for (std::size_t k = 0; k < N; ++k) w[k] = p[k];
}
template <typename T> static uint32_t words_of(const T&) { return (uint32_t)((sizeof(T) + 3) / 4); }
template <std::size_t N> static uint32_t words_of(const VlWide<N>&) { return (uint32_t)N; }

struct Problem {
    uint32_t in_beats, out_beats, stall;
    std::vector<uint32_t> in;
};

#ifdef EDGE_EVAL
// Verilator's own phase functions (Vdut___024root__*.cpp), looped as its eval() loops them after ico.
bool Vdut___024root___eval_phase__act(Vdut___024root*);
bool Vdut___024root___eval_phase__nba(Vdut___024root*);
static void edge_eval(Vdut& top) {
    bool again;
    do {
        while (Vdut___024root___eval_phase__act(top.rootp)) {}
        again = Vdut___024root___eval_phase__nba(top.rootp);
    } while (again);
}
#endif

static bool rd(FILE* f, void* p, size_t n) { return fread(p, 1, n, f) == n; }

static uint64_t splitmix(uint64_t& s) {
    uint64_t z = (s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

int main(int argc, char** argv) {
    const bool settle_flag = argc == 4 && !strcmp(argv[3], "--settle-every-cycle");
    if (argc != 3 && !settle_flag) {
        fprintf(stderr, "usage: %s IN_FILE OUT_FILE [--settle-every-cycle]\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    uint32_t hdr[4];
    uint64_t seed, limit;
    uint32_t first_problem;
    if (!rd(f, hdr, sizeof hdr) || memcmp(hdr, "ATSI", 4) || !rd(f, &seed, 8) || !rd(f, &limit, 8) || !rd(f, &first_problem, 4)) {
        fprintf(stderr, "%s: not a stream harness input\n", argv[1]);
        return 2;
    }
    const uint32_t in_words = hdr[1], out_words = hdr[2], n = hdr[3];
    std::vector<Problem> problems(n);
    for (auto& p : problems) {
        if (!rd(f, &p.in_beats, 4) || !rd(f, &p.out_beats, 4) || !rd(f, &p.stall, 4)) { fprintf(stderr, "short input\n"); return 2; }
        p.in.resize((size_t)p.in_beats * in_words);
        if (!rd(f, p.in.data(), p.in.size() * 4)) { fprintf(stderr, "short input\n"); return 2; }
    }
    fclose(f);

    VerilatedContext ctx;
    ctx.commandArgs(argc, argv);
    Vdut top(&ctx);
    uint32_t status = 0, done = 0;
    if (words_of(top.I_PAYLOAD) != in_words || words_of(top.O_PAYLOAD) != out_words) {
        fprintf(stderr, "port widths: i %u words, o %u words; the input file says %u, %u\n",
                words_of(top.I_PAYLOAD), words_of(top.O_PAYLOAD), in_words, out_words);
        status = 2;
    }
    std::vector<uint64_t> cycles(n, 0), stalls(n, 0);
    std::vector<uint32_t> taken(n, 0);
    std::vector<std::vector<uint32_t>> out(n);
    std::vector<uint32_t> zero(in_words > out_words ? in_words : out_words, 0);
    const uint32_t* applied = nullptr;   // the input beat on i.payload
#ifdef CLK_PREV
    const bool settle_always = settle_flag;
#else
    const bool settle_always = true;
#endif

    auto t0 = std::chrono::steady_clock::now();
    if (status == 0) {
        top.clk = 0; top.rst = 1; top.I_VALID = 0; top.O_READY = 1;
        put(top.I_PAYLOAD, zero.data());
        top.eval();
        for (int c = 0; c < 2; ++c) { top.clk = 1; top.eval(); top.clk = 0; top.eval(); }
        top.rst = 0;
        for (uint32_t k = 0; k < n && status == 0; ++k) {
            Problem& p = problems[k];
            out[k].resize((size_t)p.out_beats * out_words);
            uint64_t rng = seed ^ (0xd1b54a32d192ed03ULL * ((uint64_t)first_problem + k + 1));   // this problem's draws
            uint32_t sent = 0, got = 0;
            uint64_t elapsed = 0, first = 0, last = 0, held = 0;
            bool started = false;
            while (got < p.out_beats) {
                // this cycle's inputs; the design settles on them (clock low) only when they differ from
                // those of its last evaluation, as the outputs it shows are then already the right ones
                const bool valid = sent < p.in_beats;
                const uint32_t* beat = valid ? &p.in[(size_t)sent * in_words] : nullptr;
                if (settle_always || valid != (bool)top.I_VALID || (valid && beat != applied) || !top.O_READY) {
                    top.I_VALID = valid;
                    if (valid && beat != applied) { put(top.I_PAYLOAD, beat); applied = beat; }
                    top.O_READY = 1;
                    top.eval();
                }
                bool ready = true;
                if (top.O_VALID && p.stall && (uint32_t)(splitmix(rng) >> 48) < p.stall) {
                    ready = false;
                    top.O_READY = 0;
                    top.eval();
                }
                if (top.I_VALID && top.I_READY) {
                    if (!started) { started = true; first = elapsed; }
                    ++sent;
                }
                if (top.O_VALID) {
                    if (ready) {
                        get(top.O_PAYLOAD, &out[k][(size_t)got * out_words]);
                        ++got;
                        last = elapsed;
                    } else {
                        ++held;
                    }
                }
                top.clk = 1;
#ifdef EDGE_EVAL
                if (!settle_always) edge_eval(top); else
#endif
                top.eval();
                top.clk = 0;
#ifdef CLK_PREV
                if (!settle_always) top.rootp->CLK_PREV = 0;   // the falling edge, without an evaluation
#endif
                ++elapsed;
                if (elapsed > limit) {
                    fprintf(stderr, "watchdog: problem %u: %u of %u input beats taken, %u of %u output beats after %llu cycles (limit %llu)\n",
                            first_problem + k, sent, p.in_beats, got, p.out_beats, (unsigned long long)elapsed, (unsigned long long)limit);
                    status = 1;
                    break;
                }
            }
            taken[k] = got;
            stalls[k] = held;
            cycles[k] = started && got ? last - first + 1 - held : 0;
            ++done;
        }
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    top.final();

    FILE* o = fopen(argv[2], "wb");
    if (!o) { perror(argv[2]); return 2; }
    fwrite("ATSO", 1, 4, o);
    fwrite(&done, 4, 1, o);
    fwrite(&status, 4, 1, o);
    fwrite(&wall, 8, 1, o);
    for (uint32_t k = 0; k < done; ++k) {
        fwrite(&cycles[k], 8, 1, o);
        fwrite(&stalls[k], 8, 1, o);
        fwrite(&taken[k], 4, 1, o);
        fwrite(out[k].data(), 4, out[k].size(), o);
    }
    fclose(o);
    return status == 2 ? 2 : 0;
}
