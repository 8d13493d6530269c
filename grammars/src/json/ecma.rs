//! Translation of ECMA-262 regular expressions (JSON Schema `pattern`) into
//! the syntax of Rust's `regex-syntax`, keeping ECMA meaning: `\d`, `\w`
//! and `\s` are ECMA's classes, `.` excludes line terminators, `\uXXXX`
//! escapes (surrogate pairs included). Features without an exact automaton
//! (look-around, back-references, word boundaries) are errors.

const DIGIT: &str = "0-9";
const WORD: &str = "A-Za-z0-9_";
const SPACE: &str =
    "\\t\\n\\x0B\\x0C\\r \\x{A0}\\x{1680}\\x{2000}-\\x{200A}\\x{2028}\\x{2029}\\x{202F}\\x{205F}\\x{3000}\\x{FEFF}";

/// Whether `text` matches the ECMA-262 pattern `p` (search semantics, as
/// `pattern` and `patternProperties` use it). Compiled patterns are kept per
/// thread: an object checks each of its names against each of its patterns,
/// and building the regex for every pair was nearly all of the front end of
/// a schema with many names (80 ms).
pub fn is_match(p: &str, text: &str) -> Result<bool, String> {
    thread_local! {
        static COMPILED: std::cell::RefCell<std::collections::HashMap<String, Result<regex_automata::meta::Regex, String>>> =
            Default::default();
    }
    const MAX_COMPILED: usize = 256;
    COMPILED.with(|c| {
        let mut c = c.borrow_mut();
        if !c.contains_key(p) {
            if c.len() >= MAX_COMPILED {
                c.clear();
            }
            let re = translate(p).and_then(|t| regex_automata::meta::Regex::new(&t).map_err(|e| e.to_string()));
            c.insert(p.to_string(), re);
        }
        match &c[p] {
            Ok(re) => Ok(re.is_match(text)),
            Err(e) => Err(e.clone()),
        }
    })
}

