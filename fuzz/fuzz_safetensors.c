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
        // The header's length, then the tensors tile the rest exactly, in order.
        uint64_t hlen = 0;
        for (int i = 7; i >= 0; i--) hlen = (hlen << 8) | data[i];
        size_t end = 0;
        for (int i = 0; i < f.n; i++) {
            const st_tensor *t = st_find(&f, f.tensors[i].name);
            FUZZ_ASSERT(t == &f.tensors[i]);  // names are unique and all found
            FUZZ_ASSERT(t->ndim >= 0 && t->ndim <= 8 && t->offset == end);
            size_t numel = 1;
            for (int d = 0; d < t->ndim; d++) numel *= (size_t)t->shape[d];
            FUZZ_ASSERT(numel == t->numel && (t->nbytes == 4 * numel || t->nbytes == 2 * numel));
            end += t->nbytes;
            fuzz_touch(t->data, t->numel);  // there and finite
        }
        FUZZ_ASSERT(end == n - 8 - hlen);
        for (int i = 0; i < f.n_meta; i++) FUZZ_ASSERT(st_meta(&f, f.meta_keys[i]) != NULL);
        st_free(&f);
    } else if (!as_error()[0]) {
        __builtin_trap();
    }
    as_clear_error();
    return 0;
}
