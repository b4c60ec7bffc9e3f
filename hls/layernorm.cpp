// LayerNorm, LN_ELEMS elements per cycle: one pass for the mean and the mean of squares
// (each x * (1/N) and x * (x/N) truncated into fm_t, as Edge-MoE's layernorm.cpp), the
// rsqrt unit once per row, then one pass for (x - mean) * rstd * w + b.
#include "edgemoe.h"

void layernorm(fm_t* dst, const fm_t* src, const wt_norm_t* w, const wt_bias_t* b, int length) {
    const fm_t inv_n = of_raw<fm_t>(LN_INV_N_RAW);
    const fm_t eps = of_raw<fm_t>(LN_EPS_RAW);
    for (int r = 0; r < length; r++) {
        const fm_t* x = src + r * D_MODEL;
        fm_t mean = 0, mean_sq = 0;
        for (int i = 0; i < D_MODEL; i += LN_ELEMS) {
            #pragma HLS PIPELINE II=1
            fm_t part = 0, part_sq = 0;
            for (int j = 0; j < LN_ELEMS; j++) {
                #pragma HLS UNROLL
                fm_t term = x[i + j] * inv_n;
                part += term;
                part_sq += x[i + j] * term;
            }
            mean += part;
            mean_sq += part_sq;
        }
        fm_t sq_mean = mean * mean;
        fm_t var = mean_sq - sq_mean + eps;
        rstd_t rstd = of_raw<rstd_t>(rsqrt_unit(raw_of(var)));
        for (int i = 0; i < D_MODEL; i += LN_ELEMS) {
            #pragma HLS PIPELINE II=1
            for (int j = 0; j < LN_ELEMS; j++) {
                #pragma HLS UNROLL
                fm_t y = x[i + j] - mean;
                y = y * rstd;
                y = y * w[i + j];
                y = y + b[i + j];
                dst[r * D_MODEL + i + j] = y;
            }
        }
    }
}
