//! Differential test of the left-recursion rewrite: random small GBNF
//! grammars, many of them left-recursive (directly, indirectly, behind
//! optional prefixes) and ambiguous, compared with the Earley reference
//! (which needs no rewrite) on every string over {a, b, c} up to length 5:
//! the same strings are accepted, and the same prefixes are viable.

use std::sync::Arc;

use sluicegate_core::{
    CompileError, CompileOptions, GrammarErrorKind, Limit, LimitExceeded, MatchError, TokenEntry, TokenKind, Vocabulary,
};
use sluicegate_grammars::{compile, gbnf, Constraint};
use sluicegate_tests::earley::Earley;
use sluicegate_tests::generate::Rng;

fn bytes_vocab() -> Arc<Vocabulary> {
    let mut tokens: Vec<TokenEntry> =
        (0..=255u8).map(|b| TokenEntry { id: b as u32, bytes: vec![b], kind: TokenKind::Text }).collect();
    tokens.push(TokenEntry { id: 256, bytes: b"</s>".to_vec(), kind: TokenKind::Special });
    Arc::new(Vocabulary::from_tokens(tokens, &[256], None).unwrap())
}

const RULES: [&str; 3] = ["root", "x", "y"];

/// One item of a sequence. Unbounded repetitions of rule references are
/// always separated by text (`(x "c")+`): a star over a rule that can match
/// the empty string (`x*`) makes the number of ways to parse a prefix, and
/// the matcher's configuration sets, explode (see `MAX_CONFIGS` in the core).
fn symbol(rng: &mut Rng, left: bool) -> String {
    let rule = rng.below(if left { 4 } else { 7 }) < 3;
    let base = if rule {
        RULES[rng.below(3)].to_string()
    } else {
        match rng.below(4) {
            0 => format!("\"{}\"", ["a", "b", "c", "ab"][rng.below(4)]),
            1 => "[ab]".to_string(),
            2 => format!("({} | {})", RULES[rng.below(3)], ["\"c\"", "\"a\""][rng.below(2)]),
            _ => "\"b\"".to_string(),
        }
    };
    match rng.below(8) {
        0 => format!("{base}?"),
        1 if !rule && !base.starts_with('(') => format!("{base}*"),
        2 => format!("({base} \"c\")+"),
        _ => base,
    }
}

fn random_grammar(rng: &mut Rng) -> String {
    let mut out = String::new();
    for name in RULES {
        let alts: Vec<String> = (0..1 + rng.below(3))
            .map(|_| {
                let n = rng.below(4);
                (0..n).map(|i| symbol(rng, i == 0)).collect::<Vec<_>>().join(" ")
            })
            .map(|s| if s.is_empty() { "\"\"".to_string() } else { s })
            .collect();
        out.push_str(&format!("{name} ::= {}\n", alts.join(" | ")));
    }
    out
}

#[test]
fn rewrite_matches_the_reference() {
    let vocab = bytes_vocab();
    let mut strings: Vec<Vec<u8>> = vec![Vec::new()];
    let mut level = vec![Vec::new()];
    for _ in 0..5 {
        level =
            level.iter().flat_map(|s: &Vec<u8>| b"abc".iter().map(move |&c| [s.clone(), vec![c]].concat())).collect();
        strings.extend(level.iter().cloned());
    }
    let mut rng = Rng(42);
    let (mut compared, mut left_recursive, mut refused, mut mismatches, mut truncated) = (0, 0, 0, 0, 0);
    for _ in 0..200 {
        let text = random_grammar(&mut rng);
        let g = match compile(&Constraint::Gbnf(text.clone()), vocab.clone(), &CompileOptions::default()) {
            Ok(g) => g,
            Err(CompileError::Grammar { kind, message, .. })
                if matches!(
                    kind,
                    GrammarErrorKind::LeftRecursion
                        | GrammarErrorKind::NeverTerminates
                        | GrammarErrorKind::EmptyLanguage
                ) =>
            {
                if std::env::var_os("SHOW_REFUSED").is_some() {
                    eprintln!("refused ({kind:?}: {message}):\n{text}");
                }
                refused += 1;
                continue;
            }
            Err(CompileError::Limit(LimitExceeded { limit: Limit::Configurations, .. })) => {
                truncated += 1;
                continue;
            }
            Err(e) => panic!("{text}: {e}"),
        };
        let ast = gbnf::parse(&text).unwrap();
        // Directly left-recursive: an alternative starts with its own rule (a rough count).
        let direct = text.lines().any(|l| {
            let (name, body) = l.split_once(" ::= ").expect("one rule per line");
            body.split(" | ").any(|alt| alt.trim_start_matches('(').starts_with(name))
        });
        let reference = Earley::new(&ast);
        let mut cut = false;
        let bad = strings.iter().find(|s| {
            let mut m = g.matcher();
            let fed = m.consume_bytes(s);
            // A step past the configuration limit is refused with a typed
            // error: such grammars are counted, not compared.
            if matches!(fed, Err(MatchError::ConfigLimit { .. })) {
                cut = true;
                return false;
            }
            let viable = fed.is_ok();
            viable != reference.viable_prefix(s) || (viable && m.is_accepting()) != reference.accepts(s)
        });
        if let Some(s) = bad {
            eprintln!("mismatch on {:?} for\n{text}", String::from_utf8_lossy(s));
            mismatches += 1;
        }
        if cut {
            truncated += 1;
            continue;
        }
        left_recursive += usize::from(direct);
        compared += 1;
    }
    eprintln!(
        "{compared} grammars compared ({left_recursive} directly left-recursive), {refused} refused, \
         {truncated} too ambiguous for the configuration limit"
    );
    assert_eq!(mismatches, 0, "the engine and the reference disagree (grammars above)");
    assert!(compared >= 100 && left_recursive >= 50, "{compared} compared, {left_recursive} left-recursive");
}
