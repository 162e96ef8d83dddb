// core: errors, checked allocation with a global budget, overflow-checked sizes,
// atomic output files, a seeded RNG and a clock. Everything above builds on this.
//
// Error convention (the whole library): a function that can fail returns 0 on success
// and -1 on failure, after recording a one-line reason with as_errorf(). The reason is
// per thread; as_error() reads it. Nothing in the library exits or prints.
#pragma once
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

// ---- errors ----------------------------------------------------------------------
// fmt's arguments may include as_error() itself, to add context to a reason:
// as_errorf("loading %s: %s", path, as_error()). Destroy/free functions never record a
// reason, so a failed create may clean up first and then add its context.
int as_errorf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));  // returns -1
const char *as_error(void);  // the last reason recorded on this thread ("" if none)
void as_clear_error(void);

// ---- limits (raised by CLI flags; checked before any allocation) ------------------
typedef struct {
    int64_t max_pixels;  // per image, default 100 megapixels
    size_t max_alloc;    // one allocation, bytes (default 16 GiB)
    size_t max_header;   // safetensors / checkpoint JSON header bytes (default 100 MiB)
} as_limits_t;
extern as_limits_t as_limits;

// ---- allocation: NULL + error on failure, overflow or over the limit --------------
void *as_malloc(size_t n);
void *as_calloc(size_t count, size_t size);
void *as_malloc_array(size_t count, size_t size);  // count*size, overflow-checked
void *as_aligned_alloc(size_t n);                  // 64-byte aligned, free with free()
// n bytes, page-aligned and zeroed, their pages mapped at once: one call instead of a
// fault per 4 KiB page on first touch (about 0.6x the kernel time for a plan's arena).
// Free with as_pages_free(p, n).
void *as_pages_alloc(size_t n);
void as_pages_free(void *p, size_t n);
int as_mul_size(size_t a, size_t b, size_t *out);             // 0 ok, -1 on overflow (no error set)
int as_check_pixels(const char *what, int64_t w, int64_t h);  // dims > 0, w*h <= limit

// ---- atomic output files: write to a temp file in the same folder, then rename ----
typedef struct {
    FILE *fp;
    char path[4096];
    char tmp[4096 + 32];
} as_outfile;
// Creates "path.tmp-XXXXXX", or for a name within 11 bytes of the file system's limit
// (NAME_MAX) a temp name from a prefix of it; refuses a name over the limit.
int as_outfile_open(as_outfile *f, const char *path);
int as_outfile_commit(as_outfile *f);  // flush, fsync, rename; closes
void as_outfile_abort(as_outfile *f);  // closes and removes the temp file
// Removes from dir the temp files that killed writers left ("NAME.tmp-XXXXXX") where
// owned(NAME, its length, ctx) is true and, when min_age > 0, that were last modified
// more than min_age seconds ago. Returns how many were removed.
int as_outfile_remove_stale(const char *dir, int (*owned)(const char *name, size_t n, void *ctx), void *ctx,
                            double min_age);
int as_write_file_atomic(const char *path, const void *data, size_t n);
int as_read_file(const char *path, void **data, size_t *n, size_t max_bytes);  // regular files only
// The rest of a stream (a pipe: stdin), at most max_bytes; `name` heads the errors.
int as_read_stream(FILE *fp, const char *name, void **data, size_t *n, size_t max_bytes);
// open(path, flags) for a regular file only, without blocking on a FIFO (every file
// attsr opens by name goes through this). The descriptor, or -1 + error.
int as_open_regular(const char *path, int flags);
int as_same_file(const char *a, const char *b);  // 1 when both name one existing file
// 1 when a and b name one file, existing or to be written: the same inode (hard and
// symbolic links), or the same path once "./", "dir/../" and links are resolved.
int as_same_path(const char *a, const char *b);
// What the commands check before any work (cheap, no file created): `path` can be
// written by as_outfile: an existing, writable folder, a name within the limit, not a
// folder or another non-regular file. as_check_output_folder: `path` is a writable
// folder, or mkdir -p can create it. 0, or -1 with the reason.
int as_check_output(const char *path);
int as_check_output_folder(const char *path);
int as_mkdir_p(const char *path);

// ---- helpers --------------------------------------------------------------------
const char *as_ext(const char *path);  // lower-case extension without the dot ("" if none)
double as_now(void);                   // monotonic seconds
double as_median(double *t, int n);    // sorts t[0..n) ascending (t[0]: the best time)

// Seeded generator (splitmix64 seeding xoshiro256**): reproducible across machines.
typedef struct {
    uint64_t s[4];
} as_rng;
void as_rng_seed(as_rng *r, uint64_t seed);
uint64_t as_rng_next(as_rng *r);
double as_rng_uniform(as_rng *r);              // [0, 1)
uint32_t as_rng_below(as_rng *r, uint32_t n);  // [0, n)

// Memory-bound loops over fewer elements than this run on one thread: an OpenMP
// parallel region costs more than it saves below it. Every such loop uses this one value.
#define AS_PAR_MIN 32768

// Deterministic parallel sums: a fixed split into AS_SUM_CHUNKS pieces, each summed in
// double, then added in order, so the result depends on neither the thread count nor
// the scheduling (OpenMP's reduction clause promises neither). Training relies on this
// for bit-identical resumes.
#define AS_SUM_CHUNKS 64
double as_sum_sq(const float *x, size_t n);  // sum x^2

// Floats from outside (pixels, weights, checkpoints, caches) are checked at load: the
// index of the first NaN or infinity in x[0..n), or n when every value is finite.
size_t as_first_nonfinite(const float *x, size_t n);

#define AS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define AS_MAX(a, b) ((a) > (b) ? (a) : (b))
