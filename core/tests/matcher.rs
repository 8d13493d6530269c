//! Matcher behaviour on small hand-made vocabularies (no data files needed).

use std::sync::Arc;

use regex_syntax::parse;
use sluicegate_core::{
    CompileError, CompileOptions, CompiledGrammar, Expr, Grammar, Limit, MatchError, Matcher, Rule, TokenEntry,
    TokenKind, Vocabulary,
};

const EOS: u32 = 100;
const BOS: u32 = 101;

fn vocab(width: Option<usize>) -> Arc<Vocabulary> {
    let texts = ["a", "b", "ab", "abc", "c", "\"", "{\"", "name", "\":", " \"", "x", "é", "?"];
    let mut tokens: Vec<TokenEntry> = texts
        .iter()
        .enumerate()
        .map(|(i, t)| TokenEntry { id: i as u32, bytes: t.as_bytes().to_vec(), kind: TokenKind::Text })
        .collect();
    // The two bytes of "é" (0xC3 0xA9) as separate byte-fallback tokens.
    tokens[12].bytes = vec![0xC3];
    tokens.push(TokenEntry { id: 13, bytes: vec![0xA9], kind: TokenKind::Text });
    tokens.push(TokenEntry { id: EOS, bytes: b"</s>".to_vec(), kind: TokenKind::Special });
    tokens.push(TokenEntry { id: BOS, bytes: b"<s>".to_vec(), kind: TokenKind::Special });
    Arc::new(Vocabulary::from_tokens(tokens, &[EOS], width).unwrap())
}

fn compile(v: &Arc<Vocabulary>, re: &str) -> Arc<CompiledGrammar> {
    CompiledGrammar::new(&Grammar::regular(parse(re).unwrap()), v.clone(), &CompileOptions::default()).unwrap()
}

fn allowed(m: &mut Matcher) -> Vec<u32> {
    let mask = m.compute_mask_vec();
    (0..m.grammar().vocab().mask_width() as u32).filter(|&t| mask[(t >> 5) as usize] >> (t & 31) & 1 == 1).collect()
}

#[test]
fn mask_eos_and_special_tokens() {
    let v = vocab(None);
    let g = compile(&v, "(ab)+");
    let mut m = g.matcher();
    assert_eq!(allowed(&mut m), vec![0, 2]); // "a", "ab"; never "<s>" or EOS
    m.consume_token(2).unwrap();
    assert_eq!(allowed(&mut m), vec![0, 2, EOS]);
    assert!(m.is_accepting() && !m.is_finished());
    assert!(matches!(m.consume_token(BOS), Err(MatchError::TokenRejected { token: BOS, .. })));
    m.consume_token(EOS).unwrap();
    assert!(m.is_finished());
    assert_eq!(allowed(&mut m), vec![EOS]);
    assert_eq!(m.consume_token(0), Err(MatchError::Finished));
    m.rollback(1).unwrap();
    assert!(!m.is_finished());
    m.consume_token(0).unwrap();
    assert!(!m.is_accepting());
}

#[test]
fn padded_mask_width() {
    let v = vocab(Some(200));
    assert_eq!(v.mask_words(), 7);
    let g = compile(&v, "[a-z]+");
    let mut m = g.matcher();
    let mask = m.compute_mask_vec();
    assert_eq!(mask.len(), 7);
    assert_eq!(mask[4..], [0, 0, 0], "padding ids are never allowed");
    assert_eq!(m.consume_token(150), Err(MatchError::TokenRejected { token: 150, text: "\"\"".into(), consumed: 0 }));
    assert_eq!(m.consume_token(200), Err(MatchError::TokenOutOfRange { token: 200, width: 200 }));
    let mut short = vec![0u32; 6];
    assert_eq!(m.compute_mask(&mut short), Err(MatchError::BadMaskBuffer { got: 6, expected: 7 }));
}

#[test]
fn rollback_and_clone() {
    let v = vocab(None);
    let g = compile(&v, "abcab|abx");
    let mut m = g.matcher();
    m.consume_tokens(&[3, 0]).unwrap(); // "abc" "a"
    let snapshot = m.clone();
    m.consume_token(1).unwrap();
    assert!(m.is_finished());
    assert!(!snapshot.is_accepting());
    m.rollback(2).unwrap();
    assert_eq!(m.num_steps(), 1);
    assert_eq!(allowed(&mut m), vec![0, 2]);
    assert_eq!(m.rollback(5), Err(MatchError::RollbackTooFar { requested: 5, available: 1 }));
    // consume_tokens is all-or-nothing.
    assert!(m.consume_tokens(&[2, 1]).is_err());
    assert_eq!(m.num_steps(), 1);
    assert_eq!(m.validate_tokens(&[0, 1, 1]), 2);
    m.reset();
    assert_eq!(m.num_steps(), 0);
}

