// `attsr eval --html`'s page. See report.h.
#include "cli/report.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attsr.h"
#include "core/core.h"

typedef struct {
    char *set, *name;
    int w, h;             // the cropped HR image's size
    metrics bicubic, sr;  // scores against HR
    char *section;        // the image's <section>, images embedded
} entry;

struct report {
    char *model;
    int scale, ensemble;
    entry *e;
    int n, cap;
};

report *report_new(const char *model_path, int scale, int ensemble) {
    report *r = as_calloc(1, sizeof *r);
    if (!r) return NULL;
    r->model = strdup(model_path);
    r->scale = scale;
    r->ensemble = ensemble;
    if (!r->model) {
        free(r);
        as_errorf("report: out of memory");
        return NULL;
    }
    return r;
}

void report_free(report *r) {
    if (!r) return;
    for (int i = 0; i < r->n; i++) {
        free(r->e[i].set);
        free(r->e[i].name);
        free(r->e[i].section);
    }
    free(r->e);
    free(r->model);
    free(r);
}

int report_images(const report *r) { return r->n; }

// ---- HTML text ----------------------------------------------------------------------

static void put_escaped(FILE *f, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

static void put_base64(FILE *f, const unsigned char *d, size_t n) {
    static const char T[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)d[i] << 16 | (i + 1 < n ? (unsigned)d[i + 1] << 8 : 0) | (i + 2 < n ? d[i + 2] : 0);
        char q[4] = {T[v >> 18 & 63], T[v >> 12 & 63], i + 1 < n ? T[v >> 6 & 63] : '=', i + 2 < n ? T[v & 63] : '='};
        fwrite(q, 1, 4, f);
    }
}

// A table cell holding a number: the text shown, and data-v for sorting (JavaScript's
// parseFloat reads "Infinity"; NaN, an SSIM with no valid window, sorts last).
static void put_number(FILE *f, double v, const char *fmt) {
    if (isnan(v)) {
        fputs("<td data-v=\"NaN\">nan</td>", f);
    } else if (isinf(v)) {
        fprintf(f, "<td data-v=\"%sInfinity\">%sinf</td>", v < 0 ? "-" : "", v < 0 ? "-" : "");
    } else {
        fprintf(f, "<td data-v=\"%.17g\">", v);
        fprintf(f, fmt, v);
        fputs("</td>", f);
    }
}

// ---- embedded images ----------------------------------------------------------------

// A w x h region of src at (x0, y0) as an 8-bit RGB image, each value gain * v + offset.
static int region(image *dst, const image *src, int x0, int y0, int w, int h, float gain, float offset) {
    if (image_alloc(dst, w, h, 3)) return -1;
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int c = 0; c < 3; c++)
                dst->px[((size_t)y * w + x) * 3 + c] =
                    gain * src->px[((size_t)(y0 + y) * src->w + x0 + x) * src->c + c] + offset;
    return 0;
}

// The region as a data: URI in the format of ext (jpg at REPORT_JPEG_QUALITY, or png).
static int put_image(FILE *f, const image *src, int x0, int y0, int w, int h, float gain, float offset,
                     const char *ext) {
    image img = {0};
    char *data = NULL;
    size_t n = 0;
    if (region(&img, src, x0, y0, w, h, gain, offset)) return -1;
    FILE *mem = open_memstream(&data, &n);
    if (!mem) {
        image_free(&img);
        return as_errorf("report: %s", strerror(errno));
    }
    image_write_options o = {.quality = strcmp(ext, "jpg") ? 0 : REPORT_JPEG_QUALITY};
    int rc = image_write_stream(mem, "report image", ext, &img, &o);
    if (fclose(mem) && !rc) rc = as_errorf("report: %s", strerror(errno));
    image_free(&img);
    if (!rc) {
        fprintf(f, "data:image/%s;base64,", strcmp(ext, "jpg") ? "png" : "jpeg");
        put_base64(f, (const unsigned char *)data, n);
    }
    free(data);
    return rc;
}

