//! The global allocator of sluicegate's programs (`sluicegate`, `sluicegate-bench`) and of the
//! Python extension, and the settings they run it with (ARCHITECTURE.md, "Allocator").
//!
//! mimalloc rather than the system allocator: compilation makes and frees many small
//! allocations, and glibc's free lists, once fragmented by a large schema, made every later
//! compilation up to twice as slow. It is built without transparent huge pages (the workspace
//! enables mimalloc's `no_thp`): where memory is backed lazily, as on virtual machines that hand
//! freed memory back to their host, the first touch of a fresh 2 MiB page cost 4.3-4.4 ms against
//! about 2 µs (p99 9 µs) for a 4 KiB one, inside whichever mask happened to allocate.
//!
//! The Rust crates leave the choice of allocator to the program that links them.

use std::os::raw::c_long;

/// The allocator to name in `#[global_allocator]`.
pub use mimalloc::MiMalloc as Allocator;

/// mimalloc's `mi_option_purge_delay` (mimalloc.h, v3), which the Rust bindings do not name.
/// The test `purge_delay_option_has_mimallocs_default_until_freed_memory_is_kept` checks that
/// this index still means the purge delay in the linked mimalloc.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// The environment variable through which mimalloc reads the purge delay at start-up.
const PURGE_DELAY_ENV: &str = "MIMALLOC_PURGE_DELAY";

/// Keep freed memory in the process instead of returning it to the OS a second after it was
/// freed (mimalloc's default), unless `MIMALLOC_PURGE_DELAY` says otherwise.
///
/// For programs that run one job and exit or that compile schema after schema: a purge is an
/// `madvise` of everything freed a second ago, done inside whichever allocation comes next (masks
/// stalled 10-22 ms for it), and memory handed back is slow to touch again where the OS or
/// a hypervisor backs it lazily. The price is a resident set that stays at its peak. The Python
/// extension, a guest in someone else's process, does not call this.
///
/// Call it first thing in `main`, before any other thread starts: mimalloc's option table is not
/// synchronised.
pub fn keep_freed_memory() {
    if std::env::var_os(PURGE_DELAY_ENV).is_none() {
        set_purge_delay(-1);
    }
}

/// The purge delay now in force, in milliseconds (-1: never purge).
#[allow(unsafe_code)] // a call into mimalloc's C API; see SAFETY
pub fn purge_delay() -> c_long {
    // SAFETY: `mi_option_get` reads one entry of mimalloc's option table; any index below
    // `_mi_option_last` is valid. A read racing `keep_freed_memory` on another thread could see a
    // torn value, which is why that is called before threads start.
    unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }
}

#[allow(unsafe_code)] // a call into mimalloc's C API; see SAFETY
fn set_purge_delay(ms: c_long) {
    // SAFETY: `mi_option_set` stores one entry of mimalloc's option table (a valid index, see
    // `PURGE_DELAY`); the purge delay is read afresh each time a purge is scheduled, so changing
    // it while the heap is in use is allowed. Called before other threads start (see
    // `keep_freed_memory`), so no read races it.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, ms) }
}
