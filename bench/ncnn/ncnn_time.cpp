// Times an ncnn network that bench/ncnn/convert.py wrote from an attsr model, the way
// build/bench/bench_model times attsr: one LR image, a warm-up, then REPS timed runs.
//
//   ncnn_time NET H W REPS WINOGRAD THREADS [IN.npy OUT.npy]
//
// NET: the .param/.bin pair without extension. WINOGRAD 1: ncnn's default
// (opt.use_winograd_convolution, F(6x6,3x3) / F(4x4,3x3) / F(2x2,3x3) as its x86
// Convolution chooses), 0: its other 3x3 paths (im2col + GEMM, packed direct). fp32
// throughout (no fp16/bf16 storage). Without IN.npy the input is uniform [0, 1) noise
// (H x W); with it, IN.npy (float32 (h, w, 3), as `attsr upscale` reads it) is the
// input and the SR output is written to OUT.npy ((sh, sw, 3) float32) for the check
// against attsr. Prints one JSON line like bench_model's: median, min and max of the
// wall times (s), the median CPU time per run of the whole process (cpu_s), peak RSS.
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <sys/resource.h>

#include "net.h"

static double now(clockid_t c) {
    timespec ts;
    clock_gettime(c, &ts);
    return ts.tv_sec + 1e-9 * ts.tv_nsec;
}

static double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// float32 little-endian C-order .npy of shape (h, w, 3) -> CHW planes
static bool read_npy(const char *path, int &h, int &w, std::vector<float> &chw) {
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    unsigned char pre[10];
    bool ok = fread(pre, 1, 10, f) == 10 && !memcmp(pre, "\x93NUMPY", 6) && pre[6] == 1;
    size_t hl = ok ? pre[8] | pre[9] << 8 : 0;
    std::string hd(hl, ' ');
    ok = ok && fread(&hd[0], 1, hl, f) == hl && hd.find("'<f4'") != std::string::npos &&
         hd.find("'fortran_order': False") != std::string::npos;
    size_t s = ok ? hd.find("'shape': (") : std::string::npos;
    int c = 0;
    ok = s != std::string::npos && sscanf(hd.c_str() + s + 10, "%d, %d, %d)", &h, &w, &c) == 3 && c == 3 &&
         h > 0 && w > 0 && (size_t)h * w < (1u << 28);
    std::vector<float> hwc(ok ? (size_t)h * w * 3 : 0);
    ok = ok && fread(hwc.data(), 4, hwc.size(), f) == hwc.size();
    fclose(f);
    if (!ok) return false;
    chw.resize(hwc.size());
    for (size_t i = 0; i < (size_t)h * w; i++)
        for (int k = 0; k < 3; k++) chw[k * (size_t)h * w + i] = hwc[3 * i + k];
    return true;
}

static bool write_npy(const char *path, const ncnn::Mat &m) {
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    char hd[128];
    int n = snprintf(hd, sizeof hd, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, 3), }", m.h, m.w);
    int total = (10 + n + 1 + 63) / 64 * 64;  // header padded with spaces, ends in \n
    std::string h(hd);
    h.resize(total - 10 - 1, ' ');
    h += '\n';
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(h.size() & 255),
                             (unsigned char)(h.size() >> 8)};
    bool ok = fwrite(pre, 1, 10, f) == 10 && fwrite(h.data(), 1, h.size(), f) == h.size();
    std::vector<float> hwc((size_t)m.w * m.h * 3);
    for (int k = 0; k < 3; k++) {
        const float *p = m.channel(k);
        for (size_t i = 0; i < (size_t)m.w * m.h; i++) hwc[3 * i + k] = p[i];
    }
    ok = ok && fwrite(hwc.data(), 4, hwc.size(), f) == hwc.size();
    return fclose(f) == 0 && ok;
}

int main(int argc, char **argv) {
    if (argc != 7 && argc != 9) {
        fprintf(stderr, "usage: %s NET H W REPS WINOGRAD(0|1) THREADS [IN.npy OUT.npy]\n", argv[0]);
        return 2;
    }
    int H = atoi(argv[2]), W = atoi(argv[3]), reps = atoi(argv[4]), wino = atoi(argv[5]), threads = atoi(argv[6]);
    if (H < 1 || W < 1 || reps < 1 || threads < 1 || (wino != 0 && wino != 1)) {
        fprintf(stderr, "ncnn_time: bad H, W, REPS, WINOGRAD or THREADS\n");
        return 2;
    }
    std::vector<float> chw;
    if (argc == 9 && !read_npy(argv[7], H, W, chw)) {
        fprintf(stderr, "ncnn_time: %s: not a float32 (h, w, 3) .npy\n", argv[7]);
        return 1;
    }
    if (chw.empty()) {
        chw.resize((size_t)3 * H * W);
        unsigned s = 1;
        for (float &v : chw) v = (s = s * 1664525u + 1013904223u) / 4294967296.0f;
    }
    ncnn::Net net;
    // set before loading: the Winograd kernels are transformed (and their threading
    // fixed) when the model loads
    net.opt.num_threads = threads;
    net.opt.use_winograd_convolution = wino;
    net.opt.use_fp16_storage = net.opt.use_fp16_packed = net.opt.use_fp16_arithmetic = false;
    net.opt.use_bf16_storage = false;
    net.opt.use_vulkan_compute = false;
    std::string p = std::string(argv[1]) + ".param", b = std::string(argv[1]) + ".bin";
    if (net.load_param(p.c_str()) || net.load_model(b.c_str())) {
        fprintf(stderr, "ncnn_time: cannot load %s / %s\n", p.c_str(), b.c_str());
        return 1;
    }
    ncnn::Mat in(W, H, 3), out;
    for (int k = 0; k < 3; k++) memcpy(in.channel(k), chw.data() + (size_t)k * H * W, 4 * (size_t)H * W);
    std::vector<double> t, cpu;
    for (int r = 0; r <= reps; r++) {  // r = 0: the warm-up
        double t0 = now(CLOCK_MONOTONIC), c0 = now(CLOCK_PROCESS_CPUTIME_ID);
        ncnn::Extractor ex = net.create_extractor();
        if (ex.input("in", in) || ex.extract("sr", out)) {
            fprintf(stderr, "ncnn_time: inference failed\n");
            return 1;
        }
        if (r) {
            t.push_back(now(CLOCK_MONOTONIC) - t0);
            cpu.push_back(now(CLOCK_PROCESS_CPUTIME_ID) - c0);
        }
    }
    if (out.dims != 3 || out.c != 3 || out.w % W || out.h % H) {
        fprintf(stderr, "ncnn_time: unexpected output %d x %d x %d\n", out.w, out.h, out.c);
        return 1;
    }
    if (argc == 9 && !write_npy(argv[8], out)) {
        fprintf(stderr, "ncnn_time: cannot write %s\n", argv[8]);
        return 1;
    }
    rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"impl\":\"ncnn\",\"winograd\":%d,\"median_s\":%.4f,\"min_s\":%.4f,\"max_s\":%.4f,"
           "\"peak_rss_mib\":%.0f,\"cpu_s\":%.4f}\n",
           wino, median(t), *std::min_element(t.begin(), t.end()), *std::max_element(t.begin(), t.end()),
           ru.ru_maxrss / 1024.0, median(cpu));
    return 0;
}
