//! Front-end tests over a byte vocabulary: parse errors with positions,
//! the checks, left-recursion elimination, Lark features.

use std::sync::Arc;

use sluicegate_core::{
    CompileError, CompileOptions, CompiledGrammar, GrammarErrorKind, TokenEntry, TokenKind, Vocabulary,
};

use crate::{compile, Constraint};

fn bytes_vocab() -> Arc<Vocabulary> {
    let mut tokens: Vec<TokenEntry> =
        (0..=255u8).map(|b| TokenEntry { id: b as u32, bytes: vec![b], kind: TokenKind::Text }).collect();
    tokens.push(TokenEntry { id: 256, bytes: b"</s>".to_vec(), kind: TokenKind::Special });
    Arc::new(Vocabulary::from_tokens(tokens, &[256], None).unwrap())
}

fn build(c: &Constraint) -> Arc<CompiledGrammar> {
    compile(c, bytes_vocab(), &CompileOptions::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn accepts(g: &Arc<CompiledGrammar>, s: &str) -> bool {
    let mut m = g.matcher();
    m.consume_bytes(s.as_bytes()).is_ok() && m.is_accepting()
}

fn check(c: Constraint, yes: &[&str], no: &[&str]) {
    let g = build(&c);
    for s in yes {
        assert!(accepts(&g, s), "{c:?} should accept {s:?}");
    }
    for s in no {
        assert!(!accepts(&g, s), "{c:?} should reject {s:?}");
    }
}

fn gbnf(s: &str) -> Constraint {
    Constraint::Gbnf(s.into())
}

fn lark(s: &str) -> Constraint {
    Constraint::Lark(s.into())
}

fn error(c: Constraint) -> (GrammarErrorKind, u32, u32, String) {
    match c.to_grammar().and_then(|g| CompiledGrammar::new(&g, bytes_vocab(), &CompileOptions::default()).map(|_| ())) {
        Err(CompileError::Grammar { kind, line, column, message }) => (kind, line, column, message),
        other => panic!("{c:?}: expected a grammar error, got {other:?}"),
    }
}

#[test]
fn gbnf_basics() {
    check(
        gbnf("root ::= \"a\" [b-d]+ (\"x\" | \"yz\")? . [^\\n]{2} # comment\n"),
        &["abx\n\t\t", "acdyzééé", "ab-ab"],
        &["a", "abx\n\n\n", "ax\nab"],
    );
    check(gbnf("root ::= \"\\x41\\u00e9\\U0001F600\\\"\\\\\""), &["Aé😀\"\\"], &["A"]);
    check(gbnf("root ::= [a]{2,3} [b]{2} [c]{1,} [d]{,1}"), &["aabbc", "aaabbcccd"], &["abbc", "aaaabbc", "aabbcdd"]);
    check(gbnf("root ::= [\\]\\-^] [^\\]]"), &["]x", "-y", "^a"], &["a]", "]]"]);
}

#[test]
fn gbnf_multiline_and_groups() {
    let g = "
# a comment line
root ::= (
    item   # one item
    | \"[\" item (
        \",\" item
      )* \"]\"
  )
item ::= [0-9]+
  | \"x\"
";
    check(gbnf(g), &["12", "x", "[1,x,3]"], &["[1,]", "[]", ""]);
}

#[test]
fn gbnf_recursion_and_left_recursion() {
    check(gbnf("root ::= \"(\" root \")\" | \"\""), &["", "()", "((()))"], &["(()", "())"]);
    // Direct left recursion, ambiguous too.
    let e = "root ::= root \"+\" root | root \"*\" root | [0-9]";
    check(gbnf(e), &["1", "1+2*3+4", "1*2*3"], &["", "1+", "+1", "12"]);
    // Indirect left recursion.
    let e = "root ::= a \"!\"\na ::= b \"x\" | \"y\"\nb ::= a \"z\" | \"w\"";
    check(gbnf(e), &["y!", "wx!", "yzx!", "yzxzx!", "wxzx!"], &["yz!", "x!", "w!"]);
    // Left recursion under an option and a repetition.
    let e = "root ::= \"a\"? list\nlist ::= (list \",\")? [0-9] | \"[\" list \"]\"";
    check(gbnf(e), &["1", "a1,2,3", "[1,2],3"], &["1,", ",1"]);
    // Left recursion behind an optional prefix of text.
    let e = "root ::= (\"x\")? root \"y\" | \"z\"";
    check(gbnf(e), &["z", "zy", "xzy", "xzyy", "zyyy", "xxzyy"], &["xz", "y", "xxzy"]);
    let e = "root ::= (root \"b\")* \"a\"";
    check(gbnf(e), &["a", "aba", "ababa"], &["ab", "b"]);
}

#[test]
fn gbnf_syntax_errors_name_line_and_column() {
    let (k, l, c, m) = error(gbnf("root ::= \"a\"\nfoo ::= \"b\" )\n"));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 2, 13), "{m}");
    let (k, l, c, m) = error(gbnf("root ::= [a-\n"));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 1, 10), "{m}");
    assert!(m.contains("unterminated character class"), "{m}");
    let (k, l, c, _) = error(gbnf("root ::= \"abc\n"));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 1, 10));
    let (k, l, c, m) = error(gbnf("root ::= \"a\\q\""));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 1, 12), "{m}");
    let (k, l, c, m) = error(gbnf("root = \"a\""));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 1, 6), "{m}");
    assert!(m.contains("::="), "{m}");
    let (k, l, c, m) = error(gbnf("root ::= \"a\"{3,2}"));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 1, 13), "{m}");
    let (k, _, _, _) = error(gbnf("root ::= *"));
    assert_eq!(k, GrammarErrorKind::Syntax);
    let (k, l, c, m) = error(gbnf("root ::= \"a\" b c\nb ::= \"x\"\nb ::= \"y\""));
    assert_eq!((k, l, c), (GrammarErrorKind::DuplicateRule, 3, 1), "{m}");
}

