//! Benchmarks of memproxy dispatch overhead.
