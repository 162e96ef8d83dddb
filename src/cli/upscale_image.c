// Upscaling one in-memory image for the CLI: model or bicubic, alpha kept aside.
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/core.h"
#include "image/resize.h"

static int add_alpha(image *rgb, const image *alpha) {
    image out;
    if (image_alloc(&out, rgb->w, rgb->h, 4)) return -1;
    size_t n = (size_t)rgb->w * rgb->h;
    for (size_t i = 0; i < n; i++) {
        memcpy(out.px + 4 * i, rgb->px + 3 * i, 3 * sizeof(float));
        out.px[4 * i + 3] = alpha->px[i];
    }
    out.gray = rgb->gray;
    image_free(rgb);
    *rgb = out;
    return 0;
}

int cli_upscale_image(attsr_model *model, int scale, const image *lr, image *sr, image *st, image *tx,
                      const attsr_options *opt) {
    memset(sr, 0, sizeof *sr);
    if (!model) return resize_bicubic(sr, lr, scale);
    image rgb = {0}, alpha = {0}, alpha_up = {0};
    int rc = -1;
    if (lr->c == 4) {
        if (image_take_channels(&rgb, lr, 0, 3) || image_take_channels(&alpha, lr, 3, 1)) goto done;
    }
    const image *in = lr->c == 4 ? &rgb : lr;
    int W = in->w * scale, H = in->h * scale;
    if (image_alloc(sr, W, H, 3)) goto done;
    if (st && image_alloc(st, W, H, 3)) goto done;
    if (tx && image_alloc(tx, W, H, 3)) goto done;
    if (attsr_upscale(model, in->px, in->w, in->h, sr->px, st ? st->px : NULL, tx ? tx->px : NULL, opt)) goto done;
    sr->gray = lr->gray;
    if (lr->c == 4 && (resize_bicubic(&alpha_up, &alpha, scale) || add_alpha(sr, &alpha_up))) goto done;
    rc = 0;
done:
    image_free(&rgb);
    image_free(&alpha);
    image_free(&alpha_up);
    return rc;
}
