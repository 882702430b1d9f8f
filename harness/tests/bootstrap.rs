//! Allocations made while the route is being decided come from memproxy's
//! static bootstrap region, and `free`, `realloc` and `malloc_usable_size`
//! recognise those blocks for the rest of the process.
//!
//! To make the decision allocate deterministically, the custom allocator here
//! defines `malloc` as a GNU IFUNC whose resolver itself calls `malloc` (and
//! `calloc` and `strdup`): memproxy calls that resolver while deciding, so the
//! resolver's calls re-enter memproxy mid-decision. The program then frees,
//! reallocates and measures those blocks through the decided route.

use std::path::Path;
use std::process::Command;

use test_support::artifacts::Artifacts;

const ALLOCATOR: &str = r#"
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);

/* Blocks allocated while memproxy decides, for the program to inspect. */
void *made_while_deciding[4];

static void *(*resolve_malloc(void))(size_t)
{
    made_while_deciding[0] = malloc(24);
    memcpy(made_while_deciding[0], "made while deciding", 20);
    made_while_deciding[1] = calloc(4, 8);
    made_while_deciding[2] = strdup("bootstrap");
    made_while_deciding[3] = malloc(100);
    return __libc_malloc;
}
void *malloc(size_t) __attribute__((ifunc("resolve_malloc")));
void free(void *p) { __libc_free(p); }
void *calloc(size_t n, size_t s) { return __libc_calloc(n, s); }
void *realloc(void *p, size_t s) { return __libc_realloc(p, s); }
void *memalign(size_t a, size_t s) { return __libc_memalign(a, s); }
"#;

const PROGRAM: &str = r#"
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
extern void *made_while_deciding[4];
int main(void)
{
    int failures = 0;
    char *first = made_while_deciding[0];
    if (!first || strcmp(first, "made while deciding") != 0) { puts("first block lost"); failures++; }
    uint64_t *zeroed = made_while_deciding[1];
    for (int i = 0; zeroed && i < 4; i++) if (zeroed[i]) { puts("calloc block not zero"); failures++; }
    if (!made_while_deciding[2] || strcmp(made_while_deciding[2], "bootstrap") != 0) { puts("strdup lost"); failures++; }
    if (malloc_usable_size(made_while_deciding[3]) != 100) { printf("usable %zu\n", malloc_usable_size(made_while_deciding[3])); failures++; }
    char *moved = realloc(first, 4096);
    if (!moved || strcmp(moved, "made while deciding") != 0) { puts("realloc lost the contents"); failures++; }
    free(moved);
    free(made_while_deciding[1]);
    free(made_while_deciding[2]);
    free(made_while_deciding[3]);
    for (int i = 0; i < 1000; i++) free(malloc(64 + i));
    printf("checked, %d failures\n", failures);
    return failures != 0;
}
"#;

fn compile(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let allocator = dir.join("libifunc-allocator.so");
    let program = dir.join("uses-bootstrap-blocks");
    std::fs::write(dir.join("allocator.c"), ALLOCATOR).expect("source");
    std::fs::write(dir.join("program.c"), PROGRAM).expect("source");
    let status = Command::new("cc")
        .args(["-O1", "-shared", "-fPIC", "-fno-builtin", "-o"])
        .arg(&allocator)
        .arg(dir.join("allocator.c"))
        .status()
        .expect("cc runs");
    assert!(status.success(), "building the IFUNC allocator");
    let status = Command::new("cc")
        .args(["-O1", "-fno-builtin", "-o"])
        .arg(&program)
        .arg(dir.join("program.c"))
        .arg(&allocator)
        .status()
        .expect("cc runs");
    assert!(status.success(), "building the program");
    (allocator, program)
}

#[test]
fn blocks_made_during_the_decision_are_recognised_later() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (allocator, program) = compile(dir.path());
    let preload = format!(
        "{}:{}",
        Artifacts::shared().memproxy.display(),
        allocator.display()
    );
    let output = Command::new(&program)
        .env("LD_PRELOAD", &preload)
        .env("MEMPROXY_DEBUG", "1")
        .env_remove("MEMPROXY_CONF")
        .output()
        .expect("the program runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{:?}\n{stdout}\n{stderr}",
        output.status
    );
    assert!(stdout.contains("checked, 0 failures"), "{stdout}");
    // The decision really did allocate: otherwise this test proves nothing.
    assert!(stderr.contains(" bootstrap=used"), "{stderr}");
    assert!(
        stderr.contains(&format!("allocator=\"{}\"", allocator.display())),
        "{stderr}"
    );
}

#[test]
fn an_ordinary_process_never_needs_the_bootstrap_region() {
    // So the common case keeps the one-load, one-jump free and realloc.
    let preload = format!(
        "{}:/lib/x86_64-linux-gnu/libjemalloc.so.2",
        Artifacts::shared().memproxy.display()
    );
    for program in [&Artifacts::shared().probes[0].path, Path::new("/bin/true")] {
        let output = Command::new(program)
            .env("LD_PRELOAD", &preload)
            .env("MEMPROXY_DEBUG", "1")
            .env("PROBE_PLUGIN", &Artifacts::shared().plugin)
            .output()
            .expect("runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success());
        assert!(
            stderr.contains("route=") && !stderr.contains("bootstrap=used"),
            "{stderr}"
        );
    }
}
