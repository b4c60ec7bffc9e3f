// The unified linear unit: LINEAR_IN inputs x LINEAR_OUT outputs of MACs per cycle, II = 1,
// bias preloaded into the accumulators, GELU (GELU_UNITS wide) on the way out. Rows stream in
// through hls::stream (read / compute / write under DATAFLOW, as the linear.cpp of Edge-MoE).
#include "edgemoe.h"

typedef fm_t lin_in_t[LINEAR_IN];

static void read_rows(hls::stream<fm_t>& in, const fm_t* src, const int* index, int in_dim, int length) {
    for (int r = 0; r < length; r++) {
        int row = index ? index[r] : r;
        for (int i = 0; i < in_dim; i++) {
            #pragma HLS PIPELINE II=1
            in << src[row * in_dim + i];
        }
    }
}

static void compute_rows(hls::stream<fm_t>& out, hls::stream<fm_t>& in, const wt_linear_t* w,
                         const fm_t* bias, int out_dim, int in_dim, int length, bool use_gelu) {
    static fm_t x[MAX_LINEAR_DIM];
    #pragma HLS ARRAY_PARTITION variable=x cyclic factor=LINEAR_IN
    fm_t acc[LINEAR_OUT];
    #pragma HLS ARRAY_PARTITION variable=acc complete
    for (int r = 0; r < length; r++) {
        for (int i = 0; i < in_dim; i++) {
            #pragma HLS PIPELINE II=1
            in >> x[i];
        }
        for (int ob = 0; ob < out_dim; ob += LINEAR_OUT) {
            for (int ib = 0; ib < in_dim; ib += LINEAR_IN) {
                #pragma HLS PIPELINE II=1
                if (ib == 0) {
                    for (int o = 0; o < LINEAR_OUT; o++) {
                        #pragma HLS UNROLL
                        acc[o] = bias[ob + o];
                    }
                }
                for (int ii = 0; ii < LINEAR_IN; ii++) {
                    #pragma HLS UNROLL
                    for (int o = 0; o < LINEAR_OUT; o++) {
                        #pragma HLS UNROLL
                        acc[o] += x[ib + ii] * w[(ob + o) * in_dim + ib + ii];
                    }
                }
            }
            for (int o = 0; o < LINEAR_OUT; o++) {
                #pragma HLS UNROLL factor=GELU_UNITS
                out << (use_gelu ? gelu_unit(acc[o]) : acc[o]);
            }
        }
    }
}

static void write_rows(fm_t* dst, hls::stream<fm_t>& out, int out_dim, int length) {
    for (int i = 0; i < length * out_dim; i++) {
        #pragma HLS PIPELINE II=1
        out >> dst[i];
    }
}

void linear(fm_t* dst, const fm_t* src, const int* index, const wt_linear_t* w, const fm_t* bias,
            int out_dim, int in_dim, int length, bool use_gelu) {
    #pragma HLS DATAFLOW
    hls::stream<fm_t> in("linear_in"), out("linear_out");
    read_rows(in, src, index, in_dim, length);
    compute_rows(out, in, w, bias, out_dim, in_dim, length, use_gelu);
    write_rows(dst, out, out_dim, length);
}
