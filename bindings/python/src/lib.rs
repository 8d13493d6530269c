//! `sluicegate._native`: the compiled half of the `sluicegate` Python
//! package. The pure-Python package (`python/sluicegate`) wraps it with
//! Pydantic support, numpy/torch helpers and the documented API.

/// mimalloc rather than the system allocator: compilation makes and frees
/// many small allocations, and glibc's free lists, once fragmented by a large
/// schema, made every later compilation up to twice as slow (ARCHITECTURE.md,
/// "Allocator").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
