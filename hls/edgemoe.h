// Edge-MoE HLS kernels: types, raw-bit helpers, the arithmetic units and the kernel prototypes.
//
// Sizes, formats and ROM tables come from the generated params.h (attnkit.hls.build, from
// EdgeMoeParams). The units the ap_fixed headers lack (exp, reciprocal, 1/sqrt, the GELU table)
// are written on raw integers so that they equal the golden models bit for bit:
// attnkit.models.exp.exp, attnkit.models.recip.recip, attnkit.models.edgemoe_golden.rsqrt,
// attnkit.models.gelu.gelu. Datapath arithmetic uses ap_fixed itself: fm_t (AP_TRN, AP_WRAP)
// makes `acc += a * b` exact modulo 2^32, which is what the golden model computes.
#pragma once
#include <ap_fixed.h>
#include <ap_int.h>
#include <hls_stream.h>
#include "params.h"

// ---- raw bits <-> ap types ----------------------------------------------------------------
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline i64 raw_of(const ap_fixed<W, I, Q, O, N>& v) {
    ap_int<W> r = 0;
    r.range(W - 1, 0) = v.range(W - 1, 0);
    return r.to_int64();
}
template <int W, int I, ap_q_mode Q, ap_o_mode O, int N>
inline i64 raw_of(const ap_ufixed<W, I, Q, O, N>& v) {
    ap_uint<W> r = v.range(W - 1, 0);
    return (i64)r.to_uint64();
}
template <class T>
inline T of_raw(i64 r) {
    T v = 0;
    v.range(T::width - 1, 0) = r;
    return v;
}

// ---- integer helpers with the golden model's rounding and overflow (models/fixed.py) ------
inline i64 shl(i64 v, int n) { return (i64)((unsigned long long)v << n); }

// v * 2^-sh: right shifts round by `rnd` (0 AP_TRN, 1 AP_RND, 2 AP_RND_CONV), left shifts exact;
// right shifts stop at 62 (round_shift on int64).
inline i64 rshift(i64 v, int sh, int rnd) {
    if (sh <= 0) return shl(v, -sh);
    if (sh > 62) sh = 62;
    i64 f = v >> sh;
    if (rnd == 0) return f;
    i64 rem = v - shl(f, sh);
    i64 half = (i64)1 << (sh - 1);
    bool up = (rnd == 1) ? (rem >= half) : (rem > half || (rem == half && (f & 1)));
    return f + (up ? 1 : 0);
}

// Overflow of a value already at the format's scale: clamp (AP_SAT) or keep the low w bits (AP_WRAP).
inline i64 fit(i64 v, const qfmt& q) {
    i64 lo = q.sgn ? -((i64)1 << (q.w - 1)) : 0;
    i64 hi = q.sgn ? ((i64)1 << (q.w - 1)) - 1 : ((i64)1 << q.w) - 1;
    if (q.sat) return v < lo ? lo : (v > hi ? hi : v);
    unsigned long long m = (q.w >= 64) ? ~0ULL : ((1ULL << q.w) - 1);
    i64 low = (i64)((unsigned long long)v & m);
    if (q.sgn && low > hi) low -= (i64)1 << q.w;
    return low;
}
inline i64 max_raw(const qfmt& q) { return q.sgn ? ((i64)1 << (q.w - 1)) - 1 : ((i64)1 << q.w) - 1; }

// Convert raw v with `frac` fraction bits into format q (its rounding, then its overflow).
inline i64 convert(i64 v, int frac, const qfmt& q) { return fit(rshift(v, frac - q.f, q.rnd), q); }

inline int bit_length(i64 x) { return x <= 0 ? 0 : 64 - __builtin_clzll((unsigned long long)x); }

