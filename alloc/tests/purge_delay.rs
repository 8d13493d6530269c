//! The purge-delay setting reaches mimalloc's option table. One test in this binary, so that no
//! other test has changed the option first.

#[test]
fn purge_delay_option_has_mimallocs_default_until_freed_memory_is_kept() {
    let from_env = std::env::var("MIMALLOC_PURGE_DELAY").ok().and_then(|v| v.parse::<std::os::raw::c_long>().ok());
    // mimalloc v3's default purge delay is 1,000 ms: a different figure means the option index
    // no longer names the purge delay in the linked mimalloc.
    assert_eq!(sluicegate_alloc::purge_delay(), from_env.unwrap_or(1000));
    sluicegate_alloc::keep_freed_memory();
    assert_eq!(sluicegate_alloc::purge_delay(), from_env.unwrap_or(-1));
}
