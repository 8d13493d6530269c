//! Benchmark and conformance harnesses for sluicegate (the `sluicegate-bench`
//! binary), shared with the integration tests.
#![deny(missing_docs)]

pub mod batch;
pub mod engines;
pub mod feed;
pub mod generation;
pub mod maskbench;
pub mod sample;
pub mod suite;
