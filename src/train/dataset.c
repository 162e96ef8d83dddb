// Training data: HR images in memory (8-bit), their SATV structure images (float,
// cached on disk), and deterministic random patches built on a background thread.
#include "train/dataset.h"

#include <omp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "image/image.h"
#include "image/resize.h"
#include "train/satv.h"
#include "train/satv_cache.h"

typedef struct {
    int w, h;
    uint8_t *hr;  // (h, w, 3)
    float *s;     // (h, w, 3) SATV structure; texture = hr/255 - s
} train_image;

struct dataset {
    dataset_config c;
    int n;
    train_image *img;
    int local_b, ps;          // samples per step on this rank; HR patch side
    float *lr, *s_hr, *t_hr;  // the worker's output for `ready`
    pthread_t worker;
    int worker_started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    long want, ready;  // steps asked for / built (-1: none)
    int quit, worker_rc;
    char worker_err[1024];
};

// Reads one HR image and its structure (from the cache, or computed and cached).
// Returns 1 when the image is too small for a patch (skipped), 0 ok, -1 error.
static int load_image(dataset *d, const char *path, train_image *out, int *computed) {
    void *file;
    size_t n;
    image im = {0};
    if (as_read_file(path, &file, &n, (size_t)1 << 31)) return -1;
    int rc = image_read_memory(file, n, path, &im);
    uint64_t key = rc ? 0 : satv_cache_key(file, n, d->c.satv_lambda, d->c.satv_iters);
    free(file);
    if (rc) return -1;
    if (im.w < d->ps || im.h < d->ps) {
        image_free(&im);
        return 1;
    }
    size_t px = (size_t)im.w * im.h;
    out->w = im.w, out->h = im.h;
    out->hr = as_malloc_array(px, 3);
    out->s = as_malloc_array(px * 3, sizeof(float));
    float *rgb = as_malloc_array(px * 3, sizeof(float));
    if (!out->hr || !out->s || !rgb) rc = -1;
    for (size_t i = 0; !rc && i < px; i++)
        for (int k = 0; k < 3; k++) {
            out->hr[3 * i + k] = image_to_u8(im.px[i * im.c + k]);
            rgb[3 * i + k] = out->hr[3 * i + k] / 255.0f;  // the 8-bit image is the ground truth
        }
    image_free(&im);
    char cpath[4096];
    snprintf(cpath, sizeof cpath, "%s/%016llx.satv", d->c.cache_dir, (unsigned long long)key);
    if (!rc && satv_cache_read(cpath, key, out->w, out->h, out->s) != 0) {
        satv_params p = satv_defaults();
        p.lambda = d->c.satv_lambda;
        p.max_iters = d->c.satv_iters;
        rc = satv_decompose(out->s, NULL, NULL, rgb, out->h, out->w, 3, &p) ||
             satv_cache_write(cpath, key, out->w, out->h, out->s);
        if (rc) as_errorf("%s: %s", path, as_error());
        *computed += !rc;
    }
    free(rgb);
    return rc ? -1 : 0;
}

// ---- samples ------------------------------------------------------------------------

