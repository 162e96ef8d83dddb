// safetensors: read and write the weights file format (docs/spec.md §4).
// 8-byte little-endian header length, a JSON header, then raw little-endian data.
// Reading converts F32, BF16 and F16 tensors to float32.
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef struct {
    char *name;
    int ndim;
    int64_t shape[8];
    size_t numel;
    size_t offset;  // byte offset in the data block (file order)
    size_t nbytes;  // bytes it takes there (numel x the dtype's size)
    char dtype[8];  // as in the file: F32, BF16 or F16
    float *data;    // float32 copy, in the st_file's block
} st_tensor;

typedef struct {
    int n;
    st_tensor *tensors;  // in file order of data offsets
    int *by_name;        // (n) indices into tensors, sorted by name: st_find's index
    int n_meta;
    char **meta_keys, **meta_values;
    float *block;  // every tensor's data, in file order (64-byte aligned)
    size_t block_floats;
} st_file;

// Parses a whole file (or a memory buffer); `name` is used in error messages. As the
// format requires, the tensors' data ranges must tile the data block exactly: no
// overlap, no gap, nothing after the last. Every value must be finite (no NaN or Inf):
// no weights file or checkpoint of attsr holds any other.
int st_read(st_file *f, const char *path);
int st_read_memory(st_file *f, const void *data, size_t n, const char *name);
void st_free(st_file *f);
const st_tensor *st_find(const st_file *f, const char *name);
// Hands the block over (free() it): the tensors' data pointers are cleared.
float *st_take_block(st_file *f);
const char *st_meta(const st_file *f, const char *key);  // NULL when absent

// Writes F32 tensors atomically. shapes[i] has ndims[i] entries; meta may be NULL.
typedef struct {
    const char *name;
    int ndim;
    const int64_t *shape;
    const float *data;
} st_out_tensor;
int st_write(const char *path, const st_out_tensor *t, int n, const char *const *meta_keys,
             const char *const *meta_values, int n_meta);