/// Translate an ECMA-262 pattern.
pub fn translate(p: &str) -> Result<String, String> {
    let chars: Vec<char> = p.chars().collect();
    let mut out = String::with_capacity(p.len() + 8);
    let mut i = 0;
    let mut in_class = false;
    let mut class_start = false;
    while i < chars.len() {
        let c = chars[i];
        let at_class_start = class_start;
        class_start = false;
        match c {
            '\\' => {
                let Some(&e) = chars.get(i + 1) else {
                    return Err("pattern ends with a lone backslash".into());
                };
                i += 2;
                match e {
                    'd' | 'w' | 's' | 'D' | 'W' | 'S' => {
                        let set = match e.to_ascii_lowercase() {
                            'd' => DIGIT,
                            'w' => WORD,
                            _ => SPACE,
                        };
                        let neg = e.is_ascii_uppercase();
                        match (in_class, neg) {
                            (true, false) => out.push_str(set),
                            (true, true) => out.push_str(&format!("[^{set}]")),
                            (false, false) => out.push_str(&format!("[{set}]")),
                            (false, true) => out.push_str(&format!("[^{set}]")),
                        }
                    }
                    'b' if in_class => out.push_str("\\x08"),
                    'b' | 'B' => return Err("word-boundary assertions (\\b, \\B) are not supported".into()),
                    '1'..='9' => return Err("back-references are not supported".into()),
                    '0' => out.push_str("\\x00"),
                    'u' => {
                        if chars.get(i) == Some(&'{') {
                            let end = chars[i..].iter().position(|&c| c == '}').ok_or("unterminated \\u{")?;
                            let hex: String = chars[i + 1..i + end].iter().collect();
                            out.push_str(&format!("\\x{{{hex}}}"));
                            i += end + 1;
                        } else {
                            let cp = hex4(&chars, i)?;
                            i += 4;
                            let mut cp = cp;
                            if (0xD800..0xDC00).contains(&cp)
                                && chars.get(i) == Some(&'\\')
                                && chars.get(i + 1) == Some(&'u')
                            {
                                let lo = hex4(&chars, i + 2)?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                                    i += 6;
                                }
                            }
                            if (0xD800..0xE000).contains(&cp) {
                                return Err("lone surrogate in pattern".into());
                            }
                            out.push_str(&format!("\\x{{{cp:X}}}"));
                        }
                    }
                    'c' => {
                        let l = chars.get(i).ok_or("\\c at the end of the pattern")?;
                        out.push_str(&format!("\\x{:02X}", (*l as u32) % 32));
                        i += 1;
                    }
                    // Unicode property escapes (`\p{Letter}`, `\p{Script=Greek}`), as in unicode mode.
                    'p' | 'P' if chars.get(i) == Some(&'{') => {
                        let end = chars[i..].iter().position(|&c| c == '}').ok_or("unterminated \\p{")?;
                        let name: String = chars[i + 1..i + end].iter().collect();
                        if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '=') {
                            return Err(format!("unicode property {name:?}"));
                        }
                        out.push('\\');
                        out.push(e);
                        out.push_str(&format!("{{{name}}}"));
                        i += end + 1;
                    }
                    'x' | 'p' | 'P' | 'n' | 'r' | 't' | 'f' | 'v' => {
                        if e == 'v' {
                            out.push_str("\\x0B");
                        } else {
                            out.push('\\');
                            out.push(e);
                        }
                    }
                    e if e.is_ascii_alphanumeric() => out.push(e), // identity escape
                    e => {
                        out.push('\\');
                        out.push(e);
                    }
                }
                continue;
            }
            '[' if !in_class => {
                in_class = true;
                class_start = true;
                out.push('[');
                if chars.get(i + 1) == Some(&'^') {
                    out.push('^');
                    i += 1;
                }
                if chars.get(i + 1) == Some(&']') {
                    // `[]` matches nothing and `[^]` anything in ECMA.
                    let negated = out.ends_with('^');
                    out.truncate(out.len() - if negated { 2 } else { 1 });
                    out.push_str(if negated { "(?s:.)" } else { "[^\\x00-\\x{10FFFF}]" });
                    in_class = false;
                    i += 2;
                    continue;
                }
            }
            '[' => out.push_str("\\["),
            ']' if in_class && !at_class_start => {
                in_class = false;
                out.push(']');
            }
            '&' | '~' if in_class => {
                out.push('\\');
                out.push(c);
            }
            '-' if in_class && chars.get(i + 1) == Some(&'-') => out.push_str("\\-"),
            '.' if !in_class => out.push_str("[^\\n\\r\\x{2028}\\x{2029}]"),
            '(' if !in_class && chars.get(i + 1) == Some(&'?') => {
                let rest: String = chars[i + 2..chars.len().min(i + 4)].iter().collect();
                if rest.starts_with('=') || rest.starts_with('!') || rest.starts_with("<=") || rest.starts_with("<!") {
                    return Err("look-around assertions are not supported".into());
                }
                out.push('(');
            }
            '{' if !in_class => {
                // A quantifier `{n}`, `{n,}` or `{n,m}`; anything else is a literal brace.
                let rest: String = chars[i..].iter().collect();
                let is_quant = rest
                    .find('}')
                    .map(|end| {
                        let inner = &rest[1..end];
                        !inner.is_empty()
                            && inner.chars().all(|c| c.is_ascii_digit() || c == ',')
                            && inner.chars().next().is_some_and(|c| c.is_ascii_digit())
                            && inner.matches(',').count() <= 1
                    })
                    .unwrap_or(false);
                out.push_str(if is_quant { "{" } else { "\\{" });
            }
            '}' if !in_class => {
                // Closing brace of a quantifier, or a literal one.
                let open = out.rfind('{');
                let closes_quantifier = open.is_some_and(|o| {
                    !out[..o].ends_with('\\') && out[o + 1..].chars().all(|c| c.is_ascii_digit() || c == ',')
                });
                out.push_str(if closes_quantifier { "}" } else { "\\}" });
            }
            _ => out.push(c),
        }
        i += 1;
    }
    Ok(out)
}

fn hex4(chars: &[char], at: usize) -> Result<u32, String> {
    let s: String = chars.get(at..at + 4).ok_or("truncated \\u escape")?.iter().collect();
    u32::from_str_radix(&s, 16).map_err(|_| format!("bad \\u escape {s:?}"))
}

#[cfg(test)]
mod tests {
    use super::translate;

    fn full(p: &str, s: &str) -> bool {
        let t = translate(p).unwrap();
        let re = regex_automata::meta::Regex::new(&t).unwrap();
        re.is_match(s)
    }

    #[test]
    fn ecma_semantics() {
        assert!(full(r"^\d+$", "123") && !full(r"^\d+$", "١٢٣"), "\\d is ASCII");
        assert!(full(r"^\w+$", "a_1") && !full(r"^\w+$", "é"));
        assert!(full(r"^[\d.]+$", "1.5"));
        assert!(full(r"^a.c$", "abc") && !full(r"^a.c$", "a\rc"));
        assert!(full(r"^\u00e9\uD83D\uDE00$", "é😀"));
        assert!(full(r"^a{2}$", "aa") && full(r"^a{$", "a{") && full(r"^x{a}$", "x{a}"));
        assert!(full(r"^\/path$", "/path"));
        assert!(full(r"^[^]$", "z") && !full(r"^a[]$", "a"));
        assert!(translate(r"(?=a)b").is_err());
        assert!(translate(r"(a)\1").is_err());
        assert!(translate(r"\bword").is_err());
    }
}