#[test]
fn gbnf_semantic_errors() {
    let (k, l, c, m) = error(gbnf("root ::= \"a\" missing-rule"));
    assert_eq!((k, l, c), (GrammarErrorKind::UndefinedRule, 1, 14));
    assert!(m.contains("missing-rule"), "{m}");
    let (k, _, _, m) = error(gbnf("item ::= \"a\""));
    assert_eq!(k, GrammarErrorKind::UndefinedRule);
    assert!(m.contains("root"), "{m}");
    let (k, l, _, m) = error(gbnf("root ::= \"a\" loop\nloop ::= \"x\" loop"));
    assert_eq!((k, l), (GrammarErrorKind::NeverTerminates, 2), "{m}");
    assert!(m.contains("`loop`"), "{m}");
    let (k, l, _, m) = error(gbnf("root ::= root \"a\""));
    assert_eq!((k, l), (GrammarErrorKind::NeverTerminates, 1), "{m}");
    let (k, _, _, m) = error(gbnf("root ::= \"a\" [^\\x00-\\U0010FFFF]"));
    assert_eq!(k, GrammarErrorKind::EmptyLanguage, "{m}");
    let (k, l, c, m) = error(gbnf("root ::= \"a\" <[1000]>"));
    assert_eq!((k, l, c), (GrammarErrorKind::Unsupported, 1, 14), "{m}");
    assert!(m.contains("<[1000]>") && m.contains("token"), "{m}");
    let (k, _, _, m) = error(gbnf("root ::= !<|im_end|>*"));
    assert!(k == GrammarErrorKind::Unsupported && m.contains("<|im_end|>"), "{m}");
}

#[test]
fn left_recursion_through_empty_rules() {
    // Hidden left recursion (behind a rule that can be empty).
    check(
        gbnf("root ::= e\ne ::= ws e \"+\" | \"1\"\nws ::= \" \"*"),
        &["1", "1+", " 1+", "  1++", " 1+++"],
        &[" 1", "+", "1 +"],
    );
    // A left-recursive rule that can be empty itself.
    check(gbnf("root ::= list\nlist ::= list \",\" [0-9] | \"\""), &["", ",1", ",1,2"], &["1", ",", ",1,"]);
    check(
        gbnf("root ::= a \"!\"\na ::= b? a \"x\" | b \"y\" | \"\"\nb ::= a \"z\" | \"\""),
        &["!", "y!", "x!", "zy!", "zx!", "yx!", "zyxx!"],
        &["z!", "xy!"],
    );
    // Left recursion behind a regular expression that can be empty is refused.
    let (k, _, _, m) = error(lark("start: /x*/ start \"b\" | \"c\""));
    assert!(k == GrammarErrorKind::LeftRecursion && m.contains("regular expression"), "{m}");
}

