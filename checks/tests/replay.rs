//! Every input in `fuzz/regressions/<target>/` (crashes the fuzzers found,
//! and hand-written hostile inputs) replayed on stable through the same
//! check the fuzz target runs.

use sluicegate_checks::Target;

#[test]
fn regression_inputs_pass_their_checks() {
    let mut replayed = 0;
    for target in Target::ALL {
        for (file, data) in sluicegate_checks::regression_inputs(target) {
            let started = std::time::Instant::now();
            target.run(&data);
            let took = started.elapsed();
            assert!(took.as_secs() < 20, "{}: {took:?} (a hang the limits should have stopped)", file.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression inputs found under fuzz/regressions");
}
