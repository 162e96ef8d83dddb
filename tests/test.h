// A tiny test harness. Each tests/test_*.c is one program; its main() calls RUN(fn)
// for each test and returns test_summary(). Output lines, counted by tests/run.sh:
//   "PASS <file>:<test>"   "FAIL <file>:<test>: <reason>"   "SKIP <file>:<test>: <why>"
// A failing CHECK prints the expression, file and line, and ends that test.
#pragma once
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int t_pass, t_fail, t_skip;
static jmp_buf t_jmp;
static const char *t_name;
static int t_skipped;

#define CHECK(cond, ...)                                                                  \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            printf("FAIL %s:%s: %s:%d: %s", __FILE__, t_name, __FILE__, __LINE__, #cond); \
            printf(" -- " __VA_ARGS__);                                                   \
            printf("\n");                                                                 \
            fflush(stdout);                                                               \
            longjmp(t_jmp, 1);                                                            \
        }                                                                                 \
    } while (0)

// Calls that return 0/-1 with as_error(): print the library's reason on failure.
#define CHECK_OK(call) CHECK((call) == 0, "%s", as_error())

#define SKIP(...)                                 \
    do {                                          \
        printf("SKIP %s:%s: ", __FILE__, t_name); \
        printf(__VA_ARGS__);                      \
        printf("\n");                             \
        t_skipped = 1;                            \
        longjmp(t_jmp, 2);                        \
    } while (0)

#define RUN(fn)                                       \
    do {                                              \
        t_name = #fn;                                 \
        t_skipped = 0;                                \
        int r_ = setjmp(t_jmp);                       \
        if (r_ == 0) {                                \
            fn();                                     \
            printf("PASS %s:%s\n", __FILE__, t_name); \
            t_pass++;                                 \
        } else if (r_ == 1) {                         \
            t_fail++;                                 \
        } else {                                      \
            t_skip++;                                 \
        }                                             \
        fflush(stdout);                               \
    } while (0)

static inline int test_summary(void) { return t_fail ? 1 : 0; }

// Where ../shared lives (tests run from the repo root); NULL when absent.
static inline const char *test_shared_dir(void) {
    static const char *cands[] = {"../shared", NULL};
    const char *env = getenv("ATTSR_SHARED");
    struct stat st;
    if (env && stat(env, &st) == 0) return env;
    for (int i = 0; cands[i]; i++)
        if (stat(cands[i], &st) == 0 && S_ISDIR(st.st_mode)) return cands[i];
    return NULL;
}

// Magnitude-aware comparison: |a-b| <= atol + rtol*|b| for every element.
// Returns the index of the first violation, or -1.
static inline long test_allclose(const float *a, const float *b, size_t n, double rtol, double atol) {
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= atol + rtol * fabs((double)b[i]))) return (long)i;
    }
    return -1;
}

// Relative error normalised by the reference's scale: max|a-b| / max(max|b|, tiny).
static inline double test_max_rel(const float *a, const float *b, size_t n) {
    double m = 0, s = 1e-30;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (!(d <= m)) m = d;  // NaN propagates as failure
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return m / s;
}
