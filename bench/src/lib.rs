//! Benchmark and conformance harnesses for sluicegate (the `sluicegate-bench`
//! binary), shared with the integration tests.
#![deny(missing_docs)]

pub mod feed;
pub mod suite;