// ---- exp(x), x <= 0: log2(e) product, 2^f table with interpolation, shift (models/exp.py) --
inline i64 exp_unit(i64 x /* raw F_EXP_IN */) {
    #pragma HLS INLINE
    if (x > 0) x = 0;
    i64 y = convert(x * EXP_LOG2E_RAW, F_EXP_IN.f + F_LOG2E.f, F_EXP_ARG);
    if (y > 0) y = 0;
    i64 n = y >> F_EXP_ARG.f;
    i64 f = y & (((i64)1 << F_EXP_ARG.f) - 1);
    int low = F_EXP_ARG.f - EXP_TABLE_BITS;
    i64 i = f >> low, r = f & (((i64)1 << low) - 1);
    i64 t0 = EXP_TABLE[i], t1 = EXP_TABLE[i + 1];
    i64 e = t0 + rshift((t1 - t0) * r, low, F_EXP_TAB.rnd);
    i64 sh = (F_EXP_TAB.f - F_EXP_OUT.f) - n;
    return fit(rshift(e, sh > 62 ? 62 : (int)sh, F_EXP_OUT.rnd), F_EXP_OUT);
}

// ---- 1/x: leading one, seed ROM, Newton-Raphson (models/recip.py) ------------------------
inline i64 recip_unit(i64 x /* raw F_RCP_IN */) {
    #pragma HLS INLINE
    if (x <= 0) return max_raw(F_RCP_OUT);
    const int W = F_RCP_WORK.f;
    int z = bit_length(x) - 1;
    i64 m = rshift(x, z - W, 0);
    i64 i = (m >> (W - RCP_SEED_BITS)) - ((i64)1 << RCP_SEED_BITS);
    if (i < 0) i = 0;
    if (i > ((i64)1 << RCP_SEED_BITS) - 1) i = ((i64)1 << RCP_SEED_BITS) - 1;
    i64 y = convert(RCP_SEED[i], F_RCP_SEED.f, F_RCP_WORK);
    i64 two = (i64)2 << W;
    for (int k = 0; k < RCP_ITERS; k++) {
        #pragma HLS UNROLL
        i64 e = convert(m * y, 2 * W, F_RCP_WORK);
        y = convert(y * (two - e), 2 * W, F_RCP_WORK);
    }
    int sh = W - F_RCP_OUT.f - (F_RCP_IN.f - z);
    if (sh < -(62 - F_RCP_WORK.w)) return fit(max_raw(F_RCP_OUT), F_RCP_OUT);
    return fit(rshift(y, sh, F_RCP_OUT.rnd), F_RCP_OUT);
}

// ---- 1/sqrt(x): even exponent, seed ROM over [1, 4), Newton steps (edgemoe_golden.rsqrt) ---
inline i64 rsqrt_unit(i64 x /* raw F_RSQ_IN */) {
    #pragma HLS INLINE
    if (x <= 0) return max_raw(F_RSQ_OUT);
    const int W = F_RSQ_WORK.f, fi = F_RSQ_IN.f;
    int z = bit_length(x) - 1;
    int kk = (((z - fi) & 1) == 0) ? z : z - 1;
    int e = kk - fi;  // even
    i64 m = rshift(x, kk - W, F_RSQ_WORK.rnd);
    const i64 half = (i64)1 << (RSQ_SEED_BITS - 1);
    i64 i = (m >> (W - (RSQ_SEED_BITS - 1))) - half;
    if (i < 0) i = 0;
    if (i > 3 * half - 1) i = 3 * half - 1;
    i64 y = convert(RSQ_SEED[i], F_RSQ_SEED.f, F_RSQ_WORK);
    i64 three = (i64)3 << W;
    for (int k = 0; k < RSQ_ITERS; k++) {
        #pragma HLS UNROLL
        i64 t = fit((y * y) >> W, F_RSQ_WORK);
        i64 u = fit((m * t) >> W, F_RSQ_WORK);
        y = fit((y * (three - u)) >> (W + 1), F_RSQ_WORK);
    }
    int sh = (W - F_RSQ_OUT.f) + e / 2;
    return fit(rshift(y, sh, F_RSQ_OUT.rnd), F_RSQ_OUT);
}

// ---- GELU = ReLU(x) - delta(|x|), delta by table with interpolation (models/gelu.py) ------
inline fm_t gelu_unit(fm_t xv) {
    #pragma HLS INLINE
    i64 x = raw_of(xv);
    i64 a = fit(x < 0 ? -x : x, F_ACT);
    i64 delta = 0;
    if (a >= 0 && a < GELU_CUT_RAW) {
        const int low = F_ACT.f - GELU_STEP_BITS;
        i64 i = a >> low, r = a & (((i64)1 << low) - 1);
        i64 i1 = (i + 1 < GELU_TABLE_SIZE) ? i + 1 : GELU_TABLE_SIZE - 1;
        i64 dl = GELU_DELTA[i] + rshift((GELU_DELTA[i1] - GELU_DELTA[i]) * r, low, 0);
        delta = convert(dl, F_GELU_TAB.f, F_ACT);
    }
    return of_raw<fm_t>(fit((x > 0 ? x : 0) - delta, F_ACT));
}