// The crop: the k x k window where the model's output differs most from bicubic (sum of
// |SR - bicubic| over R, G and B), inside the shaved border the scores ignore. That is
// where the model did the most work (edges, texture), so where the viewer learns most
// by comparing both with HR; it is chosen without looking at HR, so it is not picked to
// flatter the model (where the model is wrong, the crop shows that too). Ties: the
// first window in raster order. A summed-area table makes every window O(1).
static int pick_crop(const evaluate_views *v, int shave, int k, int *cx, int *cy) {
    int w = v->sr.w, h = v->sr.h;
    int x_lo = w - 2 * shave >= k ? shave : 0, y_lo = h - 2 * shave >= k ? shave : 0;
    int x_hi = x_lo ? w - shave - k : w - k, y_hi = y_lo ? h - shave - k : h - k;  // last corner
    double *sat = as_calloc((size_t)(w + 1) * (h + 1), sizeof *sat);
    if (!sat) return -1;
    for (int y = 0; y < h; y++) {
        double row = 0;
        for (int x = 0; x < w; x++) {
            size_t i = ((size_t)y * w + x) * 3;
            for (int c = 0; c < 3; c++) row += fabs((double)v->sr.px[i + c] - v->bicubic.px[i + c]);
            sat[(size_t)(y + 1) * (w + 1) + x + 1] = sat[(size_t)y * (w + 1) + x + 1] + row;
        }
    }
#define SAT(x, y) sat[(size_t)(y) * (w + 1) + (x)]
    double best = -1;
    for (int y = y_lo; y <= y_hi; y++)
        for (int x = x_lo; x <= x_hi; x++) {
            double s = SAT(x + k, y + k) - SAT(x, y + k) - SAT(x + k, y) + SAT(x, y);
            if (s > best) best = s, *cx = x, *cy = y;
        }
#undef SAT
    free(sat);
    return 0;
}

// The start of a window of n pixels (at most `side`) that holds [c, c + k), centred on it.
static int window_start(int c, int k, int n, int side) {
    if (side >= n) return 0;
    int s = c + k / 2 - side / 2;
    return s < 0 ? 0 : s + side > n ? n - side : s;
}

static int figure(FILE *f, const char *caption, const image *src, int x0, int y0, int w, int h, float gain,
                  float offset, const char *ext, int zoom) {
    fputs("<figure><img", f);
    if (zoom > 1)
        fprintf(f, " class=\"px\" width=\"%d\" height=\"%d\"", w * zoom, h * zoom);
    else
        fprintf(f, " width=\"%d\" height=\"%d\"", w, h);
    fputs(" alt=\"", f);
    put_escaped(f, caption);
    fputs("\" src=\"", f);
    if (put_image(f, src, x0, y0, w, h, gain, offset, ext)) return -1;
    fprintf(f, "\"><figcaption>%s</figcaption></figure>", caption);
    return 0;
}

