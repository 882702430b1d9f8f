//! Hostile configs: paths that are not regular files (a FIFO with no
//! writer, a directory, a symlink to `/dev/zero`) are never opened, so
//! start-up never blocks and nothing is excluded; the same content in a
//! regular file does exclude.
//!
//! Each test runs probe-c under memproxy then a custom allocator with the
//! config, and judges every allocation kind by what `harness::expect` says
//! the config means (see `common::hostile`).

mod common;

use common::hostile::*;

use test_support::Process;

/// A FIFO with no writer is not a regular file: memproxy never opens it
/// (opening it would block until a writer comes), so process start-up does
/// not block and nothing is excluded.
#[test]
fn a_fifo_without_writer_never_blocks_and_excludes_nothing() {
    let dir = open_dir();
    let fifo = dir.path().join("memproxy.conf");
    Process::new("/usr/bin/mkfifo")
        .arg(&fifo)
        .run()
        .assert_success();
    check(Config::Path(&fifo), false);
    let line = debug_line(Config::Path(&fifo));
    assert!(
        line.contains("not-regular") && line.contains("FIFO"),
        "{line}"
    );
}

/// A directory is not a regular file: never opened, nothing excluded.
#[test]
fn a_directory_excludes_nothing() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    std::fs::create_dir(&config).expect("mkdir");
    // A file inside named like the program changes nothing.
    std::fs::write(config.join(NAME), NAME).expect("write");
    check(Config::Path(&config), false);
    let line = debug_line(Config::Path(&config));
    assert!(
        line.contains("not-regular") && line.contains("directory"),
        "{line}"
    );
}

/// A symlink to /dev/zero resolves to a character device: never opened (an
/// endless read of zeros otherwise), nothing excluded.
#[test]
fn a_symlink_to_dev_zero_is_never_read() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    std::os::unix::fs::symlink("/dev/zero", &config).expect("symlink");
    check(Config::Path(&config), false);
    let line = debug_line(Config::Path(&config));
    assert!(
        line.contains("not-regular") && line.contains("character device"),
        "{line}"
    );
}

/// The special files above are judged by what they are, not by luck: the
/// same content in a regular file does exclude.
#[test]
fn the_same_content_in_a_regular_file_excludes() {
    let dir = open_dir();
    let config = dir.config(format!("{NAME}\n"));
    check(Config::Path(&config), false);
    let line = debug_line(Config::Path(&config));
    assert!(line.contains("route=glibc reason=excluded"), "{line}");
}
