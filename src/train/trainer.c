// The training state's memory, on the host and on the device the steps run on. See trainer.h.
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
    float *dbuf[4] = {t->d_grads, t->d_m, t->d_v, t->d_ema};
    for (int i = 0; i < 4; i++) nn_free(t->dev, dbuf[i]);
    free(t->grads);
    free(t->adam_m);
    free(t->adam_v);
    free(t->ema);
    model_free(&t->m);
    memset(t, 0, sizeof *t);
}

int trainer_bind(trainer *t, const model_plan *p) {
    t->dev = model_plan_device(p);
    if (t->dev == NN_CPU) return 0;
    size_t bytes = sizeof(float) * t->m.n_floats;
    if (!(t->d_grads = nn_alloc(t->dev, bytes)) || !(t->d_m = nn_alloc(t->dev, bytes)) ||
        !(t->d_v = nn_alloc(t->dev, bytes)) || (t->ema && !(t->d_ema = nn_alloc(t->dev, bytes))))
        return -1;
    return nn_upload(t->dev, t->d_m, t->adam_m, bytes) || nn_upload(t->dev, t->d_v, t->adam_v, bytes) ||
           (t->ema && nn_upload(t->dev, t->d_ema, t->ema, bytes));
}

int trainer_to_host(trainer *t, model_plan *p) {
    if (t->dev == NN_CPU) return 0;
    size_t bytes = sizeof(float) * t->m.n_floats;
    return nn_download(t->dev, t->m.w, model_plan_weights(p, &t->m), bytes) ||
           nn_download(t->dev, t->adam_m, t->d_m, bytes) || nn_download(t->dev, t->adam_v, t->d_v, bytes) ||
           (t->ema && nn_download(t->dev, t->ema, t->d_ema, bytes));
}