static int section(FILE *f, const report *r, int id, const entry *e, const evaluate_views *v) {
    int w = v->sr.w, h = v->sr.h, s = r->scale;
    int k = AS_MIN(REPORT_CROP, AS_MIN(w, h)), cx = 0, cy = 0;
    if (pick_crop(v, s, k, &cx, &cy)) return -1;
    int vw = AS_MIN(w, REPORT_VIEW), vh = AS_MIN(h, REPORT_VIEW);
    int vx = window_start(cx, k, w, vw), vy = window_start(cy, k, h, vh);
    int zoom = AS_MAX(1, 192 / k);  // three crops beside a 512-pixel view fit a 1400-pixel page
    fprintf(f, "<section class=\"image\" id=\"i%d\">\n<h3>", id);
    put_escaped(f, e->set);
    fputs(" / ", f);
    put_escaped(f, e->name);
    fprintf(f,
            " <small>%d&times;%d &middot; bicubic %.3f dB, %.4f &middot; attsr %.3f dB, %.4f (%+.3f dB)</small></h3>\n",
            w, h, e->bicubic.psnr, e->bicubic.ssim, e->sr.psnr, e->sr.ssim, e->sr.psnr - e->bicubic.psnr);
    // the slider: attsr below, bicubic above it clipped to the left of the handle
    fprintf(f,
            "<div class=\"row\"><figure class=\"compare\" style=\"width:%dpx\"><div class=\"slider\">"
            "<img alt=\"attsr\" width=\"%d\" height=\"%d\" src=\"",
            vw, vw, vh);
    if (put_image(f, &v->sr, vx, vy, vw, vh, 1, 0, "jpg")) return -1;
    fprintf(f, "\"><img class=\"before\" alt=\"bicubic\" width=\"%d\" height=\"%d\" src=\"", vw, vh);
    if (put_image(f, &v->bicubic, vx, vy, vw, vh, 1, 0, "jpg")) return -1;
    fprintf(
        f,
        "\"><div class=\"bar\"></div><div class=\"mark\" style=\"left:%.3f%%;top:%.3f%%;width:%.3f%%;height:%.3f%%\">"
        "</div><input type=\"range\" min=\"0\" max=\"100\" value=\"50\" step=\"0.1\" "
        "aria-label=\"bicubic | attsr\"><span class=\"tag l\">bicubic</span><span class=\"tag r\">attsr</span></div>",
        100.0 * (cx - vx) / vw, 100.0 * (cy - vy) / vh, 100.0 * k / vw, 100.0 * k / vh);
    fputs("<figcaption>drag: bicubic on the left, attsr on the right; the box is the zoomed crop", f);
    if (vw < w || vh < h) fprintf(f, " (a %d&times;%d window at (%d, %d) of the image, at 1:1)", vw, vh, vx, vy);
    fputs("</figcaption></figure>\n", f);
    fprintf(f,
            "<div class=\"zoom\"><p>%d&times;%d crop at (%d, %d), %d&times;: where attsr differs most from "
            "bicubic</p><div class=\"crops\">",
            k, k, cx, cy, zoom);
    if (figure(f, "HR", &v->hr, cx, cy, k, k, 1, 0, "png", zoom) ||
        figure(f, "bicubic", &v->bicubic, cx, cy, k, k, 1, 0, "png", zoom) ||
        figure(f, "attsr", &v->sr, cx, cy, k, k, 1, 0, "png", zoom))
        return -1;
    fputs("</div></div></div>\n<div class=\"row branches\">", f);
    if (figure(f, "structure S", &v->structure, vx, vy, vw, vh, 1, 0, "jpg", 1) ||
        figure(f, "texture T, shown as 0.5 + 4 T", &v->texture, vx, vy, vw, vh, 4, 0.5f, "jpg", 1))
        return -1;
    fputs("</div>\n</section>\n", f);
    return ferror(f) ? as_errorf("report: write failed") : 0;
}

int report_add(report *r, const char *set, const char *name, const metrics *m, const evaluate_views *v) {
    if (!v->sr.px || !v->structure.px || !v->texture.px) return as_errorf("report: %s: no model output", name);
    if (r->n == r->cap) {
        int cap = r->cap ? 2 * r->cap : 16;
        entry *e = realloc(r->e, sizeof *e * cap);
        if (!e) return as_errorf("report: out of memory");
        r->e = e;
        r->cap = cap;
    }
    entry *e = &r->e[r->n];
    *e = (entry){strdup(set), strdup(name), v->sr.w, v->sr.h, v->bicubic_m, *m, NULL};
    size_t len = 0;
    FILE *f = open_memstream(&e->section, &len);
    int rc = !e->set || !e->name || !f ? as_errorf("report: out of memory") : section(f, r, r->n, e, v);
    if (f && fclose(f) && !rc) rc = as_errorf("report: out of memory");
    if (rc) {
        free(e->set);
        free(e->name);
        free(e->section);
        return -1;
    }
    r->n++;
    return 0;
}

// ---- the page -----------------------------------------------------------------------

