// C-simulation harness: `csim_KERNEL IN OUT`. IN and OUT are flat arrays of little-endian int64
// raw values, laid out by attnkit.hls.csim (the golden side): a case count, then per case a few
// ints and the arrays of that kernel. One binary per kernel (-DCSIM_KERNEL_<NAME>).
#include <cstdio>
#include <cstdlib>
#include <vector>
#include "edgemoe.h"

struct reader {
    std::vector<i64> d;
    size_t at = 0;
    i64 next() {
        if (at >= d.size()) {
            fprintf(stderr, "csim: input file too short\n");
            exit(3);
        }
        return d[at++];
    }
    template <class T>
    std::vector<T> arr(size_t n) {
        std::vector<T> v(n);
        for (size_t i = 0; i < n; i++) v[i] = of_raw<T>(next());
        return v;
    }
    template <class B>
    std::vector<fm_t> bias(size_t n) {  // a bias in its own format, converted to fm_t (exact)
        std::vector<fm_t> v(n);
        for (size_t i = 0; i < n; i++) v[i] = fm_t(of_raw<B>(next()));
        return v;
    }
};

static std::vector<i64> out;
template <class T>
static void put(const T* v, size_t n) {
    for (size_t i = 0; i < n; i++) out.push_back(raw_of(v[i]));
}

