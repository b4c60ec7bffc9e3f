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
// The source and the sink are those of attnkit.testbench.streams (Source, Sink): per cycle, read o.valid
// (registered), offer the next input beat unless in a gap (an idle payload otherwise), set o.ready (by a
// per-cycle schedule, or by a stall draw per cycle an output is offered); settled, an offered output with
// ready high is taken and an offered input with i.ready high is accepted; then the rising edge.
// Problem k + 1 starts in the cycle after problem k has taken its last input and given its last output.
//
// IN_FILE (little-endian): u32 magic "ATS2", u32 in_words, u32 out_words, u32 problems,
//   u64 cycle_limit (a problem's cycles without an expected output taken: the watchdog),
//   u32 first_problem (the index of this file's first problem among all, for messages),
//   then per problem: u32 in_beats, u32 out_beats, u32 gaps (0 or in_beats), u32 ready (cycles of the
//   o.ready schedule, 0: none), u32 stalls (stall draws), u32 idle (idle payloads);
//   in_beats x in_words u32 payload words (least significant first), gaps x u32 (idle cycles before each
//   beat), ready x u8 (o.ready per cycle; 1 beyond), stalls x u8 (1: o.ready low in the n-th cycle an
//   output is offered; 0 beyond), idle x in_words u32 (the payload in idle cycle c is idle[c % idle]).
// OUT_FILE: u32 magic "ATO2", u32 problems done, u32 status (0 ok, 1 watchdog, 2 port width mismatch),
//   f64 wall seconds in the cycle loop, then per problem: u64 cycles run, u32 inputs accepted, u32 outputs
//   taken (at most out_beats), u32 outputs beyond out_beats, the outputs (x out_words u32), then u64 per
//   input the cycle it was accepted, u64 per output the cycle it was taken, u64 per output the cycles it
//   was offered and held (o.ready low). Cycles count from the problem's first.
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
    uint32_t in_beats, out_beats, n_gaps, n_ready, n_stalls, n_idle;
    std::vector<uint32_t> in, gaps, idle;
    std::vector<uint8_t> ready, stalls;
};

