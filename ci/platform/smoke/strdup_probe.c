/* Smoke probe for ci/platform: frees, with free(), what strdup and strndup
 * returned. Some allocators define strdup themselves (trixie's mimalloc 3
 * does, bookworm's mimalloc 2.0 does not): the block must then come from the
 * same heap that free() returns it to. Exit 0 when it does. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *object_of(void *symbol) {
    Dl_info info;
    if (symbol != NULL && dladdr(symbol, &info) != 0 && info.dli_fname != NULL) {
        return info.dli_fname;
    }
    return "?";
}

int main(void) {
    printf("strdup: strdup_from=%s malloc_from=%s free_from=%s\n",
           object_of(dlsym(RTLD_DEFAULT, "strdup")), object_of(dlsym(RTLD_DEFAULT, "malloc")),
           object_of(dlsym(RTLD_DEFAULT, "free")));
    fflush(stdout);
    char *copy = strdup("memproxy platform probe");
    char *prefix = strndup("memproxy platform probe", 8);
    int ok = copy != NULL && prefix != NULL && strcmp(prefix, "memproxy") == 0;
    free(copy);
    free(prefix);
    printf("strdup: result=%s\n", ok ? "ok" : "FAILED");
    return ok ? 0 : 1;
}