#[test]
fn lark_basics() {
    let g = r#"
start: greeting NAME ("," NAME)* "!"?
greeting: "hello"i | "hi"
NAME: /[a-z]+/ | DIGIT ~ 2..3
%import common.DIGIT
%import common.WS
%ignore WS
"#;
    check(
        lark(g),
        &["hello bob", "HeLLo  bob , al!", "hi12", " hi 123 ! ", "hellobob"],
        &["hi 1", "hi bob,", "hi b ob!!", "hi 1234"],
    );
    // Terminals are matched as a unit: no ignored text inside them.
    check(lark("start: A B\nA: \"a\" \"b\"\nB: \"c\"\n%ignore \" \""), &["ab c", " abc "], &["a bc"]);
    // Ranges, optional brackets, repetition ~ n, regex flags, aliases, priorities.
    let g = r#"
?start: item+ -> items
item.2: LETTER ~ 2 ["-" DIGITS] | /x+/i
LETTER: "a".."c"
DIGITS.1: /[0-9]+/
"#;
    check(lark(g), &["ab", "ab-12ca", "XxX", "abxX"], &["a", "ab-", "d"]);
}

#[test]
fn lark_common_and_left_recursion() {
    let g = r#"
start: sum
?sum: sum "+" product | sum "-" product | product
?product: product "*" atom | atom
?atom: SIGNED_NUMBER | "(" sum ")"
%import common (SIGNED_NUMBER, WS_INLINE)
%ignore WS_INLINE
"#;
    check(lark(g), &["1", "1 + -2.5e3 * (3 - 4)", "(1)*(2)*3"], &["", "1 +", "(1", "1 2"]);
    check(
        lark("start: ESCAPED_STRING\n%import common.ESCAPED_STRING"),
        &[r#""a\"b""#, r#""""#],
        &[r#""a"b""#, "\"a\nb\""],
    );
    check(lark("start: C_COMMENT\n%import common.C_COMMENT"), &["/* a * b **/", "/**/"], &["/* a */ b */", "/*/"]);
    check(lark("start: X\n%import common.CNAME -> X"), &["_a1"], &["1a"]);
}

#[test]
fn lark_json_embedding() {
    let g = r#"
start: "call " NAME " " args
args: %json {"type": "object", "properties": {"n": {"type": "integer", "maximum": 9}}, "required": ["n"], "additionalProperties": false}
NAME: /[a-z]+/
"#;
    check(
        lark(g),
        &[r#"call f {"n": 3}"#, r#"call go {"n":-1}"#],
        &[r#"call f {"n": 10}"#, r#"call f {}"#, r#"call f {"n": 1, "m": 2}"#],
    );
    let (k, l, c, m) = error(lark("start: \"x\" j\nj: %json {\"type\": \"object\", \"minProperties\": \"x\"}"));
    assert_eq!((k, l, c), (GrammarErrorKind::Schema, 2, 4), "{m}");
    let (k, _, _, m) = error(lark("start: \"x\" j\nj: %json false"));
    assert_eq!(k, GrammarErrorKind::EmptyLanguage, "{m}");
    let (k, l, _, m) = error(lark("start: %json {\"type\": \"object\""));
    assert_eq!((k, l), (GrammarErrorKind::Syntax, 1), "{m}");
}

#[test]
fn lark_errors() {
    let (k, l, c, m) = error(lark("start: a\na: \"x\" (b | \n"));
    assert_eq!((k, l), (GrammarErrorKind::Syntax, 3), "{m} at {c}");
    let (k, l, c, m) = error(lark("start: A\nA: a\na: \"x\""));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 2, 4), "{m}");
    let (k, l, c, m) = error(lark("start: X\n%import common.NOPE -> X"));
    assert_eq!((k, l, c), (GrammarErrorKind::UndefinedRule, 2, 16), "{m}");
    let (k, l, c, m) = error(lark("start: \"a\"\n%import foo.BAR"));
    assert_eq!((k, l, c), (GrammarErrorKind::Unsupported, 2, 1), "{m}");
    assert!(m.contains("foo.BAR"), "{m}");
    let (k, _, _, m) = error(lark("start: /a\\b/"));
    assert_eq!(k, GrammarErrorKind::Unsupported, "{m}");
    let (k, l, c, m) = error(lark("start: \"a\" /(/"));
    assert_eq!((k, l, c), (GrammarErrorKind::Syntax, 1, 12), "{m}");
    let (k, _, _, m) = error(lark("start: sep{\"a\"}"));
    assert!(k == GrammarErrorKind::Unsupported && m.contains("template"), "{m}");
    let (k, _, _, m) = error(lark("start: A\nA: \"a\" A?"));
    assert!(k == GrammarErrorKind::Syntax && m.contains("recursive"), "{m}");
    let (k, l, c, m) = error(lark("start: item\nitem: \"a\"\nitem: \"b\""));
    assert_eq!((k, l, c), (GrammarErrorKind::DuplicateRule, 3, 1), "{m}");
    let (k, _, _, m) = error(lark("%declare FOO\nstart: \"a\""));
    assert!(k == GrammarErrorKind::Unsupported && m.contains("%declare"), "{m}");
    let (k, _, _, m) = error(lark("rule: \"a\""));
    assert!(k == GrammarErrorKind::UndefinedRule && m.contains("start"), "{m}");
}

#[test]
fn builtins_compile() {
    for b in crate::builtin::ALL {
        let g = build(&b.constraint());
        assert!(accepts(&g, b.example), "{}: example rejected", b.name);
    }
}

#[test]
fn ambiguous_grammars_stay_polynomial() {
    // Highly ambiguous (Catalan many parses) and left-recursive.
    let g = build(&gbnf("root ::= e\ne ::= e e | \"a\" | \"(\" e \")\""));
    let mut m = g.matcher();
    let text = "a".repeat(3000) + "(aa(a)a)" + &"a".repeat(3000);
    m.consume_bytes(text.as_bytes()).unwrap();
    assert!(m.is_accepting());
    assert!(m.consume_bytes(b")").is_err());
    let _ = m.compute_mask_vec();
    // The classic ambiguous expression grammar, over thousands of operators
    // (its configuration sets would otherwise grow with every operator).
    let g = build(&gbnf("root ::= e\ne ::= e \"+\" e | e \"*\" e | \"(\" e \")\" | [0-9]"));
    let mut m = g.matcher();
    let text = "1+2*3+(4*5+6)*".repeat(500) + "7";
    m.consume_bytes(text.as_bytes()).unwrap();
    assert!(m.is_accepting());
    assert!(m.consume_bytes(b")").is_err());
    // Ambiguous splits between overlapping terminals.
    check(lark("start: (A | B)+\nA: /a+/\nB: /a*b/"), &["aaa", "aab", "abab", "aaabaa", "b"], &["", "c", "abc"]);
}

#[test]
fn gbnf_idioms_from_llama_cpp_grammars() {
    // Written in the style of llama.cpp's example grammars: an empty first
    // alternative, escapes inside classes, bounded repetitions, groups that
    // span lines, comments after rules.
    let g = r#"
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws

object ::=
  "{" ws (
            string ":" ws value
    ("," ws string ":" ws value)*
  )? "}" ws

array  ::=
  "[" ws (
            value
    ("," ws value)*
  )? "]" ws

string ::=
  "\"" (
    [^"\\\x7F\x00-\x1F] |
    "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) # escapes
  )* "\"" ws

number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ([eE] [-+]? [0-9] [1-9]{0,15})? ws

# Optional space: by convention, applied in this grammar after literal chars when allowed
ws ::= | " " | "\n" [ \t]{0,20}
"#;
    check(
        gbnf(g),
        &[r#"{}"#, r#"{"a": [1, -2.5e3, "x\"y\u00e9"], "b": {"c": null} }"#, "{\n  \"k\": true\n}"],
        &[r#"{"a" 1}"#, r#"[]"#, "{\"a\":\t1}", r#"{"a": 01}"#],
    );
}

#[test]
fn lark_tutorial_style() {
    let g = r#"
?start: value

?value: object
      | array
      | string
      | SIGNED_NUMBER      -> number
      | "true"             -> true
      | "false"            -> false
      | "null"             -> null

array  : "[" [value ("," value)*] "]"
object : "{" [pair ("," pair)*] "}"
pair   : string ":" value

string : ESCAPED_STRING

%import common.ESCAPED_STRING
%import common.SIGNED_NUMBER
%ignore /[ \t\n\f\r]+/
"#;
    check(lark(g), &["[1, 2, {\"a\": true}]", " { \"k\" : [ ] } ", "-1.5"], &["[1,]", "{\"a\"}", "nul"]);
}

#[test]
fn crlf_line_endings() {
    check(gbnf("root ::= \"a\" b\r\n# comment\r\nb ::= [0-9]+ |\r\n  \"x\"\r\n"), &["a1", "ax"], &["a", "a\r"]);
    check(lark("start: \"a\" B\r\n  | \"c\"\r\nB: /[0-9]+/\r\n"), &["a12", "c"], &["a"]);
}
