// libFuzzer target: the YUV4MPEG2 reader (src/image/y4m.h) on a stream's bytes: the
// header, then every frame through the colour conversion to RGB and back, as
// `attsr upscale` does with a video (without the upscaling). The pixel limit is 1 MP,
// as for the image targets.
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/core.h"
#include "fuzz.h"
#include "image/y4m.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    as_limits.max_pixels = 1 << 20;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    if (n == 0) return 0;  // fmemopen refuses an empty buffer
    FILE *fp = fmemopen((void *)data, n, "r");
    if (!fp) return 0;
    y4m_stream s;
    if (y4m_read_header(fp, "fuzz.y4m", 0, &s) == 0) {
        s.matrix = y4m_default_matrix(&s);
        uint8_t *frame = malloc(s.frame_bytes), *back = malloc(s.frame_bytes);
        for (long k = 0; frame && back && k < 64; k++) {
            int r = y4m_read_frame(fp, "fuzz.y4m", &s, k, frame);
            if (r <= 0) {
                if (r < 0 && !as_error()[0]) __builtin_trap();  // a failure must say why
                break;
            }
            image rgb;
            if (y4m_to_rgb(&s, frame, &rgb)) break;
            fuzz_touch(rgb.px, (size_t)rgb.w * rgb.h * 3);
            y4m_from_rgb(&s, &rgb, back);
            image_free(&rgb);
        }
        free(frame);
        free(back);
    } else if (!as_error()[0]) {
        __builtin_trap();
    }
    as_clear_error();
    fclose(fp);
    return 0;
}
