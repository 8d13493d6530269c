//! A short random-input run of every fuzz target on stable, in every test
//! run: inputs are mutations of the target's regression inputs (bit flips,
//! byte insertions, deletions, splices between inputs) and random byte
//! strings, drawn from a fixed seed so a failure replays. Not coverage
//! guided (that is `make fuzz-smoke` / `make fuzz`, which need an
//! instrumented build); this catches a harness or a front end that panics
//! on inputs near the known hard ones.
//!
//! `SLUICEGATE_SMOKE_INPUTS` sets the inputs per target (default 3000).

use sluicegate_checks::Target;

/// xorshift64*: a small deterministic generator (no dependency).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn seeds(target: Target) -> Vec<Vec<u8>> {
    sluicegate_checks::regression_inputs(target).into_iter().map(|(_, data)| data).collect()
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    if seeds.is_empty() || rng.below(8) == 0 {
        let len = rng.below(96);
        return (0..len).map(|_| rng.next() as u8).collect();
    }
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        match rng.below(4) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let i = rng.below(data.len() + 1);
                data.insert(i, rng.next() as u8);
            }
            2 if !data.is_empty() => {
                let i = rng.below(data.len());
                let n = 1 + rng.below(8.min(data.len() - i));
                data.drain(i..i + n);
            }
            _ => {
                let other = &seeds[rng.below(seeds.len())];
                let cut = rng.below(data.len() + 1);
                let from = rng.below(other.len() + 1);
                data.truncate(cut);
                data.extend_from_slice(&other[from..]);
            }
        }
    }
    data
}

#[test]
fn every_fuzz_target_survives_random_inputs() {
    let per_target: usize = std::env::var("SLUICEGATE_SMOKE_INPUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(3000);
    for (i, target) in Target::ALL.into_iter().enumerate() {
        let seeds = seeds(target);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (i as u64 + 1));
        for n in 0..per_target {
            let data = mutate(&mut rng, &seeds);
            let started = std::time::Instant::now();
            // A failed check panics inside `run`; name the input so it can be
            // saved as a regression.
            let result = std::panic::catch_unwind(|| target.run(&data));
            assert!(
                result.is_ok(),
                "{} input #{n} failed its check: {:?}",
                target.name(),
                String::from_utf8_lossy(&data)
            );
            let took = started.elapsed();
            assert!(
                took.as_secs() < 20,
                "{} input #{n}: {took:?} (a hang the limits should have stopped)",
                target.name()
            );
        }
    }
}
