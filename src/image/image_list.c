// Listing the image files of a folder, sorted by name.
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/core.h"
#include "image/image.h"

static int is_image_name(const char *name) {
    return name[0] != '.' && image_ext_supported(as_ext(name));
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

char **image_list_folder(const char *dir, int *n) {
    *n = 0;
    DIR *d = opendir(dir);
    if (!d) {
        as_errorf("%s: cannot open folder: %s", dir, strerror(errno));
        return NULL;
    }
    int cap = 64;
    char **list = malloc(sizeof(char *) * (cap + 1));
    struct dirent *e;
    while (list && (e = readdir(d))) {
        if (!is_image_name(e->d_name)) continue;
        if (*n == cap) {
            cap *= 2;
            char **l = realloc(list, sizeof(char *) * (cap + 1));
            if (!l) break;
            list = l;
        }
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        list[*n] = malloc(len);
        snprintf(list[*n], len, "%s/%s", dir, e->d_name);
        (*n)++;
    }
    closedir(d);
    if (!list) {
        as_errorf("out of memory");
        return NULL;
    }
    qsort(list, *n, sizeof(char *), cmp_str);
    list[*n] = NULL;
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
