/* Smoke probe for ci/platform: prints the glibc it runs on and which object
 * serves malloc, then exercises the malloc family. Exit 0 when all worked. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <gnu/libc-version.h>
#include <malloc.h>
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
    int failures = 0;
    void *aligned = NULL;
    char *block = malloc(100);
    char *zeroed = calloc(16, 64);
    if (block == NULL || zeroed == NULL) {
        failures++;
    } else {
        memset(block, 0x5a, 100);
        for (size_t i = 0; i < 16 * 64; i++) {
            failures += zeroed[i] != 0;
        }
        block = realloc(block, 1 << 20);
        failures += block == NULL || block[99] != 0x5a;
    }
    failures += posix_memalign(&aligned, 4096, 123) != 0 || ((size_t)aligned & 4095) != 0;
    void *aligned2 = aligned_alloc(64, 256);
    failures += aligned2 == NULL || ((size_t)aligned2 & 63) != 0;
    failures += block != NULL && malloc_usable_size(block) < (1 << 20);
    free(aligned2);
    free(aligned);
    free(zeroed);
    free(block);
    printf("c: glibc=%s malloc_from=%s result=%s\n", gnu_get_libc_version(),
           object_of(dlsym(RTLD_DEFAULT, "malloc")), failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