static const char CSS[] =
    "body{font:15px/1.45 system-ui,sans-serif;margin:0 auto;padding:1em 2em 3em;max-width:1400px;"
    "color:#1d2330;background:#f6f7f9}\n"
    "h1{font-size:1.6em;margin:.2em 0}h2{margin:1.4em 0 .4em;font-size:1.25em}"
    "h3{margin:0 0 .5em;font-size:1.1em}h3 small{font-weight:normal;color:#555;margin-left:.5em}\n"
    ".meta{color:#444;margin:.2em 0}code{background:#e8eaee;padding:0 .25em;border-radius:3px}\n"
    "table{border-collapse:collapse;background:#fff;box-shadow:0 1px 3px #0002;margin-bottom:.5em}\n"
    "th,td{padding:.3em .8em;border-bottom:1px solid #e3e5e9;text-align:right;white-space:nowrap}\n"
    "th:first-child,td:first-child,th:nth-child(2),td:nth-child(2){text-align:left}\n"
    "thead th{background:#2b3445;color:#fff;cursor:pointer;user-select:none;position:sticky;top:0}\n"
    "thead th:hover{background:#3c4860}thead tr.group th{background:#1f2633;cursor:default;text-align:center}\n"
    "th[aria-sort=ascending]::after{content:' \\25B2'}th[aria-sort=descending]::after{content:' \\25BC'}\n"
    "tbody tr:hover{background:#eef3ff}td.up{color:#0a7d2c}td.down{color:#b3261e}\n"
    "a{color:#2456c7;text-decoration:none}a:hover{text-decoration:underline}\n"
    "section.image{background:#fff;box-shadow:0 1px 3px #0002;border-radius:6px;padding:1em 1.2em;margin:1.2em 0}\n"
    ".row{display:flex;flex-wrap:wrap;gap:1.2em;align-items:flex-start}\n"
    "figure{margin:0}figcaption{font-size:.85em;color:#555;margin-top:.25em;max-width:640px}\n"
    "figure img{display:block}img.px{image-rendering:pixelated;image-rendering:crisp-edges}\n"
    "figure.compare{max-width:100%}.slider{position:relative;--p:50%;line-height:0}\n"
    ".slider img{width:100%;height:auto}.slider img.before{position:absolute;left:0;top:0;"
    "clip-path:inset(0 calc(100% - var(--p)) 0 0)}\n"
    ".slider .bar{position:absolute;top:0;bottom:0;left:var(--p);width:2px;margin-left:-1px;background:#fff;"
    "box-shadow:0 0 3px #000a;pointer-events:none}\n"
    ".slider .mark{position:absolute;outline:2px solid #ffcc00;box-shadow:0 0 0 3px #0007;pointer-events:none}\n"
    ".slider input{position:absolute;inset:0;width:100%;height:100%;margin:0;opacity:0;cursor:ew-resize}\n"
    ".slider .tag{position:absolute;top:.5em;line-height:1.3;font-size:.8em;background:#000a;color:#fff;"
    "padding:.1em .5em;border-radius:3px;pointer-events:none}.tag.l{left:.5em}.tag.r{right:.5em}\n"
    ".zoom p{margin:0 0 .4em;color:#444;font-size:.9em}.crops{display:flex;flex-wrap:wrap;gap:.6em}\n"
    ".branches{margin-top:1em}\n";

// Sorting: a click on a header sorts the body's rows by that column (numbers by data-v,
// text otherwise); a second click reverses. The slider moves the bicubic image's clip.
static const char JS[] =
    "for(const t of document.querySelectorAll('table.sortable')){\n"
    "  const hs=[...t.tHead.rows[t.tHead.rows.length-1].cells];\n"
    "  hs.forEach((th,i)=>th.addEventListener('click',()=>{\n"
    "    const d=th.getAttribute('aria-sort')==='ascending'?-1:1;\n"
    "    hs.forEach(h=>h.removeAttribute('aria-sort'));\n"
    "    th.setAttribute('aria-sort',d>0?'ascending':'descending');\n"
    "    const key=r=>{const c=r.cells[i],v=c.dataset.v;if(v===undefined)return c.textContent;"
    "const x=parseFloat(v);return isNaN(x)?-Infinity:x;};\n"
    "    const rows=[...t.tBodies[0].rows];\n"
    "    rows.sort((a,b)=>{const x=key(a),y=key(b);return d*(typeof x==='string'?x.localeCompare(y):(x>y)-(x<y));});\n"
    "    t.tBodies[0].append(...rows);\n"
    "  }));\n"
    "}\n"
    "for(const s of document.querySelectorAll('.slider')){\n"
    "  const r=s.querySelector('input'),set=()=>s.style.setProperty('--p',r.value+'%');\n"
    "  r.addEventListener('input',set);set();\n"
    "}\n";

// The tables' header: the leading columns (nlead of them), then the scores.
static void head_row(FILE *f, const char *const *lead, int nlead) {
    fprintf(f,
            "<thead><tr class=\"group\"><th colspan=\"%d\"></th><th colspan=\"2\">bicubic</th>"
            "<th colspan=\"2\">attsr</th><th></th></tr>\n<tr>",
            nlead);
    for (int i = 0; i < nlead; i++) fprintf(f, "<th>%s</th>", lead[i]);
    fputs("<th>PSNR (dB)</th><th>SSIM</th><th>PSNR (dB)</th><th>SSIM</th><th>&Delta;PSNR (dB)</th></tr></thead>\n", f);
}

