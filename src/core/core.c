// core: errors, allocation, atomic files, RNG. See core.h.
#include "core/core.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char g_error[1024];

int as_errorf(const char *fmt, ...) {
    char tmp[sizeof g_error];  // fmt may mention as_error() itself
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(g_error, tmp, sizeof tmp);
    return -1;
}

const char *as_error(void) { return g_error; }
void as_clear_error(void) { g_error[0] = 0; }

as_limits_t as_limits = {
    .max_pixels = 100000000,
    .max_alloc = (size_t)16 << 30,
    .max_header = (size_t)100 << 20,
};

int as_mul_size(size_t a, size_t b, size_t *out) {
    if (a && b > SIZE_MAX / a) return -1;
    *out = a * b;
    return 0;
}

void *as_malloc(size_t n) {
    if (n > as_limits.max_alloc) {
        as_errorf("allocation of %zu bytes exceeds the limit of %zu", n, as_limits.max_alloc);
        return NULL;
    }
    void *p = malloc(n ? n : 1);
    if (!p) as_errorf("out of memory allocating %zu bytes", n);
    return p;
}

void *as_malloc_array(size_t count, size_t size) {
    size_t n;
    if (as_mul_size(count, size, &n)) {
        as_errorf("allocation size overflows (%zu x %zu)", count, size);
        return NULL;
    }
    return as_malloc(n);
}

void *as_calloc(size_t count, size_t size) {
    void *p = as_malloc_array(count, size);
    if (p) memset(p, 0, count * size);
    return p;
}

void *as_pages_alloc(size_t n) {
    if (n > as_limits.max_alloc) {
        as_errorf("allocation of %zu bytes exceeds the limit of %zu", n, as_limits.max_alloc);
        return NULL;
    }
    void *p = mmap(NULL, n ? n : 1, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED) {
        as_errorf("out of memory allocating %zu bytes", n);
        return NULL;
    }
    return p;
}

void as_pages_free(void *p, size_t n) {
    if (p) munmap(p, n ? n : 1);
}

void *as_aligned_alloc(size_t n) {
    if (n > as_limits.max_alloc) {
        as_errorf("allocation of %zu bytes exceeds the limit of %zu", n, as_limits.max_alloc);
        return NULL;
    }
    void *p = NULL;
    if (posix_memalign(&p, 64, n ? n : 64)) {
        as_errorf("out of memory allocating %zu bytes", n);
        return NULL;
    }
    return p;
}

int as_check_pixels(const char *what, int64_t w, int64_t h) {
    if (w <= 0 || h <= 0) return as_errorf("%s: invalid image size %lldx%lld", what, (long long)w, (long long)h);
    if (w > (1 << 30) || h > (1 << 30) || w * h > as_limits.max_pixels)
        return as_errorf("%s: image of %lldx%lld pixels exceeds the limit of %lld pixels (raise it with --max-pixels)",
                         what, (long long)w, (long long)h, (long long)as_limits.max_pixels);
    return 0;
}

// ---- atomic files ------------------------------------------------------------------

// The folder part of path (through its last '/'; "." when none) into dir; returns its
// length in path.
static size_t folder_of(const char *path, char *dir, size_t n) {
    const char *slash = strrchr(path, '/');
    size_t dir_n = slash ? (size_t)(slash - path) + 1 : 0;
    snprintf(dir, n, "%.*s", dir_n ? (int)dir_n : 1, dir_n ? path : ".");
    return dir_n;
}

static long name_max_of(const char *dir) {
    long m = pathconf(dir, _PC_NAME_MAX);
    return m > 0 ? m : NAME_MAX;
}

