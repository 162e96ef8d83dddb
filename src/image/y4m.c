// YUV4MPEG2 streams and their colour conversion. See y4m.h.
#include "image/y4m.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/core.h"
#include "image/codec.h"

#define LINE_MAX_Y4M 512  // a header or frame line longer than this is not a y4m stream

static const char MAGIC[] = "YUV4MPEG2";

// One line up to '\n' (not stored) into buf. 1: a line; 0: EOF before any byte; -1: EOF
// inside the line or a line too long.
static int read_line(FILE *fp, char *buf, size_t cap, size_t *len) {
    *len = 0;
    for (int c; (c = fgetc(fp)) != EOF;) {
        if (c == '\n') {
            buf[*len] = 0;
            return 1;
        }
        if (*len + 1 >= cap) return -1;
        buf[(*len)++] = (char)c;
    }
    buf[*len] = 0;
    return *len ? -1 : 0;
}

static int chroma_of(const char *tag, int *chroma) {
    static const struct {
        const char *tag;
        int chroma;
    } known[] = {{"420jpeg", Y4M_420}, {"420paldv", Y4M_420}, {"420mpeg2", Y4M_420}, {"420", Y4M_420},
                 {"422", Y4M_422},     {"444", Y4M_444},      {"mono", Y4M_MONO}};
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcmp(tag, known[i].tag)) return *chroma = known[i].chroma, 0;
    return -1;
}

static void set_planes(y4m_stream *s) {
    s->cw = s->chroma == Y4M_MONO ? 0 : s->chroma == Y4M_444 ? s->w : (s->w + 1) / 2;
    s->ch = s->chroma == Y4M_MONO ? 0 : s->chroma == Y4M_420 ? (s->h + 1) / 2 : s->h;
    s->frame_bytes = (size_t)s->w * s->h + 2 * (size_t)s->cw * s->ch;
}

static int parse_int(const char *p, int *out) {
    char *end;
    errno = 0;
    long v = strtol(p, &end, 10);
    if (errno || end == p || *end || v <= 0 || v > (1 << 30)) return -1;
    *out = (int)v;
    return 0;
}

int y4m_read_header(FILE *fp, const char *name, size_t magic_read, y4m_stream *s) {
    memset(s, 0, sizeof *s);
    char line[LINE_MAX_Y4M];
    size_t len;
    memcpy(line, MAGIC, magic_read);
    int r = read_line(fp, line + magic_read, sizeof line - magic_read, &len);
    len += magic_read;
    if (r <= 0 || len < 9 || memcmp(line, MAGIC, 9) || (line[9] != ' ' && line[9] != 0))
        return as_errorf("%s: not a YUV4MPEG2 stream (bad or truncated header)", name);
    s->chroma = Y4M_420;  // the format's default
    size_t plen = 0;
    for (char *save, *tok = strtok_r(line + 9, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        if (tok[0] == 'W' || tok[0] == 'H') {
            if (parse_int(tok + 1, tok[0] == 'W' ? &s->w : &s->h))
                return as_errorf("%s: YUV4MPEG2 header has a bad size '%s'", name, tok);
            continue;
        }
        if (tok[0] == 'C' && chroma_of(tok + 1, &s->chroma))
            return as_errorf("%s: YUV4MPEG2 colour space '%s' is not supported (8-bit 420, 422, 444 or mono; "
                             "convert with ffmpeg -pix_fmt yuv420p)",
                             name, tok + 1);
        if (!strcmp(tok, "XCOLORRANGE=FULL")) s->full_range = 1;
        // t, b or m (per frame): the frames are upscaled whole, which mixes the fields'
        // lines, so the output is progressive whatever the input was
        const char *kept = tok;
        if (tok[0] == 'I') {
            s->interlaced = tok[1] == 't' || tok[1] == 'b' || tok[1] == 'm';
            kept = "Ip";
        }
        plen += snprintf(s->params + plen, sizeof s->params - plen, " %s", kept);
    }
    if (!s->w || !s->h) return as_errorf("%s: YUV4MPEG2 header without W and H", name);
    if (as_check_pixels(name, s->w, s->h)) return -1;
    set_planes(s);
    return 0;
}

int y4m_read_frame(FILE *fp, const char *name, const y4m_stream *s, long frame_index, uint8_t *buf) {
    char line[LINE_MAX_Y4M];
    size_t len;
    int r = read_line(fp, line, sizeof line, &len);
    if (r == 0 && !ferror(fp)) return 0;
    if (r < 0 || strncmp(line, "FRAME", 5) || (line[5] != ' ' && line[5] != 0))
        return as_errorf("%s: frame %ld: %s", name, frame_index + 1,
                         r < 0 && feof(fp) ? "truncated stream (cut in a frame header)" : "bad frame header");
    if (fread(buf, 1, s->frame_bytes, fp) != s->frame_bytes)
        return as_errorf("%s: frame %ld: truncated stream (cut in the frame's data)", name, frame_index + 1);
    return 1;
}

int y4m_write_header(FILE *fp, const char *name, const y4m_stream *s, int w, int h) {
    if (fprintf(fp, "%s W%d H%d%s\n", MAGIC, w, h, s->params) < 0) return as_errorf("%s: write failed", name);
    return 0;
}

int y4m_write_frame(FILE *fp, const char *name, const y4m_stream *s, const uint8_t *buf) {
    if (fputs("FRAME\n", fp) < 0 || fwrite(buf, 1, s->frame_bytes, fp) != s->frame_bytes || fflush(fp))
        return as_errorf("%s: write failed: %s", name, strerror(errno));
    return 0;
}

y4m_stream y4m_resized(const y4m_stream *s, int w, int h) {
    y4m_stream r = *s;
    r.w = w, r.h = h;
    set_planes(&r);
    return r;
}

int y4m_default_matrix(const y4m_stream *s) { return s->h >= 720 ? 709 : 601; }

// Kr, Kb of the matrix; the ranges' scale and offsets.
static void coefficients(const y4m_stream *s, double *kr, double *kb, double *ys, double *yo, double *cs) {
    *kr = s->matrix == 709 ? 0.2126 : 0.299;
    *kb = s->matrix == 709 ? 0.0722 : 0.114;
    *ys = s->full_range ? 255.0 : 219.0;
    *yo = s->full_range ? 0.0 : 16.0;
    *cs = s->full_range ? 255.0 : 224.0;
}

// Chroma sample (x, y) of a luma position.
static size_t chroma_at(const y4m_stream *s, int x, int y) {
    int cx = s->chroma == Y4M_444 ? x : x / 2, cy = s->chroma == Y4M_420 ? y / 2 : y;
    return (size_t)cy * s->cw + cx;
}

int y4m_to_rgb(const y4m_stream *s, const uint8_t *frame, image *rgb) {
    if (image_alloc(rgb, s->w, s->h, 3)) return -1;
    rgb->gray = s->chroma == Y4M_MONO;
    rgb->depth = 8;
    double kr, kb, ys, yo, cs;
    coefficients(s, &kr, &kb, &ys, &yo, &cs);
    const double kg = 1 - kr - kb;
    const uint8_t *Y = frame, *U = frame + (size_t)s->w * s->h, *V = U + (size_t)s->cw * s->ch;
#pragma omp parallel for schedule(static) if ((size_t)s->w * s->h >= AS_PAR_MIN)
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            size_t i = (size_t)y * s->w + x;
            double l = (Y[i] - yo) / ys, u = 0, v = 0;
            if (s->chroma != Y4M_MONO) {
                size_t c = chroma_at(s, x, y);
                u = (U[c] - 128.0) / cs, v = (V[c] - 128.0) / cs;
            }
            double r = l + 2 * (1 - kr) * v, b = l + 2 * (1 - kb) * u, g = (l - kr * r - kb * b) / kg;
            float *p = rgb->px + 3 * i;
            p[0] = (float)r, p[1] = (float)g, p[2] = (float)b;
        }
    return 0;
}

