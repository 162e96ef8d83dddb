// What train_step needs beside the model and its plan, for the training tests: the
// gradients, Adam's two moments and the two branches' loss gradients, with Adam and
// GradNorm (w_i(0) = 1, alpha 1.5, lr_w 0.01) initialised.
#pragma once
#include <stdlib.h>

#include "model/model.h"
#include "test.h"
#include "train/optim.h"

typedef struct {
    float *grads, *adam_m, *adam_v;  // (n_floats)
    float *d_s, *d_t;                // (output size)
    adam opt;
    gradnorm gn;
} step_state;

static inline void step_state_init(step_state *s, const model *m, size_t out_n, double lr) {
    s->grads = calloc(m->n_floats, sizeof(float));
    s->adam_m = calloc(m->n_floats, sizeof(float));
    s->adam_v = calloc(m->n_floats, sizeof(float));
    s->d_s = malloc(sizeof(float) * out_n);
    s->d_t = malloc(sizeof(float) * out_n);
    CHECK(s->grads && s->adam_m && s->adam_v && s->d_s && s->d_t, "out of memory");
    adam_init(&s->opt, lr);
    gradnorm_init(&s->gn, 1, 1.5, 0.01);
}

static inline void step_state_free(step_state *s) {
    free(s->grads), free(s->adam_m), free(s->adam_v), free(s->d_s), free(s->d_t);
}