int as_check_output(const char *path) {
    char dir[4096];
    struct stat st;
    size_t dir_n = folder_of(path, dir, sizeof dir), base_n = strlen(path) - dir_n;
    if (strlen(path) >= sizeof dir) return as_errorf("%s: path too long", path);
    if (!base_n) return as_errorf("%s: no file name", path);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return as_errorf("%s: is a folder, expected an output file", path);
    if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
        return as_errorf("%s: exists and is not a regular file", path);  // renaming over /dev/null, say
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return as_errorf("%s: no folder %s", path, dir);
    if (access(dir, W_OK | X_OK) != 0)
        return as_errorf("%s: folder %s is not writable: %s", path, dir, strerror(errno));
    long name_max = name_max_of(dir);
    if (base_n > (size_t)name_max)
        return as_errorf("%s: file name of %zu bytes is longer than the limit of %ld", path, base_n, name_max);
    return 0;
}

int as_check_output_folder(const char *path) {
    char buf[4096];
    struct stat st;
    if (strlen(path) >= sizeof buf) return as_errorf("%s: path too long", path);
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return as_errorf("%s: exists and is not a folder", path);
        if (access(path, W_OK | X_OK) != 0) return as_errorf("%s: folder not writable: %s", path, strerror(errno));
        return 0;
    }
    // mkdir -p will create it: the nearest folder above that exists must be writable
    strcpy(buf, path);
    for (;;) {
        char *slash = strrchr(buf, '/');
        while (slash && slash > buf && slash[-1] == '/') slash--;
        if (!slash)
            strcpy(buf, ".");
        else if (slash == buf)
            strcpy(buf, "/");
        else
            *slash = 0;
        if (stat(buf, &st) == 0) break;
        if (!strcmp(buf, ".") || !strcmp(buf, "/")) return as_errorf("%s: cannot create folder", path);
    }
    if (!S_ISDIR(st.st_mode)) return as_errorf("%s: cannot create folder: %s is not a folder", path, buf);
    if (access(buf, W_OK | X_OK) != 0)
        return as_errorf("%s: cannot create folder: %s is not writable: %s", path, buf, strerror(errno));
    return 0;
}

int as_outfile_open(as_outfile *f, const char *path) {
    memset(f, 0, sizeof *f);
    if (strlen(path) >= sizeof f->path) return as_errorf("%s: path too long", path);
    strcpy(f->path, path);
    // The temp name adds ".tmp-XXXXXX" to the final name; a name near the file system's
    // limit (NAME_MAX, usually 255 bytes) gets a shortened temp name (a prefix of it, cut
    // on a UTF-8 character boundary) instead, never a shortened final name.
    char dir[4096];
    size_t dir_n = folder_of(path, dir, sizeof dir), base_n = strlen(path) - dir_n;
    long name_max = name_max_of(dir);
    if (!base_n) return as_errorf("%s: no file name", path);
    if (base_n > (size_t)name_max)
        return as_errorf("%s: file name of %zu bytes is longer than the limit of %ld", path, base_n, name_max);
    size_t keep = base_n, suffix_n = strlen(".tmp-XXXXXX");
    if (keep + suffix_n > (size_t)name_max) {
        keep = (size_t)name_max > suffix_n ? (size_t)name_max - suffix_n : 0;
        while (keep > 0 && ((unsigned char)path[dir_n + keep] & 0xC0) == 0x80) keep--;
    }
    snprintf(f->tmp, sizeof f->tmp, "%.*s.tmp-XXXXXX", (int)(dir_n + keep), path);
    int fd = mkstemp(f->tmp);
    if (fd < 0) return as_errorf("%s: cannot create: %s", path, strerror(errno));
    fchmod(fd, 0644);
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        unlink(f->tmp);
        return as_errorf("%s: cannot open: %s", path, strerror(errno));
    }
    return 0;
}

int as_outfile_commit(as_outfile *f) {
    int bad = ferror(f->fp);
    bad |= fflush(f->fp) != 0;
    bad |= fsync(fileno(f->fp)) != 0;
    int err = errno;
    bad |= fclose(f->fp) != 0;
    f->fp = NULL;
    if (bad) {
        unlink(f->tmp);
        return as_errorf("%s: write failed: %s", f->path, strerror(err ? err : EIO));
    }
    if (rename(f->tmp, f->path) != 0) {
        err = errno;
        unlink(f->tmp);
        return as_errorf("%s: cannot rename into place: %s", f->path, strerror(err));
    }
    return 0;
}

