// One M3ViT encoder layer, as Edge-MoE runs it: LN1, Q/K/V on the linear unit, attention,
// projection, residual add; LN2, then a dense MLP (FC1 + GELU, FC2) or the MoE block; residual.
#include "edgemoe.h"

void vit_layer(fm_t* dst, const fm_t* x, const layer_weights& wt, bool moe_layer, int length) {
    static fm_t h[TOKENS * D_MODEL], qkv[TOKENS * 3 * D_MODEL], q[TOKENS * D_MODEL],
        k[TOKENS * D_MODEL], v[TOKENS * D_MODEL], a[TOKENS * D_MODEL], x1[TOKENS * D_MODEL],
        hid[TOKENS * FFN], m[TOKENS * D_MODEL];
    static gate_result g;
    layernorm(h, x, wt.ln1_w, wt.ln1_b, length);
    linear(qkv, h, nullptr, wt.qkv_w, wt.qkv_b, 3 * D_MODEL, D_MODEL, length, false);
    for (int t = 0; t < length; t++)
        for (int d = 0; d < D_MODEL; d++) {
            #pragma HLS PIPELINE II=1
            q[t * D_MODEL + d] = qkv[t * 3 * D_MODEL + d];
            k[t * D_MODEL + d] = qkv[t * 3 * D_MODEL + D_MODEL + d];
            v[t * D_MODEL + d] = qkv[t * 3 * D_MODEL + 2 * D_MODEL + d];
        }
    attention(a, q, k, v, length);
    linear(x1, a, nullptr, wt.proj_w, wt.proj_b, D_MODEL, D_MODEL, length, false);
    for (int i = 0; i < length * D_MODEL; i++) {
        #pragma HLS PIPELINE II=1
        x1[i] += x[i];
    }
    layernorm(h, x1, wt.ln2_w, wt.ln2_b, length);
    if (moe_layer) {
        moe(m, h, wt.gate_w, wt.e1_w, wt.e1_b, wt.e2_w, wt.e2_b, length, g);
    } else {
        linear(hid, h, nullptr, wt.fc1_w, wt.fc1_b, FFN, D_MODEL, length, true);
        linear(m, hid, nullptr, wt.fc2_w, wt.fc2_b, D_MODEL, FFN, length, false);
    }
    for (int i = 0; i < length * D_MODEL; i++) {
        #pragma HLS PIPELINE II=1
        dst[i] = x1[i] + m[i];
    }
}
