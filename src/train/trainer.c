// The training state's memory. See trainer.h.
#include "train/trainer.h"

#include <stdlib.h>
#include <string.h>

#include "core/core.h"

int trainer_alloc(trainer *t) {
    t->grads = as_calloc(t->m.n_floats, sizeof(float));
    t->adam_m = as_calloc(t->m.n_floats, sizeof(float));
    t->adam_v = as_calloc(t->m.n_floats, sizeof(float));
    return t->grads && t->adam_m && t->adam_v ? 0 : -1;
}

void trainer_free(trainer *t) {
    free(t->grads);
    free(t->adam_m);
    free(t->adam_v);
    free(t->ema);
    model_free(&t->m);
    memset(t, 0, sizeof *t);
}