struct Result {
    uint64_t cycles = 0;
    uint32_t extra = 0;
    std::vector<uint32_t> out;
    std::vector<uint64_t> accepted, taken, held;
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

static bool rd(FILE* f, void* p, size_t n) { return n == 0 || fread(p, 1, n, f) == n; }

int main(int argc, char** argv) {
    const bool settle_flag = argc == 4 && !strcmp(argv[3], "--settle-every-cycle");
    if (argc != 3 && !settle_flag) {
        fprintf(stderr, "usage: %s IN_FILE OUT_FILE [--settle-every-cycle]\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[1], "rb");
    if (!f) { perror(argv[1]); return 2; }
    uint32_t hdr[4];
    uint64_t limit;
    uint32_t first_problem;
    if (!rd(f, hdr, sizeof hdr) || memcmp(hdr, "ATS2", 4) || !rd(f, &limit, 8) || !rd(f, &first_problem, 4)) {
        fprintf(stderr, "%s: not a stream harness input\n", argv[1]);
        return 2;
    }
    const uint32_t in_words = hdr[1], out_words = hdr[2], n = hdr[3];
    std::vector<Problem> problems(n);
    for (auto& p : problems) {
        uint32_t h[6];
        if (!rd(f, h, sizeof h)) { fprintf(stderr, "short input\n"); return 2; }
        p.in_beats = h[0]; p.out_beats = h[1]; p.n_gaps = h[2]; p.n_ready = h[3]; p.n_stalls = h[4]; p.n_idle = h[5];
        p.in.resize((size_t)p.in_beats * in_words);
        p.gaps.resize(p.n_gaps);
        p.ready.resize(p.n_ready);
        p.stalls.resize(p.n_stalls);
        p.idle.resize((size_t)(p.n_idle ? p.n_idle : 1) * in_words, 0);
        if (!rd(f, p.in.data(), p.in.size() * 4) || !rd(f, p.gaps.data(), p.gaps.size() * 4)
            || !rd(f, p.ready.data(), p.ready.size()) || !rd(f, p.stalls.data(), p.stalls.size())
            || !rd(f, p.idle.data(), (size_t)p.n_idle * in_words * 4)) { fprintf(stderr, "short input\n"); return 2; }
        if (!p.n_idle) p.n_idle = 1;
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
    std::vector<Result> res(n);
    std::vector<uint32_t> zero(in_words > out_words ? in_words : out_words, 0);
    const uint32_t* applied = nullptr;   // the payload on i.payload
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
        top.eval();
        for (uint32_t k = 0; k < n && status == 0; ++k) {
            Problem& p = problems[k];
            Result& r = res[k];
            r.out.resize((size_t)p.out_beats * out_words);
            r.accepted.reserve(p.in_beats);
            r.taken.reserve(p.out_beats);
            r.held.reserve(p.out_beats);
            uint32_t sent = 0, got = 0, drawn = 0;
            uint32_t wait = p.n_gaps && p.in_beats ? p.gaps[0] : 0;
            uint64_t c = 0, quiet = 0, held = 0;
            while (sent < p.in_beats || got < p.out_beats) {
                const bool ov = top.O_VALID;   // registered: settled since the last edge
                const bool valid = sent < p.in_beats && wait == 0;
                const uint32_t* beat = valid ? &p.in[(size_t)sent * in_words] : &p.idle[(size_t)(c % p.n_idle) * in_words];
                bool ready = true;
                if (p.n_ready) ready = c < p.n_ready ? p.ready[c] : true;
                else if (ov && drawn < p.n_stalls) ready = !p.stalls[drawn++];
                // the design settles on this cycle's inputs (clock low) only when they differ from those of
                // its last evaluation: the outputs it shows are otherwise already the right ones
                if (settle_always || valid != (bool)top.I_VALID || beat != applied || ready != (bool)top.O_READY) {
                    top.I_VALID = valid;
                    if (beat != applied) { put(top.I_PAYLOAD, beat); applied = beat; }
                    top.O_READY = ready;
                    top.eval();
                }
                if (ov) {
                    if (!ready) {
                        ++held;
                    } else {
                        if (got < p.out_beats) {
                            get(top.O_PAYLOAD, &r.out[(size_t)got * out_words]);
                            r.taken.push_back(c);
                            r.held.push_back(held);
                            ++got;
                            quiet = 0;
                        } else {
                            ++r.extra;
                        }
                        held = 0;
                    }
                }
                if (valid && top.I_READY) {
                    r.accepted.push_back(c);
                    ++sent;
                    wait = p.n_gaps && sent < p.in_beats ? p.gaps[sent] : 0;
                } else if (!valid && wait) {
                    --wait;
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
                ++c;
                if (++quiet > limit) {
                    fprintf(stderr, "watchdog: problem %u: no output for %llu cycles (limit %llu) at cycle %llu: %u of %u input beats taken, %u of %u output beats\n",
                            first_problem + k, (unsigned long long)(quiet - 1), (unsigned long long)limit,
                            (unsigned long long)c, sent, p.in_beats, got, p.out_beats);
                    status = 1;
                    break;
                }
            }
            r.cycles = c;
            ++done;
        }
    }
    double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    top.final();

    FILE* o = fopen(argv[2], "wb");
    if (!o) { perror(argv[2]); return 2; }
    fwrite("ATO2", 1, 4, o);
    fwrite(&done, 4, 1, o);
    fwrite(&status, 4, 1, o);
    fwrite(&wall, 8, 1, o);
    for (uint32_t k = 0; k < done; ++k) {
        const Result& r = res[k];
        uint32_t counts[3] = {(uint32_t)r.accepted.size(), (uint32_t)r.taken.size(), r.extra};
        fwrite(&r.cycles, 8, 1, o);
        fwrite(counts, 4, 3, o);
        fwrite(r.out.data(), 4, (size_t)r.taken.size() * out_words, o);
        fwrite(r.accepted.data(), 8, r.accepted.size(), o);
        fwrite(r.taken.data(), 8, r.taken.size(), o);
        fwrite(r.held.data(), 8, r.held.size(), o);
    }
    fclose(o);
    return status == 2 ? 2 : 0;
}
