// attsr upscale: one image or a folder of images, with a model or the bicubic baseline.
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "core/core.h"
#include "image/y4m.h"

static const char *HELP = "usage: attsr upscale [-m MODEL | --bicubic] [--scale S] -i IN -o OUT\n"
                          "                     [--structure OUT_S] [--texture OUT_T] [--tile N] [--overlap N] [--memory MIB]\n"
                          "                     [--ensemble] [--threads N] [--max-pixels N]\n"
                          "                     [--keep-orientation] [--depth 8|16] [--rgb] [--quality Q]\n"
                          "                     [--format EXT] [--matrix 601|709]\n"
                          "IN and OUT are files (.png, .jpg, .webp, .tif, .npy; .bmp is read only) or, when IN\n"
                          "is a folder, folders: every image in IN is upscaled into OUT under the same name\n"
                          "(x.bmp as x.bmp.png); a bad file is reported and skipped, and the exit status is\n"
                          "then 1 (also when IN holds no image; other files are named as skipped). No output\n"
                          "may name an input or another output, by any path. Without -m, the bundled model\n"
                          "for the scale (default 2) is used. --structure/--texture write the two branches\n"
                          "(the texture, which is signed, as T + 0.5 in 8-bit files). --tile N processes\n"
                          "LR tiles of at most N x N with --overlap pixels of context (default: the network's\n"
                          "receptive radius); without it, the whole image when its plan fits --memory MIB\n"
                          "(default 1152), else the fewest windows that do: a smaller budget lowers the peak\n"
                          "memory and costs time in the windows' overlapping context.\n"
                          "--ensemble averages the outputs for the 8 flips and transposes of the input (x8\n"
                          "self-ensemble, as EDSR's \"+\" results): usually a little higher PSNR, 8x the time.\n"
                          "Outputs keep what the input had where the format can hold it (docs/formats.md):\n"
                          "16 bits, gray (written as the luma 0.299 R + 0.587 G + 0.114 B), the ICC profile\n"
                          "and EXIF. --depth writes PNG with 8 or 16 bits whatever the input; --rgb writes a\n"
                          "gray input's output as RGB; --quality sets JPEG's quality (default 95) and makes\n"
                          "WebP lossy at that quality (WebP is otherwise lossless).\n"
                          "-i - reads one image from stdin (its format from its bytes); -o - writes one to\n"
                          "stdout, in the format --format names (png, jpg, webp, tif, npy) or else the input's.\n"
                          "Video: a YUV4MPEG2 stream (a .y4m file, or stdin: ffmpeg -f yuv4mpegpipe) is\n"
                          "upscaled frame by frame into one (a .y4m file or -o -), same chroma format and\n"
                          "range; --matrix sets the Y'CbCr matrix (default: 709 from 720 lines up, else 601).\n"
                          "Interlaced video is upscaled as progressive frames (deinterlace it first). With\n"
                          "ffmpeg: ffmpeg -i in.mp4 -f yuv4mpegpipe - | attsr upscale -i - -o - | ffmpeg -i -\n"
                          "out.mp4 (docs/formats.md).\n" CLI_KEEP_ORIENTATION_HELP CLI_PRECISION_HELP CLI_DEVICE_HELP;

typedef struct {
    attsr_model *model;  // NULL: bicubic
    const char *model_path, *model_flag;
    int scale;
    attsr_options opt;
    const char *structure, *texture;
    unsigned read_flags;
    image_write_options write;
    const char *format;  // -o -: the output's extension
    int matrix;          // y4m: 601 or 709; 0: y4m_default_matrix
} job;

// Every path of one image's upscale, checked together (cli_check_paths); folders: the
// three outputs are folders, before the folder's images are listed.
// "-" (stdin, stdout) is no path to check, and a .y4m video no image file.
static int check_paths(const job *j, const char *in, const char *out, const char *out_s, const char *out_t, int kind) {
#define PATH(flag, p) \
    { flag, p &&strcmp(p, "-") ? p : NULL, kind == CLI_IMAGE &&p &&image_ext_video(as_ext(p)) ? CLI_FILE : kind }
    const cli_path ins[] = {PATH("-i", in), {j->model_flag, j->model_path, CLI_FILE}},
                   outs[] = {PATH("-o", out), PATH("--structure", out_s), PATH("--texture", out_t)};
#undef PATH
    return cli_check_paths(ins, CLI_N(ins), outs, CLI_N(outs));
}