static uint64_t mix(uint64_t x) {
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// Sample i of step t: an image, a crop and one of the 8 flips/rotations, from a
// generator seeded by (seed, t, i) alone.
static int build_sample(const dataset *d, long t, int i, float *lr, float *s_hr, float *t_hr, float *tmp) {
    as_rng rng;
    as_rng_seed(&rng, mix(d->c.seed * 0x9e3779b97f4a7c15ULL ^ mix((uint64_t)t * 65537 + (uint64_t)i)));
    const train_image *im = &d->img[as_rng_below(&rng, (uint32_t)d->n)];
    int ps = d->ps;
    int x0 = (int)as_rng_below(&rng, (uint32_t)(im->w - ps + 1));
    int y0 = (int)as_rng_below(&rng, (uint32_t)(im->h - ps + 1));
    uint32_t aug = as_rng_below(&rng, 8);  // bit 0: flip x, bit 1: flip y, bit 2: transpose
    for (int y = 0; y < ps; y++)
        for (int x = 0; x < ps; x++) {
            int sx = aug & 4 ? y : x, sy = aug & 4 ? x : y;
            if (aug & 1) sx = ps - 1 - sx;
            if (aug & 2) sy = ps - 1 - sy;
            size_t src = ((size_t)(y0 + sy) * im->w + (x0 + sx)) * 3, dst = ((size_t)y * ps + x) * 3;
            for (int k = 0; k < 3; k++) {
                float hr = im->hr[src + k] / 255.0f;
                tmp[dst + k] = hr;
                s_hr[dst + k] = im->s[src + k];
                t_hr[dst + k] = hr - im->s[src + k];
            }
        }
    // LR by docs/spec.md §2's degradation (the patch is already a multiple of the scale)
    image hr = {.w = ps, .h = ps, .c = 3, .px = tmp}, small = {0};
    if (degrade(&small, NULL, &hr, d->c.scale)) return -1;
    memcpy(lr, small.px, sizeof(float) * d->c.patch * d->c.patch * 3);
    image_free(&small);
    return 0;
}

static void build_batch(dataset *d, long t) {
    size_t lr_n = (size_t)d->c.patch * d->c.patch * 3, hr_n = (size_t)d->ps * d->ps * 3;
    float *tmp = malloc(sizeof(float) * hr_n);
    if (!tmp) {
        d->worker_rc = -1;
        snprintf(d->worker_err, sizeof d->worker_err, "out of memory building a batch");
        return;
    }
    for (int j = 0; j < d->local_b && !d->worker_rc; j++) {
        int i = d->c.rank + j * d->c.world;  // this rank's share of the global batch
        if (build_sample(d, t, i, d->lr + j * lr_n, d->s_hr + j * hr_n, d->t_hr + j * hr_n, tmp)) {
            d->worker_rc = -1;
            snprintf(d->worker_err, sizeof d->worker_err, "%s", as_error());
        }
    }
    free(tmp);
}

static void *worker_main(void *arg) {
    dataset *d = arg;
    omp_set_num_threads(1);  // the training step owns the cores
    pthread_mutex_lock(&d->mu);
    for (;;) {
        while (!d->quit && d->want == d->ready) pthread_cond_wait(&d->cv, &d->mu);
        if (d->quit) break;
        long t = d->want;
        pthread_mutex_unlock(&d->mu);
        build_batch(d, t);
        pthread_mutex_lock(&d->mu);
        d->ready = t;
        pthread_cond_broadcast(&d->cv);
    }
    pthread_mutex_unlock(&d->mu);
    return NULL;
}

// ---- open / close / batch -----------------------------------------------------------

static void count_skipped(const char *path, const char *why, void *count) { (*(int *)count)++; }

dataset *dataset_open(const dataset_config *c) {
    if (c->scale < 2 || c->scale > 4 || c->patch < 4 || c->batch < 1 || c->world < 1 || c->rank < 0 ||
        c->rank >= c->world || c->batch < c->world) {
        as_errorf("dataset: bad configuration (scale %d, patch %d, batch %d, rank %d of %d)", c->scale, c->patch,
                  c->batch, c->rank, c->world);
        return NULL;
    }
    dataset *d = as_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->c = *c;
    d->ps = c->patch * c->scale;
    d->local_b = (c->batch - c->rank + c->world - 1) / c->world;
    d->want = d->ready = -1;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    if (as_mkdir_p(c->cache_dir)) goto fail;
    satv_cache_remove_stale(c->cache_dir, 3600);  // temp files of writers killed an hour ago or more
    int total = 0, skipped = 0, computed = 0, others = 0;
    double t0 = as_now();
    for (int k = 0; k < c->n_dirs; k++) {
        int n;
        char **list = image_list_folder_skips(c->dirs[k], &n, count_skipped, &others);
        if (!list) goto fail;
        train_image *grown = realloc(d->img, sizeof(train_image) * (d->n + n + 1));
        if (!grown) {
            image_free_list(list);
            as_errorf("out of memory");
            goto fail;
        }
        d->img = grown;
        for (int i = 0; i < n; i++) {
            train_image *im = &d->img[d->n];
            memset(im, 0, sizeof *im);
            int r = load_image(d, list[i], im, &computed);
            if (r < 0) {
                free(im->hr);
                free(im->s);
                image_free_list(list);
                goto fail;
            }
            if (r == 0)
                d->n++;
            else
                skipped++;
            total++;
            if (c->verbose && (total % 50 == 0)) fprintf(stderr, "dataset: %d images read\n", total);
        }
        image_free_list(list);
    }
    if (!d->n) {
        as_errorf("dataset: no training image of at least %dx%d pixels in the given folders", d->ps, d->ps);
        goto fail;
    }
    if (c->verbose) {
        char other[64] = "";  // what else the folders hold is said, not silently dropped
        if (others)
            snprintf(other, sizeof other, "; %d other file%s, not images, ignored", others, others > 1 ? "s" : "");
        fprintf(stderr, "dataset: %d images (%d too small, skipped%s), %d decomposed now, %d from the cache, %.1fs\n",
                d->n, skipped, other, computed, d->n - computed, as_now() - t0);
    }
    size_t lr_n = (size_t)d->local_b * c->patch * c->patch * 3, hr_n = (size_t)d->local_b * d->ps * d->ps * 3;
    d->lr = as_malloc_array(lr_n, sizeof(float));
    d->s_hr = as_malloc_array(hr_n, sizeof(float));
    d->t_hr = as_malloc_array(hr_n, sizeof(float));
    if (!d->lr || !d->s_hr || !d->t_hr) goto fail;
    if (pthread_create(&d->worker, NULL, worker_main, d)) {
        as_errorf("dataset: cannot start the loader thread");
        goto fail;
    }
    d->worker_started = 1;
    return d;
fail:
    dataset_close(d);
    return NULL;
}

void dataset_close(dataset *d) {
    if (!d) return;
    if (d->worker_started) {
        pthread_mutex_lock(&d->mu);
        d->quit = 1;
        pthread_cond_broadcast(&d->cv);
        pthread_mutex_unlock(&d->mu);
        pthread_join(d->worker, NULL);
    }
    for (int i = 0; i < d->n; i++) {
        free(d->img[i].hr);
        free(d->img[i].s);
    }
    free(d->img);
    free(d->lr);
    free(d->s_hr);
    free(d->t_hr);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

int dataset_local_batch(const dataset *d) { return d->local_b; }

int dataset_batch(dataset *d, long step, float *lr, float *s_hr, float *t_hr) {
    size_t lr_n = (size_t)d->local_b * d->c.patch * d->c.patch * 3, hr_n = (size_t)d->local_b * d->ps * d->ps * 3;
    pthread_mutex_lock(&d->mu);
    if (d->ready != step && d->want != step) {  // not prefetched: ask for it now
        while (d->want != d->ready) pthread_cond_wait(&d->cv, &d->mu);
        d->want = step;
        pthread_cond_broadcast(&d->cv);
    }
    while (d->ready != step) pthread_cond_wait(&d->cv, &d->mu);
    int rc = d->worker_rc;
    if (rc) as_errorf("dataset: %s", d->worker_err);
    memcpy(lr, d->lr, sizeof(float) * lr_n);
    memcpy(s_hr, d->s_hr, sizeof(float) * hr_n);
    memcpy(t_hr, d->t_hr, sizeof(float) * hr_n);
    d->want = step + 1;  // build the next batch while this one trains
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
    return rc ? -1 : 0;
}
