// Listing the image files of a folder, sorted by name.
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "image/image.h"

static int is_image_name(const char *name) { return name[0] != '.' && image_ext_supported(as_ext(name)); }

static int is_folder(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **image_list_folder(const char *dir, int *n) { return image_list_folder_skips(dir, n, NULL, NULL); }

// Appends "dir/name" to a NULL-terminated list of *n entries (capacity *cap). 0 or -1.
static int push(char ***list, int *n, int *cap, const char *dir, const char *name) {
    if (*n + 1 >= *cap) {
        int c = *cap ? 2 * *cap : 64;
        char **l = realloc(*list, sizeof(char *) * c);
        if (!l) return -1;
        *list = l;
        *cap = c;
    }
    size_t len = strlen(dir) + strlen(name) + 2;
    if (!((*list)[*n] = malloc(len))) return -1;
    snprintf((*list)[*n], len, "%s/%s", dir, name);
    (*list)[++*n] = NULL;
    return 0;
}

char **image_list_folder_skips(const char *dir, int *n, void (*skipped)(const char *path, const char *why, void *ctx),
                               void *ctx) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        as_errorf("%s: cannot open folder: %s", dir, strerror(errno));
        return NULL;
    }
    char **list = NULL, **other = NULL;
    int cap = 0, n_other = 0, cap_other = 0, bad = 0;
    for (struct dirent *e; !bad && (e = readdir(d));) {
        if (is_image_name(e->d_name))
            bad = push(&list, n, &cap, dir, e->d_name);
        else if (skipped && e->d_name[0] != '.')  // hidden files (and . and ..) are nobody's images
            bad = push(&other, &n_other, &cap_other, dir, e->d_name);
    }
    closedir(d);
    if (!bad && !list) bad = !(list = calloc(1, sizeof(char *)));  // an empty folder: an empty list
    if (bad) {
        image_free_list(list);
        image_free_list(other);
        *n = 0;
        as_errorf("out of memory");
        return NULL;
    }
    qsort(list, *n, sizeof(char *), cmp_str);
    if (n_other) {
        qsort(other, n_other, sizeof(char *), cmp_str);
        for (int i = 0; i < n_other; i++)
            skipped(other[i],
                    is_folder(other[i]) ? "a folder (folders are not searched)"
                                        : "not an image file attsr reads (docs/formats.md)",
                    ctx);
    }
    image_free_list(other);
    return list;
}

void image_free_list(char **list) {
    if (!list) return;
    for (char **p = list; *p; p++) free(*p);
    free(list);
}

const char *image_hr_folder(const char *dir, char *buf, size_t n) {
    struct stat st;
    snprintf(buf, n, "%s/HR", dir);
    if (stat(buf, &st) == 0 && S_ISDIR(st.st_mode)) return buf;
    snprintf(buf, n, "%s", dir);
    return buf;
}