#[test]
fn forced_bytes_and_tokens() {
    let v = vocab(None);
    let g = compile(&v, r#"\{"name": "[a-z]+"\}"#);
    let m = g.matcher();
    assert_eq!(m.forced_bytes(), br#"{"name": ""#);
    // Greedy spelling `{"` `name` `":` ` "`; ` "` has no longer extension, so it stays.
    assert_eq!(m.forced_tokens(), vec![6, 7, 8, 9]);
    let g = compile(&v, "abcabc|abcabd");
    let m = g.matcher();
    assert_eq!(m.forced_bytes(), b"abcab");
    // "abc" then "ab": "ab" could extend to "abc" past the forced bytes, so it is held back.
    assert_eq!(m.forced_tokens(), vec![3]);
    let g = compile(&v, "ab");
    assert_eq!(g.matcher().forced_tokens(), vec![2], "nothing follows, so the last token is kept");
}

#[test]
fn utf8_split_across_tokens() {
    let v = vocab(None);
    let g = compile(&v, "é+");
    let mut m = g.matcher();
    assert_eq!(allowed(&mut m), vec![11, 12]); // "é" and the lone lead byte
    m.consume_token(12).unwrap();
    assert_eq!(allowed(&mut m), vec![13]); // only the continuation byte
    m.consume_token(13).unwrap();
    assert!(m.is_accepting());
}

#[test]
fn consume_bytes_errors() {
    let v = vocab(None);
    let g = compile(&v, "abc");
    let mut m = g.matcher();
    let err = m.consume_bytes(b"abd").unwrap_err();
    assert_eq!(err, MatchError::BytesRejected { offset: 2, context: "\"abd\"".into() });
    assert_eq!(m.num_steps(), 0);
    m.consume_bytes(b"ab").unwrap();
    assert_eq!(allowed(&mut m), vec![4]);
}

#[test]
fn build_errors() {
    let v = vocab(None);
    let opts = CompileOptions::default();
    let empty = Grammar::regular(parse("a\\zb").unwrap());
    assert!(matches!(CompiledGrammar::new(&empty, v.clone(), &opts), Err(CompileError::Empty)));
    // Too large for the configured limits: an error, not an abort.
    let mut small = CompileOptions::default();
    small.limits.max_states = 100;
    let big = Grammar::regular(parse("[a-z]{500}").unwrap());
    match CompiledGrammar::new(&big, v.clone(), &small) {
        Err(CompileError::Limit(e)) => {
            assert_eq!((e.limit, e.value), (Limit::AutomatonStates, 100));
            assert!(e.to_string().contains("limits.max_states = 100"), "{e}");
        }
        other => panic!("expected the state limit, got {other:?}"),
    }
    // Left recursion cannot be run by the pushdown matcher: an error, not a hang.
    let left = Grammar {
        rules: vec![Rule::new(
            "list",
            Expr::Alt(vec![Expr::literal("x"), Expr::Seq(vec![Expr::Rule(0), Expr::literal(",x")])]),
        )],
        start: 0,
    };
    let err = CompiledGrammar::new(&left, v.clone(), &opts).unwrap_err();
    assert!(err.to_string().contains("left-recursive"), "{err}");
}

/// Balanced brackets: recursion runs on the matcher's stack, to any depth.
#[test]
fn recursive_grammar() {
    let v = vocab(None);
    // nest := "a" | "(" nest ")"   over the toy vocabulary, with "(" and ")" spelled by "\"" and "x".
    let g = Grammar {
        rules: vec![Rule::new(
            "nest",
            Expr::Alt(vec![
                Expr::literal("a"),
                Expr::Seq(vec![Expr::literal("\""), Expr::Rule(0), Expr::literal("x")]),
            ]),
        )],
        start: 0,
    };
    let g = CompiledGrammar::new(&g, v.clone(), &CompileOptions::default()).unwrap();
    let mut m = g.matcher();
    let depth = 50;
    for _ in 0..depth {
        assert_eq!(allowed(&mut m), vec![0, 5], "\"a\" or another opening quote");
        m.consume_token(5).unwrap();
    }
    m.consume_token(0).unwrap();
    for i in 0..depth {
        assert!(!m.is_accepting());
        assert_eq!(allowed(&mut m), vec![10], "only a closing x at depth {}", depth - i);
        m.consume_token(10).unwrap();
    }
    assert!(m.is_finished());
    assert_eq!(allowed(&mut m), vec![EOS]);
    m.rollback(depth + 1).unwrap();
    assert_eq!(allowed(&mut m), vec![0, 5]);
    assert_eq!(m.forced_bytes(), b"");
}

#[test]
fn rules_with_equal_automata_share_masks_but_return_to_their_own_callers() {
    // Two called rules with the same body; the returns out of the second
    // must lead to ";", never to the "," that follows the first.
    let texts = ["a", "b", "ab", ",", ";", "a,", "ab,", "a;", "ab;", ",a", ";a"];
    let tokens = texts
        .iter()
        .enumerate()
        .map(|(i, t)| TokenEntry { id: i as u32, bytes: t.as_bytes().to_vec(), kind: TokenKind::Text })
        .chain([TokenEntry { id: EOS, bytes: b"</s>".to_vec(), kind: TokenKind::Special }]);
    let v = Arc::new(Vocabulary::from_tokens(tokens, &[EOS], None).unwrap());
    let word = || Expr::regular(parse("[ab]+").unwrap());
    let g = Grammar {
        rules: vec![
            Rule::new("start", Expr::Seq(vec![Expr::Rule(1), Expr::literal(","), Expr::Rule(2), Expr::literal(";")])),
            Rule { inline: false, ..Rule::new("first", word()) },
            Rule { inline: false, ..Rule::new("second", word()) },
        ],
        start: 0,
    };
    let g = CompiledGrammar::new(&g, v.clone(), &CompileOptions::default()).unwrap();
    let mut m = g.matcher();
    // a, b, ab, "a," and "ab," inside the first word.
    assert_eq!(allowed(&mut m), vec![0, 1, 2, 5, 6]);
    m.consume_token(0).unwrap();
    assert_eq!(allowed(&mut m), vec![0, 1, 2, 3, 5, 6, 9]);
    m.consume_token(3).unwrap();
    m.consume_token(0).unwrap();
    // The same automaton state in the second word: ";" instead of ",".
    assert_eq!(allowed(&mut m), vec![0, 1, 2, 4, 7, 8]);
    m.consume_token(8).unwrap();
    assert!(m.is_accepting());
}

#[test]
fn batch_masks_equal_one_by_one_masks() {
    let v = vocab(None);
    let g = compile(&v, "(a|b|c)*x");
    let other = compile(&v, "\"[a-z]+\"");
    let mut matchers: Vec<Matcher> = (0..6).map(|i| if i % 2 == 0 { g.matcher() } else { other.matcher() }).collect();
    matchers[2].consume_token(2).unwrap();
    matchers[3].consume_token(5).unwrap();
    let words = v.mask_words();
    let mut batch = vec![u32::MAX; matchers.len() * words];
    sluicegate_core::compute_masks(&mut matchers, &mut batch).unwrap();
    for (i, m) in matchers.iter_mut().enumerate() {
        assert_eq!(&batch[i * words..(i + 1) * words], &m.compute_mask_vec()[..], "matcher {i}");
    }
    assert_ne!(batch[..words], batch[words..2 * words], "different constraints, different masks");
    let mut short = vec![0; words];
    assert!(matches!(sluicegate_core::compute_masks(&mut matchers, &mut short), Err(MatchError::BadMaskBuffer { .. })));
}

#[test]
fn vocabulary_errors() {
    assert!(Vocabulary::from_tokens(Vec::new(), &[], None).is_err());
    let dup = vec![
        TokenEntry { id: 1, bytes: b"a".to_vec(), kind: TokenKind::Text },
        TokenEntry { id: 1, bytes: b"b".to_vec(), kind: TokenKind::Text },
    ];
    assert!(Vocabulary::from_tokens(dup, &[], None).unwrap_err().to_string().contains("listed twice"));
    let one = vec![TokenEntry { id: 3, bytes: b"a".to_vec(), kind: TokenKind::Text }];
    assert!(Vocabulary::from_tokens(one.clone(), &[9], None).is_err(), "EOS out of range");
    assert!(Vocabulary::from_tokens(one.clone(), &[], Some(2)).is_err(), "width below ids");
    let v = Vocabulary::from_tokens(one, &[], None).unwrap();
    assert_eq!(v.kind(0), TokenKind::Unusable, "gaps are unusable");
    assert_eq!(v.kind(3), TokenKind::Text);
    // Declaring a text token EOS makes it special, so it is no longer text.
    let v = v.with_eos(&[3]).unwrap();
    assert_eq!(v.kind(3), TokenKind::Special);
}

#[test]
fn shared_across_threads() {
    let v = vocab(None);
    let g = compile(&v, "[abc\"x]*name");
    let steps = [0u32, 1, 2, 3];
    let reference: Vec<Vec<u32>> = {
        let mut m = g.matcher();
        steps
            .iter()
            .map(|&t| {
                m.consume_token(t).unwrap();
                m.compute_mask_vec()
            })
            .collect()
    };
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                let mut m = g.matcher();
                for (i, &t) in steps.iter().enumerate() {
                    m.consume_token(t).unwrap();
                    assert_eq!(m.compute_mask_vec(), reference[i]);
                }
            });
        }
    });
}