static int run(reader& in) {
    i64 cases = in.next();
    for (i64 c = 0; c < cases; c++) {
#if defined(CSIM_KERNEL_LINEAR)
        int od = in.next(), id = in.next(), len = in.next(), use_gelu = in.next(), attn_bias = in.next();
        auto x = in.arr<fm_t>((size_t)len * id);
        auto w = in.arr<wt_linear_t>((size_t)od * id);
        auto b = attn_bias ? in.bias<wt_attn_bias_t>(od) : in.bias<wt_bias_t>(od);
        std::vector<fm_t> y((size_t)len * od);
        linear(y.data(), x.data(), nullptr, w.data(), b.data(), od, id, len, use_gelu != 0);
        put(y.data(), y.size());
#elif defined(CSIM_KERNEL_GELU)
        int n = in.next();
        auto x = in.arr<fm_t>(n);
        std::vector<fm_t> y(n);
        gelu_kernel(y.data(), x.data(), n);
        put(y.data(), y.size());
#elif defined(CSIM_KERNEL_LAYERNORM)
        int len = in.next();
        auto x = in.arr<fm_t>((size_t)len * D_MODEL);
        auto w = in.arr<wt_norm_t>(D_MODEL);
        auto b = in.arr<wt_bias_t>(D_MODEL);
        std::vector<fm_t> y((size_t)len * D_MODEL);
        layernorm(y.data(), x.data(), w.data(), b.data(), len);
        put(y.data(), y.size());
#elif defined(CSIM_KERNEL_ATTENTION)
        int len = in.next();
        auto q = in.arr<fm_t>((size_t)len * D_MODEL);
        auto k = in.arr<fm_t>((size_t)len * D_MODEL);
        auto v = in.arr<fm_t>((size_t)len * D_MODEL);
        std::vector<fm_t> y((size_t)len * D_MODEL);
        attention(y.data(), q.data(), k.data(), v.data(), len);
        put(y.data(), y.size());
#elif defined(CSIM_KERNEL_GATE)
        int len = in.next();
        auto x = in.arr<fm_t>((size_t)len * D_MODEL);
        auto wg = in.arr<wt_linear_t>((size_t)EXPERTS * D_MODEL);
        static gate_result g;
        gate(g, x.data(), wg.data(), len);
        for (int t = 0; t < len; t++)
            for (int j = 0; j < TOP_K; j++) out.push_back(g.indices[t][j]);
        for (int t = 0; t < len; t++) put(g.weights[t], TOP_K);
        for (int e = 0; e < EXPERTS; e++) out.push_back(g.queue_lens[e]);
        for (int e = 0; e < EXPERTS; e++)
            for (int t = 0; t < len; t++) out.push_back(t < g.queue_lens[e] ? g.queues[e][t] : -1);
        for (int e = 0; e < EXPERTS; e++)
            for (int t = 0; t < len; t++) out.push_back(t < g.queue_lens[e] ? raw_of(g.queue_weights[e][t]) : 0);
        out.push_back(g.active_len);
        for (int e = 0; e < EXPERTS; e++) out.push_back(e < g.active_len ? g.active[e] : -1);
#elif defined(CSIM_KERNEL_LAYER)
        int moe_layer = in.next(), len = in.next();
        auto x = in.arr<fm_t>((size_t)len * D_MODEL);
        layer_weights wt = {};
        auto ln1_w = in.arr<wt_norm_t>(D_MODEL);
        auto ln1_b = in.arr<wt_bias_t>(D_MODEL);
        auto qkv_w = in.arr<wt_linear_t>((size_t)3 * D_MODEL * D_MODEL);
        auto qkv_b = in.bias<wt_attn_bias_t>(3 * D_MODEL);
        auto proj_w = in.arr<wt_linear_t>((size_t)D_MODEL * D_MODEL);
        auto proj_b = in.bias<wt_bias_t>(D_MODEL);
        auto ln2_w = in.arr<wt_norm_t>(D_MODEL);
        auto ln2_b = in.arr<wt_bias_t>(D_MODEL);
        std::vector<wt_linear_t> fc1_w, fc2_w, gate_w, e1_w, e2_w;
        std::vector<fm_t> fc1_b, fc2_b, e1_b, e2_b;
        if (moe_layer) {
            gate_w = in.arr<wt_linear_t>((size_t)EXPERTS * D_MODEL);
            e1_w = in.arr<wt_linear_t>((size_t)EXPERTS * EXPERT_FFN * D_MODEL);
            e1_b = in.bias<wt_bias_t>((size_t)EXPERTS * EXPERT_FFN);
            e2_w = in.arr<wt_linear_t>((size_t)EXPERTS * D_MODEL * EXPERT_FFN);
            e2_b = in.bias<wt_bias_t>((size_t)EXPERTS * D_MODEL);
        } else {
            fc1_w = in.arr<wt_linear_t>((size_t)FFN * D_MODEL);
            fc1_b = in.bias<wt_bias_t>(FFN);
            fc2_w = in.arr<wt_linear_t>((size_t)D_MODEL * FFN);
            fc2_b = in.bias<wt_bias_t>(D_MODEL);
        }
        wt.ln1_w = ln1_w.data(); wt.ln1_b = ln1_b.data(); wt.qkv_w = qkv_w.data(); wt.qkv_b = qkv_b.data();
        wt.proj_w = proj_w.data(); wt.proj_b = proj_b.data(); wt.ln2_w = ln2_w.data(); wt.ln2_b = ln2_b.data();
        wt.fc1_w = fc1_w.data(); wt.fc1_b = fc1_b.data(); wt.fc2_w = fc2_w.data(); wt.fc2_b = fc2_b.data();
        wt.gate_w = gate_w.data(); wt.e1_w = e1_w.data(); wt.e1_b = e1_b.data(); wt.e2_w = e2_w.data();
        wt.e2_b = e2_b.data();
        std::vector<fm_t> y((size_t)len * D_MODEL);
        vit_layer(y.data(), x.data(), wt, moe_layer != 0, len);
        put(y.data(), y.size());
#else
#error "define CSIM_KERNEL_<NAME>"
#endif
    }
    return 0;
}

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s IN OUT\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[1], "rb");
    if (!f) {
        fprintf(stderr, "csim: cannot open %s\n", argv[1]);
        return 2;
    }
    reader in;
    i64 buf[4096];
    size_t n;
    while ((n = fread(buf, sizeof(i64), 4096, f)) > 0) in.d.insert(in.d.end(), buf, buf + n);
    fclose(f);
    int rc = run(in);
    FILE* g = fopen(argv[2], "wb");
    if (!g) {
        fprintf(stderr, "csim: cannot write %s\n", argv[2]);
        return 2;
    }
    fwrite(out.data(), sizeof(i64), out.size(), g);
    fclose(g);
    return rc;
}
