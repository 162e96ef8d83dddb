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
    trainer t;
    if (checkpoint_load_memory(data, n, "fuzz.safetensors", &t) == 0) {
        const model *m = &t.m;
        const gradnorm *gn = &t.gn;
        // a valid shape, three (four) tensors of its size in the file, finite numbers
        FUZZ_ASSERT(model_config_check(&m->cfg) == 0 && (t.ema ? 4 : 3) * m->n_floats * sizeof(float) <= n);
        FUZZ_ASSERT(t.st.step >= 0 && t.st.best_step >= -1 && t.opt.t >= 0 && (gn->enabled == 0 || gn->enabled == 1));
        FUZZ_ASSERT(isfinite(t.opt.lr) && isfinite(gn->alpha) && isfinite(gn->lr) && !isnan(t.st.best_psnr));
        FUZZ_ASSERT(isfinite(gn->w[0]) && isfinite(gn->w[1]) && isfinite(gn->L0[0]) && isfinite(gn->L0[1]));
        FUZZ_ASSERT(gn->warmup >= 0 && isfinite(gn->L_sum[0]) && isfinite(gn->L_sum[1]));
        fuzz_touch(m->w, m->n_floats);
        fuzz_touch(t.adam_m, m->n_floats);
        fuzz_touch(t.adam_v, m->n_floats);
        if (t.ema) fuzz_touch(t.ema, m->n_floats);
        trainer_free(&t);
    } else if (!as_error()[0]) {
        __builtin_trap();
    }
    as_clear_error();
    return 0;
}