/// `S = "a" S | "a" S "b" | ""`: every `a` can open a frame that waits for a
/// `b` or not, so the live configurations grow with the number of `a`s.
fn ambiguous() -> Grammar {
    let s = || Expr::Rule(0);
    let body = Expr::Alt(vec![
        Expr::Seq(vec![Expr::literal("a"), s()]),
        Expr::Seq(vec![Expr::literal("a"), s(), Expr::literal("b")]),
        Expr::literal(""),
    ]);
    Grammar { rules: vec![Rule { inline: false, ..Rule::new("s", body) }], start: 0 }
}

#[test]
fn configuration_limit_is_an_error_not_a_cut() {
    let v = vocab(None);
    let mut opts = CompileOptions::default();
    opts.resources.max_configs = 6;
    let g = CompiledGrammar::new(&ambiguous(), v.clone(), &opts).unwrap();
    let mut m = g.matcher();
    let mut refused = None;
    for i in 0..20 {
        match m.consume_token(0) {
            // The mask walks more sets than the step: it may hit the limit first.
            Ok(()) => assert!(matches!(m.try_compute_mask_vec(), Ok(_) | Err(MatchError::ConfigLimit { limit: 6 }))),
            Err(e) => {
                refused = Some((i, e));
                break;
            }
        }
    }
    let (consumed, err) = refused.expect("the limit is reached within 20 a's");
    assert_eq!(err, MatchError::ConfigLimit { limit: 6 });
    assert!(err.to_string().contains("resources.max_configs = 6"), "{err}");
    // The refused step left the state as it was (`a` repeated is complete).
    assert_eq!(m.num_steps(), consumed);
    assert!(m.is_accepting());
    assert_eq!(m.consume_token(0), Err(MatchError::ConfigLimit { limit: 6 }));
    assert_eq!(m.num_steps(), consumed);

    // The default limit takes the same input.
    let g = CompiledGrammar::new(&ambiguous(), v, &CompileOptions::default()).unwrap();
    let mut m = g.matcher();
    for _ in 0..=consumed {
        m.consume_token(0).unwrap();
    }
    assert!(m.is_accepting());
}

