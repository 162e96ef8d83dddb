// checkpoint: everything a training run needs to continue bit-identically — the
// trainer (trainer.h) less its gradients: weights, Adam moments and step count, the
// weights' moving average when there is one, GradNorm state, the step, best validation
// — in one safetensors file written atomically (a kill leaves the old or the new file
// whole). docs/spec.md section 9 lists what it holds.
#pragma once
#include <stddef.h>

#include "train/trainer.h"

// Saves t (its moving average when t->ema is not NULL).
int checkpoint_save(const char *path, const trainer *t);
// Loads into *t, overwritten: a fresh model (created from the file's metadata), zeroed
// gradients, and the moments (and the moving average when the file has one; else
// t->ema is NULL), all m.n_floats. t->ema_decay is 0. On failure *t is zeroed.
int checkpoint_load(const char *path, trainer *t);
// The same from a file's bytes in memory; `name` heads every error.
int checkpoint_load_memory(const void *data, size_t n, const char *name, trainer *t);
