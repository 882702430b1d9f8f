// Smoke probe for ci/platform: prints the glibc it runs on and which objects
// serve malloc and operator new, then allocates through new, the STL and
// threads. Exit 0 when all worked.
#include <dlfcn.h>
#include <gnu/libc-version.h>

#include <cstddef>
#include <cstdio>
#include <map>
#include <memory>
#include <new>
#include <string>
#include <thread>
#include <vector>

namespace {
const char *object_of(const void *symbol) {
    Dl_info info;
    if (symbol != nullptr && dladdr(symbol, &info) != 0 && info.dli_fname != nullptr) {
        return info.dli_fname;
    }
    return "?";
}

struct alignas(64) Wide {
    char bytes[64];
};
}  // namespace

int main() {
    int failures = 0;
    std::vector<std::thread> threads;
    std::vector<std::size_t> totals(4, 0);
    for (std::size_t t = 0; t < totals.size(); ++t) {
        threads.emplace_back([t, &totals] {
            std::map<int, std::string> map;
            for (int i = 0; i < 20000; ++i) {
                map[i] = std::string(static_cast<std::size_t>(i % 200), 'x');
                if (i % 3 == 0) map.erase(i / 2);
            }
            for (const auto &entry : map) totals[t] += entry.second.size();
        });
    }
    for (auto &thread : threads) thread.join();
    for (std::size_t total : totals) failures += total != totals[0] || total == 0;

    auto wide = std::make_unique<Wide[]>(10);
    failures += (reinterpret_cast<std::size_t>(wide.get()) & 63) != 0;
    int *array = new int[1000]();
    failures += array[999] != 0;
    delete[] array;

    void *(*new_fn)(std::size_t) = &::operator new;
    std::printf("c++: glibc=%s malloc_from=%s operator_new_from=%s result=%s\n",
                gnu_get_libc_version(), object_of(dlsym(RTLD_DEFAULT, "malloc")),
                object_of(reinterpret_cast<const void *>(new_fn)), failures == 0 ? "ok" : "FAILED");
    return failures == 0 ? 0 : 1;
}
