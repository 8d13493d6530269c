//! Every input in `fuzz/regressions/<target>/` (crashes the fuzzers found,
//! and hand-written hostile inputs) replayed on stable through the same
//! check the fuzz target runs.

use std::path::PathBuf;

use sluicegate_checks::Target;

#[test]
fn regression_inputs_pass_their_checks() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz/regressions");
    let mut replayed = 0;
    for target in Target::ALL {
        let dir = root.join(target.name());
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_file() && p.file_name().is_some_and(|n| n != ".gitkeep"))
            .collect();
        files.sort();
        for file in files {
            let data = std::fs::read(&file).expect("readable regression input");
            let started = std::time::Instant::now();
            target.run(&data);
            let took = started.elapsed();
            assert!(took.as_secs() < 20, "{}: {took:?} (a hang the limits should have stopped)", file.display());
            replayed += 1;
        }
    }
    assert!(replayed > 0, "no regression inputs found under {}", root.display());
}