#[test]
fn limits_name_themselves() {
    let v = vocab(None);
    let mut opts = CompileOptions::default();
    opts.resources.max_rules = 1;
    let two = Grammar { rules: vec![Rule::new("a", Expr::Rule(1)), Rule::new("b", Expr::literal("b"))], start: 0 };
    match CompiledGrammar::new(&two, v.clone(), &opts) {
        Err(CompileError::Limit(e)) => assert_eq!((e.limit, e.value), (Limit::Rules, 1)),
        other => panic!("expected the rule limit, got {other:?}"),
    }
    let mut opts = CompileOptions::default();
    opts.resources.max_expr_nodes = 3;
    let seq = Grammar::regular(parse("ab").unwrap());
    assert!(CompiledGrammar::new(&seq, v.clone(), &opts).is_ok());
    let wide = Grammar { rules: vec![Rule::new("w", Expr::Seq(vec![Expr::literal("a"); 5]))], start: 0 };
    match CompiledGrammar::new(&wide, v.clone(), &opts) {
        Err(CompileError::Limit(e)) => assert_eq!((e.limit, e.value), (Limit::ExprNodes, 3)),
        other => panic!("expected the expression limit, got {other:?}"),
    }
    // Inlining copies a rule into each use: 2^12 copies of "a" from 13 small rules.
    let mut rules: Vec<Rule> =
        (0..12).map(|i| Rule::new(format!("r{i}"), Expr::Seq(vec![Expr::Rule(i + 1); 2]))).collect();
    rules.push(Rule::new("leaf", Expr::literal("a")));
    let doubling = Grammar { rules, start: 0 };
    let mut opts = CompileOptions::default();
    opts.resources.max_expr_nodes = 1000;
    // Too many nodes to inline; with calls instead it is small and compiles.
    let g = CompiledGrammar::new(&doubling, v.clone(), &opts).unwrap();
    assert!(g.num_rules() > 1);
    // An expired time budget stops compilation with its own error.
    let opts = CompileOptions { time_budget: std::time::Duration::ZERO, ..CompileOptions::default() };
    match CompiledGrammar::new(&seq, v, &opts) {
        Err(CompileError::Limit(e)) => assert_eq!(e.limit, Limit::TimeBudget),
        other => panic!("expected the time budget, got {other:?}"),
    }
}

