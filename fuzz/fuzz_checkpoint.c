// libFuzzer target: checkpoint_load_memory (src/train/checkpoint.h), a training
// checkpoint: safetensors with the model shape and the optimiser state as metadata.
#include <stddef.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "core/core.h"
#include "fuzz.h"
#include "train/checkpoint.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    model m;
    float *am, *av, *ema;
    adam opt;
    gradnorm gn;
    train_state st;
    if (checkpoint_load_memory(data, n, "fuzz.safetensors", &m, &am, &av, &ema, &opt, &gn, &st) == 0) {
        // a valid shape, three (four) tensors of its size in the file, finite numbers
        FUZZ_ASSERT(model_config_check(&m.cfg) == 0 && (ema ? 4 : 3) * m.n_floats * sizeof(float) <= n);
        FUZZ_ASSERT(st.step >= 0 && st.best_step >= -1 && opt.t >= 0 && (gn.enabled == 0 || gn.enabled == 1));
        FUZZ_ASSERT(isfinite(opt.lr) && isfinite(gn.alpha) && isfinite(gn.lr) && !isnan(st.best_psnr));
        FUZZ_ASSERT(isfinite(gn.w[0]) && isfinite(gn.w[1]) && isfinite(gn.L0[0]) && isfinite(gn.L0[1]));
        fuzz_touch(m.w, m.n_floats);
        fuzz_touch(am, m.n_floats);
        fuzz_touch(av, m.n_floats);
        if (ema) fuzz_touch(ema, m.n_floats);
        free(am);
        free(av);
        free(ema);
        model_free(&m);
    } else if (!as_error()[0]) {
        __builtin_trap();
    }
    as_clear_error();
    return 0;
}