void as_outfile_abort(as_outfile *f) {
    if (f->fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp[0]) unlink(f->tmp);
}

int as_outfile_remove_stale(const char *dir, int (*owned)(const char *name, size_t n, void *ctx), void *ctx,
                            double min_age) {
    static const char SUFFIX[] = ".tmp-XXXXXX";             // as as_outfile_open names it
    const size_t suffix_n = sizeof SUFFIX - 1, mark_n = 5;  // ".tmp-", then mkstemp's 6 characters
    DIR *d = opendir(dir);
    if (!d) return 0;
    int removed = 0;
    time_t now = time(NULL);
    for (struct dirent *e; (e = readdir(d));) {
        size_t len = strlen(e->d_name);
        if (len <= suffix_n || strncmp(e->d_name + len - suffix_n, SUFFIX, mark_n) ||
            !owned(e->d_name, len - suffix_n, ctx))
            continue;
        char path[4096 + 256];
        struct stat st;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && (min_age <= 0 || difftime(now, st.st_mtime) > min_age) &&
            unlink(path) == 0)
            removed++;
    }
    closedir(d);
    return removed;
}

int as_write_file_atomic(const char *path, const void *data, size_t n) {
    as_outfile f;
    if (as_outfile_open(&f, path)) return -1;
    if (n && fwrite(data, 1, n, f.fp) != n) {
        as_outfile_abort(&f);
        return as_errorf("%s: write failed: %s", path, strerror(errno));
    }
    return as_outfile_commit(&f);
}

int as_open_regular(const char *path, int flags) {
    // O_NONBLOCK: opening a FIFO would otherwise wait for the other end, forever; the
    // type is then checked on what was opened (no race with a rename). Regular files
    // ignore the flag, but it is cleared all the same.
    int fd = open(path, flags | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0644);
    if (fd < 0) return as_errorf("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return as_errorf("%s: not a regular file", path);
    }
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
    return fd;
}

int as_read_file(const char *path, void **data, size_t *n, size_t max_bytes) {
    *data = NULL;
    *n = 0;
    struct stat st;
    int fd = as_open_regular(path, O_RDONLY);
    if (fd < 0) return -1;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return as_errorf("%s: cannot open: %s", path, strerror(errno));
    }
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return as_errorf("%s: cannot open: %s", path, strerror(errno));
    }
    if ((uint64_t)st.st_size > max_bytes) {
        fclose(fp);
        return as_errorf("%s: file of %lld bytes is larger than the limit of %zu", path, (long long)st.st_size,
                         max_bytes);
    }
    size_t size = (size_t)st.st_size;
    char *buf = as_malloc(size + 1);
    if (!buf) {
        fclose(fp);
        return as_errorf("%s: %s", path, as_error());
    }
    size_t got = fread(buf, 1, size, fp);
    fclose(fp);
    if (got != size) {
        free(buf);
        return as_errorf("%s: read failed", path);
    }
    buf[size] = 0;
    *data = buf;
    *n = size;
    return 0;
}

int as_read_stream(FILE *fp, const char *name, void **data, size_t *n, size_t max_bytes) {
    *data = NULL;
    *n = 0;
    if (max_bytes > SIZE_MAX - 2) max_bytes = SIZE_MAX - 2;
    size_t cap = 1 << 16, len = 0;  // cap: room for max_bytes + 1 (to see more) + the NUL
    char *buf = NULL;
    for (;;) {
        if (len == cap - 1 || !buf) {
            if (buf) cap = cap > (max_bytes + 2) / 2 ? max_bytes + 2 : cap * 2;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                return as_errorf("%s: out of memory reading %zu bytes", name, cap);
            }
            buf = b;
        }
        size_t got = fread(buf + len, 1, cap - 1 - len, fp);
        len += got;
        if (got == 0) break;
        if (len > max_bytes) {
            free(buf);
            return as_errorf("%s: more than the limit of %zu bytes", name, max_bytes);
        }
    }
    if (ferror(fp)) {
        free(buf);
        return as_errorf("%s: read failed: %s", name, strerror(errno));
    }
    buf[len] = 0;
    *data = buf;
    *n = len;
    return 0;
}

