// Reordered attention (Edge-MoE): queries in blocks of ATTN_LANES; for each block every key
// streams once, ATTN_DIMS dims per cycle shared by all lanes (II = 1), each lane keeping a
// running max and sum per head (online softmax). The attention x V pass streams V the same
// way and recomputes each probability as exp(s - max) * (1/sum). Scores of an ATTN_DIMS block
// are summed, scaled by 1/sqrt(HEAD_DIM) and added to the head's score, as attention.cpp does.
#include "edgemoe.h"

typedef fm_t kv_block_t[ATTN_DIMS];

static void stream_rows(hls::stream<fm_t>& s, const fm_t* m, int length) {
    for (int k = 0; k < length; k++)
        for (int d = 0; d < D_MODEL; d++) {
            #pragma HLS PIPELINE II=1
            s << m[k * D_MODEL + d];
        }
}

void attention(fm_t* dst, const fm_t* q, const fm_t* k, const fm_t* v, int length) {
    static fm_t scores[ATTN_LANES][TOKENS][HEADS];
    #pragma HLS ARRAY_PARTITION variable=scores complete dim=1
    const fm_t scale = of_raw<fm_t>(ATTN_SCALE_RAW);
    const int dim_blocks = D_MODEL / ATTN_DIMS;
    for (int qb = 0; qb < length; qb += ATTN_LANES) {
        int lanes = (length - qb < ATTN_LANES) ? length - qb : ATTN_LANES;
        softmax_state st[ATTN_LANES][HEADS];
        #pragma HLS ARRAY_PARTITION variable=st complete
        for (int l = 0; l < ATTN_LANES; l++)
            for (int h = 0; h < HEADS; h++) softmax_init(st[l][h]);

        // pass 1: Q x K and the running max / sum
        hls::stream<fm_t> ks("k_stream");
        stream_rows(ks, k, length);
        for (int kk = 0; kk < length; kk++) {
            fm_t acc[ATTN_LANES][HEADS];
            for (int db = 0; db < dim_blocks; db++) {
                #pragma HLS PIPELINE II=1
                fm_t kblk[ATTN_DIMS];
                for (int d = 0; d < ATTN_DIMS; d++) ks >> kblk[d];
                int h = (db * ATTN_DIMS) / HEAD_DIM;
                for (int l = 0; l < lanes; l++) {
                    #pragma HLS UNROLL
                    if (db * ATTN_DIMS % HEAD_DIM == 0) acc[l][h] = 0;
                    fm_t addend = 0;
                    for (int d = 0; d < ATTN_DIMS; d++) {
                        #pragma HLS UNROLL
                        addend += q[(qb + l) * D_MODEL + db * ATTN_DIMS + d] * kblk[d];
                    }
                    addend *= scale;
                    acc[l][h] += addend;
                }
            }
            for (int l = 0; l < lanes; l++)
                for (int h = 0; h < HEADS; h++) {
                    #pragma HLS UNROLL
                    scores[l][kk][h] = acc[l][h];
                    softmax_step(st[l][h], acc[l][h]);
                }
        }
        recipo_t rcp[ATTN_LANES][HEADS];
        for (int l = 0; l < lanes; l++)
            for (int h = 0; h < HEADS; h++) rcp[l][h] = softmax_recip(st[l][h]);

        // pass 2: probabilities x V
        fm_t out[ATTN_LANES][D_MODEL];
        #pragma HLS ARRAY_PARTITION variable=out complete dim=1
        for (int l = 0; l < lanes; l++)
            for (int d = 0; d < D_MODEL; d++) out[l][d] = 0;
        hls::stream<fm_t> vs("v_stream");
        stream_rows(vs, v, length);
        for (int kk = 0; kk < length; kk++) {
            fm_t prob[ATTN_LANES][HEADS];
            for (int l = 0; l < lanes; l++)
                for (int h = 0; h < HEADS; h++)
                    prob[l][h] = softmax_prob(scores[l][kk][h], st[l][h].max, rcp[l][h]);
            for (int db = 0; db < dim_blocks; db++) {
                #pragma HLS PIPELINE II=1
                fm_t vblk[ATTN_DIMS];
                for (int d = 0; d < ATTN_DIMS; d++) vs >> vblk[d];
                int h = (db * ATTN_DIMS) / HEAD_DIM;
                for (int l = 0; l < lanes; l++) {
                    #pragma HLS UNROLL
                    for (int d = 0; d < ATTN_DIMS; d++) {
                        #pragma HLS UNROLL
                        out[l][db * ATTN_DIMS + d] += vblk[d] * prob[l][h];
                    }
                }
            }
        }
        for (int l = 0; l < lanes; l++)
            for (int d = 0; d < D_MODEL; d++) dst[(qb + l) * D_MODEL + d] = out[l][d];
    }
}
