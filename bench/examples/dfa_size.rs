use sluicegate_core::dfa::{ByteDfa, DfaLimits};
fn main() {
    for re in std::env::args().skip(1) {
        let hir = sluicegate_core::regex_syntax::ParserBuilder::new().utf8(false).build().parse(&re).unwrap();
        let t = std::time::Instant::now();
        let d = ByteDfa::from_hir(&hir, &DfaLimits::default()).unwrap();
        println!("{} states, {:?}  {}", d.num_states(), t.elapsed(), &re[..re.len().min(80)]);
    }
}