static void tile_progress(int done, int total, void *user) {
    if (total > 1) cli_progress((const char *)user, done, total);
}

// Texture is signed: 8-bit files store T + 0.5 (docs/spec.md §1); .npy stays raw.
static int write_texture(const char *path, image *t, const image_write_options *o) {
    if (strcmp(as_ext(path), "npy")) {
        size_t n = (size_t)t->w * t->h * t->c;
        for (size_t i = 0; i < n; i++) t->px[i] += 0.5f;
    }
    return image_write_with(path, t, o);
}

// The output keeps the input's bit depth and metadata (cli_upscale_image keeps gray).
static int keep_source(image *out, const image *in) {
    out->depth = in->depth;
    return image_meta_copy(out, in);
}

static int is_stdio(const char *path) { return !strcmp(path, "-"); }

// The input image, from a file or (IN "-") stdin, whose first head_n bytes are already
// in head (they told video from an image); *ext gets its format's extension, for an
// output to stdout without --format.
static int read_input(const job *j, const char *in, const uint8_t *head, size_t head_n, image *lr, char *ext,
                      size_t n) {
    if (!is_stdio(in)) {
        snprintf(ext, n, "%s", as_ext(in));
        return image_read_flags(in, lr, j->read_flags);
    }
    uint8_t *rest, *data;
    size_t len;
    if (as_read_stream(stdin, "<stdin>", (void **)&rest, &len, as_limits.max_alloc - 1 - head_n)) return -1;
    if (!(data = as_malloc(head_n + len + 1))) {
        free(rest);
        return as_errorf("<stdin>: %s", as_error());
    }
    memcpy(data, head, head_n);
    memcpy(data + head_n, rest, len);
    free(rest);
    snprintf(ext, n, "%s", image_content_ext(data, head_n + len));
    int rc = image_read_memory_as(data, head_n + len, "<stdin>", "", lr, j->read_flags);
    free(data);
    return rc;
}

// OUT "-": stdout, in --format's format, else the input's (PNG for a read-only one).
static int write_output(const job *j, const char *out, const image *sr, const char *in_ext) {
    if (!is_stdio(out)) return image_write_with(out, sr, &j->write);
    const char *ext = j->format ? j->format : image_ext_writable(in_ext) ? in_ext : "png";
    return image_write_stream(stdout, "<stdout>", ext, sr, &j->write);
}

// ---- video: YUV4MPEG2 in, frame by frame, YUV4MPEG2 out ------------------------------

typedef struct {
    y4m_stream in, out;
    uint8_t *in_frame, *out_frame;
    long frames;
} video;

static int video_frame(const job *j, video *v, const char *label) {
    image lr = {0}, sr = {0};
    attsr_options opt = j->opt;
    opt.progress_user = (void *)label;
    int rc = y4m_to_rgb(&v->in, v->in_frame, &lr) || cli_upscale_image(j->model, j->scale, &lr, &sr, NULL, NULL, &opt);
    if (!rc) y4m_from_rgb(&v->out, &sr, v->out_frame);
    image_free(&lr);
    image_free(&sr);
    return rc;
}

