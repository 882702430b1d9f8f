//! The memproxy conformance matrix.