static void score_cells(FILE *f, const metrics *b, const metrics *s) {
    put_number(f, b->psnr, "%.3f");
    put_number(f, b->ssim, "%.4f");
    put_number(f, s->psnr, "%.3f");
    put_number(f, s->ssim, "%.4f");
    double d = s->psnr - b->psnr;
    fputs(d > 0 ? "<td class=\"up\"" : d < 0 ? "<td class=\"down\"" : "<td", f);
    if (isfinite(d))
        fprintf(f, " data-v=\"%.17g\">%+.3f</td>", d, d);
    else
        fputs(" data-v=\"NaN\">&ndash;</td>", f);
}

static void put_page(FILE *f, const report *r) {
    const char *base = strrchr(r->model, '/');
    base = base ? base + 1 : r->model;
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n<title>attsr eval: ",
          f);
    put_escaped(f, base);
    fprintf(f, " x%d</title>\n<style>\n%s</style></head>\n<body>\n<h1>attsr eval: ", r->scale, CSS);
    put_escaped(f, base);
    fprintf(f, " x%d%s</h1>\n<p class=\"meta\">model <code>", r->scale, r->ensemble ? ", x8 self-ensemble" : "");
    put_escaped(f, r->model);
    fprintf(f,
            "</code> &middot; attsr " ATTSR_VERSION " &middot; %d images. The field's protocol: HR cropped to a "
            "multiple of %d, LR by bicubic 1/%d rounded to 8 bits, PSNR and SSIM on Y with %d pixels shaved "
            "off each border (docs/protocol.md). Click a column header to sort.</p>\n",
            r->n, r->scale, r->scale, r->scale);
    // the sets, in the order first seen; means over their images in order (sum / n, as
    // the text report's)
    fputs("<h2>Sets</h2>\n<table class=\"sortable\" id=\"sets\">\n", f);
    head_row(f, (const char *const[]){"set", "images"}, 2);
    fputs("<tbody>\n", f);
    for (int i = 0; i < r->n; i++) {
        int seen = 0, n = 0;
        for (int j = 0; j < i && !seen; j++) seen = !strcmp(r->e[j].set, r->e[i].set);
        if (seen) continue;
        metrics b = {0}, s = {0};
        for (int j = i; j < r->n; j++)
            if (!strcmp(r->e[j].set, r->e[i].set)) {
                b.psnr += r->e[j].bicubic.psnr, b.ssim += r->e[j].bicubic.ssim;
                s.psnr += r->e[j].sr.psnr, s.ssim += r->e[j].sr.ssim;
                n++;
            }
        b.psnr /= n, b.ssim /= n, s.psnr /= n, s.ssim /= n;
        fputs("<tr><td>", f);
        put_escaped(f, r->e[i].set);
        fprintf(f, "</td><td data-v=\"%d\">%d</td>", n, n);
        score_cells(f, &b, &s);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n<h2>Images</h2>\n<table class=\"sortable\" id=\"images\">\n", f);
    head_row(f, (const char *const[]){"set", "image", "size"}, 3);
    fputs("<tbody>\n", f);
    for (int i = 0; i < r->n; i++) {
        const entry *e = &r->e[i];
        fputs("<tr><td>", f);
        put_escaped(f, e->set);
        fprintf(f, "</td><td><a href=\"#i%d\">", i);
        put_escaped(f, e->name);
        fprintf(f, "</a></td><td data-v=\"%lld\">%d&times;%d</td>", (long long)e->w * e->h, e->w, e->h);
        score_cells(f, &e->bicubic, &e->sr);
        fputs("</tr>\n", f);
    }
    fputs("</tbody></table>\n<h2>Images side by side</h2>\n", f);
    for (int i = 0; i < r->n; i++) fputs(r->e[i].section, f);
    fprintf(f, "<script>\n%s</script>\n</body></html>\n", JS);
}

int report_write(const report *r, const char *path) {
    as_outfile out;
    if (as_outfile_open(&out, path)) return -1;
    put_page(out.fp, r);
    return as_outfile_commit(&out);  // a write error (ferror, fsync) removes the temp file
}