// Frames are read, upscaled and written one at a time (memory: one frame each way plus
// the upscaling's tiles). A cut stream is an error after the complete frames went out;
// to a file, those frames are kept (the file is a whole, shorter stream).
static int upscale_video(const job *j, FILE *in, const char *in_name, size_t magic_read, const char *out) {
    video v = {0};
    as_outfile f = {0};
    FILE *fp = stdout;
    const char *out_name = is_stdio(out) ? "<stdout>" : out;
    int rc = 0, cut = 0;
    if (!is_stdio(out) && !image_ext_video(as_ext(out)))
        return cli_error("%s: a YUV4MPEG2 input is written as .y4m or to -o -", out);
    if (y4m_read_header(in, in_name, magic_read, &v.in)) return cli_error("%s", as_error());
    if (v.in.interlaced)
        fprintf(stderr,
                "attsr upscale: %s: interlaced video is upscaled as progressive frames (the fields' "
                "lines mix); deinterlace it first for a clean result (ffmpeg -vf bwdif)\n",
                in_name);
    v.in.matrix = j->matrix ? j->matrix : y4m_default_matrix(&v.in);
    v.out = y4m_resized(&v.in, v.in.w * j->scale, v.in.h * j->scale);
    if (as_check_pixels(out_name, v.out.w, v.out.h) || !(v.in_frame = as_malloc(v.in.frame_bytes)) ||
        !(v.out_frame = as_malloc(v.out.frame_bytes)) || (!is_stdio(out) && as_outfile_open(&f, out))) {
        rc = -1;
        goto done;
    }
    if (f.fp) fp = f.fp;
    rc = y4m_write_header(fp, out_name, &v.out, v.out.w, v.out.h);
    double last = as_now();
    for (int r; !rc && (r = y4m_read_frame(in, in_name, &v.in, v.frames, v.in_frame)) != 0;) {
        if (r < 0) {
            cut = 1;
            break;
        }
        rc = video_frame(j, &v, in_name) || y4m_write_frame(fp, out_name, &v.out, v.out_frame);
        v.frames += !rc;
        if (!rc && as_now() - last >= 5.0) {
            fprintf(stderr, "attsr upscale: %ld frames\n", v.frames);
            last = as_now();
        }
    }
    if (cut) cli_error("%s (%ld complete frames written)", as_error(), v.frames);
    if (rc && !cut) as_errorf("%s (after %ld complete frames)", as_error(), v.frames);
    if (!rc && !cut)
        fprintf(stderr, "attsr upscale: %ld frames, %dx%d to %dx%d (BT.%d)\n", v.frames, v.in.w, v.in.h, v.out.w,
                v.out.h, v.in.matrix);
    if (f.fp) rc = rc ? (as_outfile_abort(&f), -1) : as_outfile_commit(&f);
done:
    if (rc) cli_error("%s", as_error());
    free(v.in_frame);
    free(v.out_frame);
    return rc || cut ? -1 : 0;
}

static int upscale_one(const job *j, const char *in, const char *out, const char *out_s, const char *out_t) {
    if (check_paths(j, in, out, out_s, out_t, CLI_IMAGE)) return -1;
    uint8_t head[9];
    size_t head_n = 0;
    int video_in = !is_stdio(in) && image_ext_video(as_ext(in));
    if (is_stdio(in)) {  // video or one image: the first bytes tell
        head_n = fread(head, 1, sizeof head, stdin);
        video_in = head_n == sizeof head && !memcmp(head, "YUV4MPEG2", 9);
    }
    if (video_in && (out_s || out_t)) return cli_error("--structure and --texture take an image, not a video");
    if (video_in && is_stdio(in)) return upscale_video(j, stdin, "<stdin>", head_n, out);
    if (video_in) {
        int fd = as_open_regular(in, O_RDONLY);
        FILE *fp = fd < 0 ? NULL : fdopen(fd, "rb");
        if (!fp) {
            if (fd >= 0) close(fd);
            return cli_error("%s", fd < 0 ? as_error() : strerror(errno));
        }
        int rc = upscale_video(j, fp, in, 0, out);
        fclose(fp);
        return rc;
    }
    image lr = {0}, sr = {0}, st = {0}, tx = {0};
    attsr_options opt = j->opt;
    const char *label = is_stdio(in) ? "<stdin>" : in;
    opt.progress_user = (void *)label;
    const image_write_options *w = &j->write;
    char in_ext[16];
    int rc = read_input(j, in, head, head_n, &lr, in_ext, sizeof in_ext);
    if (!rc && cli_upscale_image(j->model, j->scale, &lr, &sr, out_s ? &st : NULL, out_t ? &tx : NULL, &opt))
        rc = as_errorf("%s: %s", label, as_error());  // name the file (a folder's images)
    rc = rc || keep_source(&sr, &lr) || write_output(j, out, &sr, in_ext) ||
         (out_s && image_write_with(out_s, &st, w)) || (out_t && write_texture(out_t, &tx, w));
    if (rc) cli_error("%s", as_error());
    image_free(&lr);
    image_free(&sr);
    image_free(&st);
    image_free(&tx);
    return rc ? -1 : 0;
}

