#![no_main]
// The check is sluicegate_checks::Target::Differential (shared with the stable replay test).
libfuzzer_sys::fuzz_target!(|data: &[u8]| sluicegate_checks::Target::Differential.run(data));
