// satv_cache: the on-disk cache of SATV structure images that training keeps (one file
// per image, named by its key), so that each image is decomposed once (docs/spec.md §7).
//
// A file: a 40-byte header, then the structure image as float32 (h, w, 3), host order.
//   magic "ATSRSATV" | version u32 | w u32 | h u32 | c u32 (3) | key u64 | checksum u64
// The key hashes the image file's bytes and the decomposition parameters; the checksum
// (FNV-1a) covers the payload. Anything that does not match exactly is a miss: the
// caller recomputes and rewrites the entry.
#pragma once
#include <stddef.h>
#include <stdint.h>

// The key of an image file's content decomposed with (lambda, iters).
uint64_t satv_cache_key(const void *file, size_t n, float lambda, int iters);

// Checks a cache file's bytes against what the caller expects (key, w x h) and copies
// the payload to s (h, w, 3). 0 on a hit; -1 on a miss, with the reason in as_error()
// (a payload holding NaN or Inf is a miss: s then holds garbage).
int satv_cache_parse(const void *data, size_t n, uint64_t key, int w, int h, float *s);
// satv_cache_parse on the file at path (a missing file is a miss).
int satv_cache_read(const char *path, uint64_t key, int w, int h, float *s);
// Writes an entry atomically (temp file, then rename).
int satv_cache_write(const char *path, uint64_t key, int w, int h, const float *s);
// A writer killed mid-write leaves its temp file ("KEY.satv.tmp-XXXXXX", see
// as_outfile) in the cache folder. Removes those last modified more than max_age
// seconds ago: a live writer writes its entry in seconds, and several processes (MPI
// ranks, runs sharing --cache) may be writing into the folder at the same time, so
// only an old temp file is surely abandoned. Returns how many were removed.
int satv_cache_remove_stale(const char *dir, double max_age);