// dir/NAME for the input path's NAME; a format attsr reads but does not write (.bmp)
// becomes NAME.png.
static char *join(const char *dir, const char *path) {
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *suffix = image_ext_writable(as_ext(base)) ? "" : ".png";
    size_t n = strlen(dir) + strlen(base) + strlen(suffix) + 2;
    char *r = malloc(n);
    if (r) snprintf(r, n, "%s/%s%s", dir, base, suffix);
    return r;
}

static int upscale_folder(const job *j, const char *in, const char *out) {
    int n, failed = 0, skipped = 0;
    char **list = image_list_folder_skips(in, &n, cli_report_skipped, &skipped);
    if (!list) return cli_error("%s", as_error());
    if (!n) {  // nothing to do is a failure, not a silent success
        image_free_list(list);
        return cli_error("%s: no images in the folder%s", in, skipped ? ", only the skipped files above" : "");
    }
    if (as_mkdir_p(out) || (j->structure && as_mkdir_p(j->structure)) || (j->texture && as_mkdir_p(j->texture))) {
        image_free_list(list);
        return cli_error("%s", as_error());
    }
    for (int i = 0; i < n; i++) {
        char *o = join(out, list[i]), *os = j->structure ? join(j->structure, list[i]) : NULL,
             *ot = j->texture ? join(j->texture, list[i]) : NULL;
        failed += upscale_one(j, list[i], o, os, ot) != 0;
        free(o);
        free(os);
        free(ot);
        cli_progress("upscale", i + 1, n);
    }
    image_free_list(list);
    if (failed) fprintf(stderr, "attsr upscale: %d of %d images failed\n", failed, n);
    return failed ? 1 : 0;
}

enum {
    OPT_BICUBIC = OPT_FIRST_FREE,
    OPT_STRUCTURE,
    OPT_TEXTURE,
    OPT_TILE,
    OPT_OVERLAP,
    OPT_MEMORY,
    OPT_ENSEMBLE,
    OPT_DEPTH,
    OPT_RGB,
    OPT_QUALITY,
    OPT_FORMAT,
    OPT_MATRIX
};

typedef struct {
    job j;
    const char *model_path, *in, *out;
    long scale;
    int bicubic;
} upscale_args;

static int upscale_option(int opt, const char *arg, void *p) {
    upscale_args *a = p;
    long v;
    switch (opt) {
    case 'm': a->model_path = arg; return 0;
    case OPT_BICUBIC: a->bicubic = 1; return 0;
    case 's': return cli_int(arg, 2, 4, "--scale", &a->scale);
    case 'i': a->in = arg; return 0;
    case 'o': a->out = arg; return 0;
    case OPT_STRUCTURE: a->j.structure = arg; return 0;
    case OPT_TEXTURE: a->j.texture = arg; return 0;
    case OPT_TILE: return cli_int32(arg, 8, 1 << 16, "--tile", &a->j.opt.tile);
    case OPT_OVERLAP: return cli_int32(arg, 1, 1 << 12, "--overlap", &a->j.opt.overlap);
    case OPT_MEMORY:
        return cli_int32(arg, 16, 1 << 24, "--memory", &a->j.opt.memory_mib);
    case OPT_ENSEMBLE: a->j.opt.ensemble = 1; return 0;
    case OPT_KEEP_ORIENTATION: a->j.read_flags |= IMAGE_KEEP_ORIENTATION; return 0;
    case OPT_DEPTH:
        if (cli_int(arg, 8, 16, "--depth", &v)) return -1;
        if (v != 8 && v != 16) return cli_error("--depth: '%s' is not 8 or 16", arg);
        a->j.write.depth = (int)v;
        return 0;
    case OPT_RGB: a->j.write.rgb = 1; return 0;
    case OPT_MATRIX:
        if (strcmp(arg, "601") && strcmp(arg, "709")) return cli_error("--matrix: '%s' is not 601 or 709", arg);
        a->j.matrix = atoi(arg);
        return 0;
    case OPT_FORMAT:
        if (!image_ext_writable(arg))
            return cli_error("--format: '%s' is not one of png, jpg, jpeg, webp, tif, tiff, npy", arg);
        a->j.format = arg;
        return 0;
    case OPT_QUALITY: return cli_int32(arg, 1, 100, "--quality", &a->j.write.quality);
    }
    return cli_error("unhandled option %d", opt);
}

