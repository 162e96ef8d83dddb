// libFuzzer target: st_read_memory (src/model/safetensors.h), the safetensors reader
// under the model and checkpoint loaders.
#include <stddef.h>
#include <stdint.h>

#include "core/core.h"
#include "fuzz.h"
#include "model/safetensors.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n) {
    st_file f;
    if (st_read_memory(&f, data, n, "fuzz.safetensors") == 0) {
        for (int i = 0; i < f.n; i++) {
            const st_tensor *t = st_find(&f, f.tensors[i].name);
            if (!t) __builtin_trap();
            fuzz_touch(t->data, t->numel);
        }
        for (int i = 0; i < f.n_meta; i++)
            if (!st_meta(&f, f.meta_keys[i])) __builtin_trap();
        st_free(&f);
    } else if (!as_error()[0]) {
        __builtin_trap();
    }
    as_clear_error();
    return 0;
}
