// What train_step needs beside the model and its plan, for the training tests: a
// trainer over the test's model (borrowed: its weights are the model's own, and train
// the model in place) with zeroed gradients and Adam moments, Adam and GradNorm
// (w_i(0) = 1, alpha 1.5, lr_w 0.01) initialised, and the two branches' loss gradients.
#pragma once
#include <stdlib.h>

#include "model/model.h"
#include "test.h"
#include "train/optim.h"
#include "train/trainer.h"

typedef struct {
    trainer t;         // t.m: a copy of the test's model struct, sharing its buffers
    float *d_s, *d_t;  // (output size)
} step_state;

static inline void step_state_init(step_state *s, const model *m, size_t out_n, double lr) {
    *s = (step_state){.t = {.m = *m}};
    CHECK(trainer_alloc(&s->t) == 0, "out of memory");
    s->d_s = malloc(sizeof(float) * out_n);
    s->d_t = malloc(sizeof(float) * out_n);
    CHECK(s->d_s && s->d_t, "out of memory");
    adam_init(&s->t.opt, lr);
    gradnorm_init(&s->t.gn, 1, 1.5, 0.01);
}

// Frees what step_state_init allocated; the model stays the test's.
static inline void step_state_free(step_state *s) {
    free(s->t.grads), free(s->t.adam_m), free(s->t.adam_v), free(s->d_s), free(s->d_t);
}