int cmd_upscale(int argc, char **argv) {
    static const struct option opts[] = {CLI_NETWORK_OPTIONS,
                                         {"model", required_argument, 0, 'm'},
                                         {"bicubic", no_argument, 0, OPT_BICUBIC},
                                         {"scale", required_argument, 0, 's'},
                                         {"input", required_argument, 0, 'i'},
                                         {"output", required_argument, 0, 'o'},
                                         {"structure", required_argument, 0, OPT_STRUCTURE},
                                         {"texture", required_argument, 0, OPT_TEXTURE},
                                         {"tile", required_argument, 0, OPT_TILE},
                                         {"overlap", required_argument, 0, OPT_OVERLAP},
                                         {"memory", required_argument, 0, OPT_MEMORY},
                                         {"ensemble", no_argument, 0, OPT_ENSEMBLE},
                                         CLI_KEEP_ORIENTATION_OPTION,
                                         {"depth", required_argument, 0, OPT_DEPTH},
                                         {"rgb", no_argument, 0, OPT_RGB},
                                         {"quality", required_argument, 0, OPT_QUALITY},
                                         {"format", required_argument, 0, OPT_FORMAT},
                                         {"matrix", required_argument, 0, OPT_MATRIX},
                                         {0, 0, 0, 0}};
    upscale_args a = {0};
    int r = cli_parse(argc, argv, ":m:s:i:o:", opts, HELP, upscale_option, &a, NULL);
    if (r) return cli_parse_status(r);
    job j = a.j;
    j.model_flag = "-m";
    const char *model_path = a.model_path, *in = a.in, *out = a.out;
    long scale = a.scale;
    int bicubic = a.bicubic;
    if (!in || !out) return cli_error("-i IN and -o OUT are required (see --help)");
    if (j.format && !is_stdio(out)) return cli_error("--format is for -o - (a file's extension gives its format)");
    if (bicubic && (model_path || j.structure || j.texture || j.opt.ensemble))
        return cli_error("--bicubic takes no model, --structure, --texture or --ensemble");
    char bundled[4096];
    if (!bicubic && !model_path) {
        if (attsr_model_bundled(scale ? (int)scale : 2, bundled, sizeof bundled))
            return cli_error("%s; pass -m MODEL or --bicubic", as_error());
        model_path = bundled;
        j.model_flag = "the bundled model";
    }
    j.model_path = model_path;
    int folder = cli_is_dir(in);
    if (check_paths(&j, in, out, j.structure, j.texture, folder ? CLI_FOLDER : CLI_IMAGE)) return 1;
    if (model_path) {
        if (attsr_model_load(&j.model, model_path)) return cli_error("%s", as_error());
        int model_scale = attsr_model_scale(j.model);
        if (scale && scale != model_scale) {
            attsr_model_free(j.model);
            return cli_error("%s is a x%d model, but --scale %ld was asked for", model_path, model_scale, scale);
        }
        scale = attsr_model_scale(j.model);
        j.opt.device = cli_device;
        if (!attsr_device_supported(j.model, cli_device)) {
            attsr_model_free(j.model);
            return cli_error("--device cuda: %s", attsr_error());
        }
    }
    j.scale = scale ? (int)scale : 2;
    j.opt.progress = tile_progress;
    if (folder && is_stdio(out)) {
        attsr_model_free(j.model);
        return cli_error("-o - takes one image, not the folder %s", in);
    }
    // A reader that quits (ffmpeg stopped, `| head`) is a write error reported in words,
    // not a death by SIGPIPE with the frames' count unsaid.
    if (is_stdio(out)) signal(SIGPIPE, SIG_IGN);
    int rc = folder ? upscale_folder(&j, in, out) : (upscale_one(&j, in, out, j.structure, j.texture) ? 1 : 0);
    attsr_model_free(j.model);
    return rc;
}
