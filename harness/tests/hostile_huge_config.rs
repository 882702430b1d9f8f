//! Hostile configs: a 100 MB list is scanned in one pass with a fixed
//! buffer; its last line still excludes.
//!
//! Each test runs probe-c under memproxy then a custom allocator with the
//! config, and judges every allocation kind by what `harness::expect` says
//! the config means (see `common::hostile`).

mod common;

use common::hostile::*;

/// A 100 MB config whose last line lists the program excludes it: the file
/// is scanned in one pass with a fixed buffer, whatever its size. Every
/// process that starts pays for the scan; the test prints how much next to
/// a one-line config.
#[test]
fn a_100_mb_config_with_the_entry_on_its_last_line_excludes() {
    let dir = open_dir();
    let config = dir.path().join("memproxy.conf");
    let line = b"# a comment line that pads the exclusion list to one hundred MB\n";
    let mut text = Vec::with_capacity(100 * 1024 * 1024 + 64);
    while text.len() + line.len() < 100 * 1024 * 1024 {
        text.extend_from_slice(line);
    }
    text.extend_from_slice(format!("{NAME}\n").as_bytes());
    std::fs::write(&config, &text).expect("write 100 MB");
    let small = dir.path().join("small.conf");
    std::fs::write(&small, format!("{NAME}\n")).expect("write");

    // Warm the page cache, then compare interleaved starts.
    check(Config::Path(&config), false);
    let (mut big_times, mut small_times) = (Vec::new(), Vec::new());
    for _ in 0..3 {
        big_times.push(check(Config::Path(&config), false).2);
        small_times.push(check(Config::Path(&small), false).2);
    }
    big_times.sort();
    small_times.sort();
    println!(
        "probe-c start to exit (median of 3): 100 MB config {:?}, one-line config {:?} \
         (one scan per start: the probe's forked child inherits the decision)",
        big_times[1], small_times[1]
    );
    let line = debug_line(Config::Path(&config));
    let expected_line = text.iter().filter(|&&b| b == b'\n').count();
    assert!(line.contains(&format!("match={expected_line} ")), "{line}");
}
