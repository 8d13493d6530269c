//! `sluicegate._native`: the compiled half of the `sluicegate` Python
//! package. The pure-Python package (`python/sluicegate`) wraps it with
//! Pydantic support, numpy/torch helpers and the documented API.

/// mimalloc, without huge pages (`sluicegate-alloc`; ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: sluicegate_alloc::Allocator = sluicegate_alloc::Allocator;

mod engine;
mod errors;
mod model;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<engine::Tokenizer>()?;
    m.add_class::<engine::Grammar>()?;
    m.add_class::<engine::CompiledGrammar>()?;
    m.add_class::<engine::Matcher>()?;
    m.add_class::<model::NativeModel>()?;
    m.add_function(wrap_pyfunction!(engine::compile, m)?)?;
    m.add_function(wrap_pyfunction!(engine::fill_next_token_bitmasks, m)?)?;
    Ok(())
}
