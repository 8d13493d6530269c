#![no_main]
// The check is sluicegate_checks::Target::Regex (shared with the stable replay test).
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluicegate_checks::Target::Regex.run(data));