// ---- online softmax over one row (Edge-MoE's form: new max rescales, else accumulates) ------
// A score equal to fm_t's minimum code is a masked key (probability 0), as in the golden model.
struct softmax_state {
    fm_t max;  // running max, from fm_t's minimum
    fm_t sum;  // running sum of exp(s - max)
};
inline void softmax_init(softmax_state& st) {
    st.max = of_raw<fm_t>(-((i64)1 << (F_ACT.w - 1)));
    st.sum = 0;
}
inline void softmax_step(softmax_state& st, fm_t s) {
    #pragma HLS INLINE
    i64 sr = raw_of(s), mr = raw_of(st.max);
    if (sr == -((i64)1 << (F_ACT.w - 1))) return;
    i64 d = sr - mr;  // exact (33 bits)
    if (d > 0) {
        expo_t rescale = of_raw<expo_t>(exp_unit(convert(-d, F_ACT.f, F_EXP_IN)));
        st.sum = st.sum * rescale;
        st.sum += fm_t(1);
        st.max = s;
    } else {
        expo_t e = of_raw<expo_t>(exp_unit(convert(d, F_ACT.f, F_EXP_IN)));
        st.sum += e;
    }
}
inline recipo_t softmax_recip(const softmax_state& st) { return of_raw<recipo_t>(recip_unit(raw_of(st.sum))); }
inline fm_t softmax_prob(fm_t s, fm_t max, recipo_t r) {
    #pragma HLS INLINE
    i64 sr = raw_of(s);
    if (sr == -((i64)1 << (F_ACT.w - 1))) return 0;
    expo_t e = of_raw<expo_t>(exp_unit(convert(sr - raw_of(max), F_ACT.f, F_EXP_IN)));
    return fm_t(e * r);
}

// ---- kernels ----------------------------------------------------------------------------------
// Activations are row-major [rows][dim]; weights [out][in]; biases already in fm_t (exact).

// The unified linear unit. rows = `length` rows of src; with `index` non-null, row r reads
// src[index[r]] (an expert's patch queue). dst gets `length` rows of out_dim.
void linear(fm_t* dst, const fm_t* src, const int* index, const wt_linear_t* w, const fm_t* bias,
            int out_dim, int in_dim, int length, bool use_gelu);
void gelu_kernel(fm_t* dst, const fm_t* src, int n);
void layernorm(fm_t* dst, const fm_t* src, const wt_norm_t* w, const wt_bias_t* b, int length);
void attention(fm_t* dst, const fm_t* q, const fm_t* k, const fm_t* v, int length);

struct gate_result {
    int indices[TOKENS][TOP_K];
    fm_t weights[TOKENS][TOP_K];
    int queue_lens[EXPERTS];
    int queues[EXPERTS][TOKENS];
    fm_t queue_weights[EXPERTS][TOKENS];
    int active[EXPERTS];
    int active_len;
};
void gate(gate_result& g, const fm_t* x, const wt_linear_t* wg, int length);
void moe(fm_t* dst, const fm_t* x, const wt_linear_t* wg, const wt_linear_t* w1, const fm_t* b1,
         const wt_linear_t* w2, const fm_t* b2, int length, gate_result& g);

struct layer_weights {
    const wt_norm_t *ln1_w, *ln2_w;
    const wt_bias_t *ln1_b, *ln2_b;
    const wt_linear_t *qkv_w, *proj_w, *fc1_w, *fc2_w, *gate_w, *e1_w, *e2_w;
    const fm_t *qkv_b, *proj_b, *fc1_b, *fc2_b, *e1_b, *e2_b;  // biases converted to fm_t
};
void vit_layer(fm_t* dst, const fm_t* x, const layer_weights& wt, bool moe_layer, int length);
