// The GELU table unit, GELU_UNITS in parallel (ReLU(x) - delta(|x|); see gelu_unit in edgemoe.h).
#include "edgemoe.h"

void gelu_kernel(fm_t* dst, const fm_t* src, int n) {
    for (int i = 0; i < n; i += GELU_UNITS) {
        #pragma HLS PIPELINE II=1
        for (int u = 0; u < GELU_UNITS; u++) {
            #pragma HLS UNROLL
            if (i + u < n) dst[i + u] = gelu_unit(src[i + u]);
        }
    }
}
