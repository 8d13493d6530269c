//! The JSON-Schema-Test-Suite (draft 2020-12) as a ratchet: every case that
//! passed in the committed baseline must still pass, and no invalid instance
//! may ever be accepted. Improvements are printed; update the baseline with
//! `make suite-baseline`.

use std::collections::BTreeMap;

use sluicegate_bench::suite::{run, Outcome};
use sluicegate_tests::{data_dir, load};

#[test]
fn suite_does_not_regress() {
    let loaded = load("llama3_1");
    let dir = data_dir().join("json-schema-test-suite/tests/draft2020-12");
    assert!(dir.is_dir(), "JSON-Schema-Test-Suite not found at {}", dir.display());
    let result = run(&dir, loaded.vocab.clone(), &loaded.hf).expect("suite runs");
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/suite_baseline.json");
    let baseline: BTreeMap<String, String> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("baseline")).expect("baseline parses");
    let mut regressions = Vec::new();
    let mut improvements = 0;
    let mut unsound = Vec::new();
    for (case, outcome) in &result.cases {
        if *outcome == Outcome::InvalidAccepted {
            unsound.push(case.clone());
        }
        match baseline.get(case).map(String::as_str) {
            Some("pass") if *outcome != Outcome::Pass => regressions.push(format!("{case}: now {}", outcome.name())),
            Some(b) if b != "pass" && *outcome == Outcome::Pass => improvements += 1,
            None if *outcome == Outcome::Pass => improvements += 1,
            _ => {}
        }
    }
    let pass = result.cases.values().filter(|o| **o == Outcome::Pass).count();
    println!("suite: {pass} of {} cases pass; {improvements} improvements over the baseline", result.cases.len());
    assert!(unsound.is_empty(), "invalid instances accepted:\n{}", unsound.join("\n"));
    assert!(regressions.is_empty(), "regressions against the baseline:\n{}", regressions.join("\n"));
    assert!(pass >= baseline.values().filter(|v| *v == "pass").count());
}
