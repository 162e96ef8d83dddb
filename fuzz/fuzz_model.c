// libFuzzer target: model_load_memory (src/model/model.h), a weights file (docs/spec.md
// §4): safetensors whose metadata gives the network's shape.
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "fuzz.h"
#include "model/model.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    model m;
    if (model_load_memory(&m, data, n, "fuzz.safetensors") == 0) {
        // a valid shape whose table matches the file, every weight in it and finite
        FUZZ_ASSERT(model_config_check(&m.cfg) == 0 && m.n_params == model_tensor_count(&m.cfg));
        size_t sum = 0;
        for (int i = 0; i < m.n_params; i++) sum += m.info[i].numel;
        FUZZ_ASSERT(sum == m.n_floats && m.n_floats * sizeof(float) <= n);
        fuzz_touch(m.w, m.n_floats);
        model_free(&m);
    } else if (!as_error()[0]) {
        __builtin_trap();
    }
    as_clear_error();
    return 0;
}
