// The MoE gate (GATE_EXPERTS outputs x GATE_DIMS inputs per cycle, no bias), the online softmax
// over the experts in index order, top-k (largest score first, ties to the lower expert index),
// and per-expert patch queues in ascending patch order (write_gate_results of Edge-MoE's moe.cpp);
// then the MoE block: each active expert, in ascending index order, runs FC1 + GELU and FC2 over
// its queued patches on the linear unit (its weights loaded once) and adds weight * output.
#include "edgemoe.h"

static void top_k_insert(int idx[TOP_K], fm_t sc[TOP_K], int e, fm_t s) {
    #pragma HLS INLINE
    int pos = TOP_K;
    for (int j = TOP_K - 1; j >= 0; j--) {
        #pragma HLS UNROLL
        if (idx[j] < 0 || s > sc[j]) pos = j;
    }
    for (int j = TOP_K - 1; j > pos; j--) {
        #pragma HLS UNROLL
        idx[j] = idx[j - 1];
        sc[j] = sc[j - 1];
    }
    if (pos < TOP_K) {
        idx[pos] = e;
        sc[pos] = s;
    }
}

void gate(gate_result& g, const fm_t* x, const wt_linear_t* wg, int length) {
    for (int e = 0; e < EXPERTS; e++) {
        #pragma HLS UNROLL
        g.queue_lens[e] = 0;
    }
    for (int t = 0; t < length; t++) {
        fm_t score[GATE_EXPERTS];
        #pragma HLS ARRAY_PARTITION variable=score complete
        for (int e = 0; e < EXPERTS; e++) score[e] = 0;
        for (int ib = 0; ib < D_MODEL; ib += GATE_DIMS) {
            #pragma HLS PIPELINE II=1
            for (int e = 0; e < EXPERTS; e++) {
                #pragma HLS UNROLL
                fm_t addend = 0;
                for (int i = 0; i < GATE_DIMS; i++) {
                    #pragma HLS UNROLL
                    addend += x[t * D_MODEL + ib + i] * wg[e * D_MODEL + ib + i];
                }
                score[e] += addend;
            }
        }
        softmax_state st;
        softmax_init(st);
        int idx[TOP_K];
        fm_t sc[TOP_K];
        for (int j = 0; j < TOP_K; j++) idx[j] = -1;
        for (int e = 0; e < EXPERTS; e++) {
            #pragma HLS PIPELINE II=3
            softmax_step(st, score[e]);
            top_k_insert(idx, sc, e, score[e]);
        }
        recipo_t r = softmax_recip(st);
        for (int j = 0; j < TOP_K; j++) {
            #pragma HLS UNROLL
            int e = idx[j];
            fm_t wgt = softmax_prob(sc[j], st.max, r);
            g.indices[t][j] = e;
            g.weights[t][j] = wgt;
            g.queues[e][g.queue_lens[e]] = t;
            g.queue_weights[e][g.queue_lens[e]] = wgt;
            g.queue_lens[e]++;
        }
    }
    g.active_len = 0;
    for (int e = 0; e < EXPERTS; e++) {
        #pragma HLS UNROLL
        if (g.queue_lens[e] > 0) g.active[g.active_len++] = e;
    }
}

void moe(fm_t* dst, const fm_t* x, const wt_linear_t* wg, const wt_linear_t* w1, const fm_t* b1,
         const wt_linear_t* w2, const fm_t* b2, int length, gate_result& g) {
    static fm_t hidden[TOKENS * EXPERT_FFN];
    static fm_t y[TOKENS * D_MODEL];
    gate(g, x, wg, length);
    for (int i = 0; i < length * D_MODEL; i++) {
        #pragma HLS PIPELINE II=1
        dst[i] = 0;
    }
    for (int a = 0; a < g.active_len; a++) {
        int e = g.active[a];
        int n = g.queue_lens[e];
        linear(hidden, x, g.queues[e], w1 + (long)e * EXPERT_FFN * D_MODEL, b1 + e * EXPERT_FFN,
               EXPERT_FFN, D_MODEL, n, true);
        linear(y, hidden, nullptr, w2 + (long)e * D_MODEL * EXPERT_FFN, b2 + e * D_MODEL,
               D_MODEL, EXPERT_FFN, n, false);
        for (int r = 0; r < n; r++) {
            int t = g.queues[e][r];
            fm_t wgt = g.queue_weights[e][r];
            for (int d = 0; d < D_MODEL; d++) {
                #pragma HLS PIPELINE II=1
                fm_t add = y[r * D_MODEL + d] * wgt;
                dst[t * D_MODEL + d] += add;
            }
        }
    }
}