// An absolute path naming what `path` names: symlinks resolved in the part that
// exists, "." and ".." and repeated slashes removed from the rest (which mkdir -p or
// a write would create, so ".." there is lexical). 0, or -1 when too long.
static int canonical_path(const char *path, char *out, size_t n) {
    char rest[4096], part[4096];
    if (strlen(path) >= sizeof rest || n < 2) return -1;
    if (path[0] == '/') {
        strcpy(out, "/");
    } else if (!getcwd(out, n)) {
        return -1;
    }
    strcpy(rest, path);
    for (char *save, *c = strtok_r(rest, "/", &save); c; c = strtok_r(NULL, "/", &save)) {
        if (!strcmp(c, ".")) continue;
        size_t len = strlen(out);
        if (!strcmp(c, "..")) {
            char *slash = strrchr(out, '/');
            if (slash == out)
                out[1] = 0;
            else
                *slash = 0;
            continue;
        }
        if (snprintf(part, sizeof part, "%s%s%s", out, len > 1 ? "/" : "", c) >= (int)sizeof part) return -1;
        struct stat st;
        // an existing name through its real path (a dangling link stays as it is)
        if (lstat(part, &st) == 0 && realpath(part, out)) continue;
        if (strlen(part) >= n) return -1;
        strcpy(out, part);
    }
    return 0;
}

int as_same_path(const char *a, const char *b) {
    if (as_same_file(a, b)) return 1;
    char ca[4096], cb[4096];
    if (canonical_path(a, ca, sizeof ca) || canonical_path(b, cb, sizeof cb)) return !strcmp(a, b);
    return !strcmp(ca, cb);
}

int as_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int as_mkdir_p(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) return as_errorf("%s: path too long", path);
    strcpy(buf, path);
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == 0) {
            char c = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST)
                return as_errorf("%s: cannot create folder: %s", buf, strerror(errno));
            *p = c;
            if (!c) break;
        }
    }
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return as_errorf("%s: not a folder", path);
    return 0;
}

const char *as_ext(const char *path) {
    static _Thread_local char ext[16];
    const char *slash = strrchr(path, '/');
    const char *dot = strrchr(path, '.');
    ext[0] = 0;
    if (!dot || (slash && dot < slash)) return ext;
    size_t i = 0;
    for (dot++; *dot && i < sizeof ext - 1; dot++) ext[i++] = (char)tolower((unsigned char)*dot);
    ext[i] = 0;
    return ext;
}

double as_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double as_median(double *t, int n) {
    qsort(t, n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

// ---- RNG ----------------------------------------------------------------------------

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void as_rng_seed(as_rng *r, uint64_t seed) {
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t as_rng_next(as_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double as_rng_uniform(as_rng *r) { return (as_rng_next(r) >> 11) * 0x1.0p-53; }

uint32_t as_rng_below(as_rng *r, uint32_t n) { return (uint32_t)(as_rng_uniform(r) * n); }

double as_sum_sq(const float *x, size_t n) {
    double part[AS_SUM_CHUNKS], sum = 0;
#pragma omp parallel for schedule(static) if (n >= AS_PAR_MIN)
    for (int k = 0; k < AS_SUM_CHUNKS; k++) {
        double s = 0;
        for (size_t i = n * k / AS_SUM_CHUNKS; i < n * (k + 1) / AS_SUM_CHUNKS; i++) s += (double)x[i] * x[i];
        part[k] = s;
    }
    for (int k = 0; k < AS_SUM_CHUNKS; k++) sum += part[k];
    return sum;
}

size_t as_first_nonfinite(const float *x, size_t n) {
    size_t first = n;
#pragma omp parallel for schedule(static) reduction(min : first) if (n >= AS_PAR_MIN)
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) && i < first) first = i;
    return first;
}