static uint8_t to_byte(double v) {
    v = v + 0.5;
    return !(v > 0) ? 0 : v >= 255 ? 255 : (uint8_t)v;
}

void y4m_from_rgb(const y4m_stream *s, const image *rgb, uint8_t *frame) {
    double kr, kb, ys, yo, cs;
    coefficients(s, &kr, &kb, &ys, &yo, &cs);
    const double kg = 1 - kr - kb;
    uint8_t *Y = frame, *U = frame + (size_t)s->w * s->h, *V = U + (size_t)s->cw * s->ch;
    const int c = rgb->c;
#pragma omp parallel for schedule(static) if ((size_t)s->w * s->h >= AS_PAR_MIN)
    for (int y = 0; y < s->h; y++)
        for (int x = 0; x < s->w; x++) {
            const float *p = rgb->px + ((size_t)y * s->w + x) * c;
            double r = AS_MIN(AS_MAX(p[0], 0.0f), 1.0f), g = AS_MIN(AS_MAX(p[1], 0.0f), 1.0f),
                   b = AS_MIN(AS_MAX(p[2], 0.0f), 1.0f);
            Y[(size_t)y * s->w + x] = to_byte(yo + ys * (kr * r + kg * g + kb * b));
        }
    if (s->chroma == Y4M_MONO) return;
    const int bw = s->chroma == Y4M_444 ? 1 : 2, bh = s->chroma == Y4M_420 ? 2 : 1;
#pragma omp parallel for schedule(static) if ((size_t)s->cw * s->ch >= AS_PAR_MIN)
    for (int cy = 0; cy < s->ch; cy++)
        for (int cx = 0; cx < s->cw; cx++) {
            double su = 0, sv = 0;
            int n = 0;
            for (int y = cy * bh; y < AS_MIN(cy * bh + bh, s->h); y++)
                for (int x = cx * bw; x < AS_MIN(cx * bw + bw, s->w); x++, n++) {
                    const float *p = rgb->px + ((size_t)y * s->w + x) * c;
                    double r = AS_MIN(AS_MAX(p[0], 0.0f), 1.0f), g = AS_MIN(AS_MAX(p[1], 0.0f), 1.0f),
                           b = AS_MIN(AS_MAX(p[2], 0.0f), 1.0f);
                    double l = kr * r + kg * g + kb * b;
                    su += (b - l) / (2 * (1 - kb)), sv += (r - l) / (2 * (1 - kr));
                }
            U[(size_t)cy * s->cw + cx] = to_byte(128 + cs * su / n);
            V[(size_t)cy * s->cw + cx] = to_byte(128 + cs * sv / n);
        }
}