/// A grammar of at least `LAZY_MIN_RULES` rules whose start is `"ab" big | "b"`,
/// with `big` a rule of its own (not inlined) built on first use.
fn lazy_grammar(big: &str) -> Grammar {
    let mut rules = vec![
        Rule::new("start", Expr::Alt(vec![Expr::Seq(vec![Expr::literal("ab"), Expr::Rule(1)]), Expr::literal("b")])),
        Rule { inline: false, ..Rule::new("big", Expr::regular(parse(big).unwrap())) },
    ];
    // Rules nothing refers to, so that the grammar counts as large.
    rules.extend(
        (0..sluicegate_core::compiled::LAZY_MIN_RULES).map(|i| Rule::new(format!("unused{i}"), Expr::literal("c"))),
    );
    Grammar { rules, start: 0 }
}

#[test]
fn rules_are_built_when_first_entered() {
    let v = vocab(None);
    let g = CompiledGrammar::from_grammar(lazy_grammar("c+"), v.clone(), &CompileOptions::default()).unwrap();
    assert!(g.is_partly_built());
    let before = g.num_rules();
    let mut m = g.matcher();
    m.consume_bytes(b"ab").unwrap();
    assert_eq!(g.num_rules(), before + 1, "entering `big` builds it");
    assert_eq!(allowed(&mut m), vec![4]); // "c"
    m.consume_token(4).unwrap();
    assert!(m.is_accepting());
}

#[test]
fn a_rule_that_cannot_be_built_on_first_use_is_an_error_where_it_is_entered() {
    let v = vocab(None);
    let mut opts = CompileOptions::default();
    opts.limits.max_states = 100;
    // Compiles: `big` (hundreds of states) is not needed to start.
    let g = CompiledGrammar::from_grammar(lazy_grammar("[a-c]*a[a-c]{6}"), v.clone(), &opts).unwrap();
    let mut m = g.matcher();
    // The first mask needs it (the token "abc" runs into it): an error,
    // every time it is asked for, never a mask without the rule.
    for _ in 0..2 {
        match m.try_compute_mask_vec() {
            Err(MatchError::RuleBuild { message }) => assert!(message.contains("max_states = 100"), "{message}"),
            other => panic!("expected the rule's build error, got {other:?}"),
        }
    }
    // Entering it fails the same way, and the matcher stays where it was.
    assert!(matches!(m.consume_bytes(b"ab"), Err(MatchError::RuleBuild { .. })));
    assert_eq!(m.num_steps(), 0);
    m.consume_bytes(b"b").unwrap();
    assert!(m.is_accepting());
}

#[test]
fn an_empty_rule_is_refused_whether_rules_are_built_first_or_on_use() {
    let v = vocab(None);
    let mut g = lazy_grammar("c");
    g.rules[1].body = Expr::Alt(vec![]); // `big` matches nothing
    let opts = CompileOptions::default();
    assert!(matches!(CompiledGrammar::new(&g, v.clone(), &opts), Err(CompileError::Empty)));
    assert!(matches!(CompiledGrammar::from_grammar(g, v, &opts), Err(CompileError::Empty)));
}

#[test]
fn members_in_any_order_past_what_a_set_counts_are_an_error() {
    use sluicegate_core::{AnyOrder, AnyOrderMember};
    let v = vocab(None);
    let member = Rule { inline: false, ..Rule::new("m", Expr::literal("a")) };
    let set = AnyOrder {
        name: "o".into(),
        members: (0..=AnyOrder::MAX_MEMBERS).map(|_| AnyOrderMember { first: 1, later: 1, required: false }).collect(),
        extra: None,
        min: 0,
        max: None,
    };
    let g = Grammar { rules: vec![Rule::new("o", Expr::AnyOrder(Arc::new(set))), member], start: 0 };
    for built in [
        CompiledGrammar::new(&g, v.clone(), &CompileOptions::default()),
        CompiledGrammar::from_grammar(g.clone(), v.clone(), &CompileOptions::default()),
    ] {
        assert!(matches!(built, Err(CompileError::Invalid(ref m)) if m.contains("more than 16")), "{built:?}");
    }
}
