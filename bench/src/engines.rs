//! The engines a benchmark can drive: sluicegate and, for comparison in the
//! same run, llguidance (the `llguidance` crate with its default JSON
//! options) on the very same token bytes.

use std::sync::Arc;

use serde_json::Value;
use sluicegate_core::{CompileOptions, CompiledGrammar, TokenKind, Vocabulary};
use sluicegate_grammars::json::JsonSchemaOptions;
use sluicegate_grammars::{compile, Constraint};

/// A JSON Schema engine.
pub trait Engine {
    /// Name in reports.
    fn name(&self) -> &'static str;
    /// Version in reports.
    fn version(&self) -> String;
    /// Compile a schema; the error text on failure.
    fn compile(&self, schema: &Value) -> Result<Box<dyn Compiled>, String>;
}

/// A compiled schema.
pub trait Compiled {
    /// A fresh matcher.
    fn matcher(&self) -> Box<dyn EngineMatcher>;
}

/// A per-sequence matcher.
pub trait EngineMatcher {
    /// Compute the mask; return whether `token` is allowed by it.
    fn mask_allows(&mut self, token: u32) -> Result<bool, String>;
    /// Consume `token`.
    fn consume(&mut self, token: u32) -> Result<(), String>;
    /// Whether the output so far is complete.
    fn accepting(&mut self) -> bool;
    /// The allowed tokens (for random walks).
    fn allowed(&mut self) -> Result<Vec<u32>, String>;
}

/// sluicegate with default options.
pub struct Sluicegate {
    vocab: Arc<Vocabulary>,
    cold: bool,
    json: JsonSchemaOptions,
}

impl Sluicegate {
    /// An engine over `vocab`. Automata built for one schema are shared with
    /// the next ones (`sluicegate_core::shared`), as in a long-running server.
    pub fn new(vocab: Arc<Vocabulary>) -> Self {
        Sluicegate { vocab, cold: false, json: JsonSchemaOptions::default() }
    }

    /// The same, but every schema starts with no shared automata: each
    /// compilation is measured as if it were the process's first.
    pub fn cold(vocab: Arc<Vocabulary>) -> Self {
        Sluicegate { vocab, cold: true, json: JsonSchemaOptions::default() }
    }
}

struct SgCompiled(Arc<CompiledGrammar>);

struct SgMatcher {
    m: sluicegate_core::Matcher,
    mask: Vec<u32>,
}

impl Sluicegate {
    /// The same engine with other JSON Schema options.
    pub fn with_json_options(self, json: JsonSchemaOptions) -> Self {
        Sluicegate { json, ..self }
    }
}

impl Engine for Sluicegate {
    fn name(&self) -> &'static str {
        "sluicegate"
    }
    fn version(&self) -> String {
        env!("CARGO_PKG_VERSION").to_string()
    }
    fn compile(&self, schema: &Value) -> Result<Box<dyn Compiled>, String> {
        if self.cold {
            sluicegate_core::shared::clear_shared_automata();
        }
        let c = Constraint::JsonSchema(schema.clone(), self.json.clone());
        let g = compile(&c, self.vocab.clone(), &CompileOptions::default()).map_err(|e| e.to_string())?;
        Ok(Box::new(SgCompiled(g)))
    }
}

impl Compiled for SgCompiled {
    fn matcher(&self) -> Box<dyn EngineMatcher> {
        let mask = vec![0; self.0.vocab().mask_words()];
        Box::new(SgMatcher { m: self.0.matcher(), mask })
    }
}

impl EngineMatcher for SgMatcher {
    fn mask_allows(&mut self, token: u32) -> Result<bool, String> {
        self.m.compute_mask(&mut self.mask).map_err(|e| e.to_string())?;
        Ok(self.mask.get((token >> 5) as usize).is_some_and(|w| w >> (token & 31) & 1 == 1))
    }
    fn consume(&mut self, token: u32) -> Result<(), String> {
        self.m.consume_token(token).map_err(|e| e.to_string())
    }
    fn accepting(&mut self) -> bool {
        self.m.is_accepting()
    }
    fn allowed(&mut self) -> Result<Vec<u32>, String> {
        self.m.compute_mask(&mut self.mask).map_err(|e| e.to_string())?;
        Ok(bits(&self.mask))
    }
}

fn bits(mask: &[u32]) -> Vec<u32> {
    let mut out = Vec::new();
    for (i, &w) in mask.iter().enumerate() {
        let mut w = w;
        while w != 0 {
            let b = w.trailing_zeros();
            out.push(i as u32 * 32 + b);
            w &= w - 1;
        }
    }
    out
}

/// llguidance, given the same token bytes as sluicegate.
pub struct Llguidance {
    factory: llguidance::ParserFactory,
}

impl Llguidance {
    /// Build llguidance's token environment from a sluicegate vocabulary.
    pub fn new(vocab: &Vocabulary) -> Result<Self, String> {
        let eos = *vocab.eos_tokens().first().ok_or("the vocabulary has no EOS token")?;
        let words: Vec<Vec<u8>> = (0..vocab.mask_width() as u32)
            .map(|t| match vocab.kind(t) {
                TokenKind::Text => vocab.token_bytes(t).to_vec(),
                _ => {
                    let mut w = vec![toktrie::TokTrie::SPECIAL_TOKEN_MARKER];
                    w.extend_from_slice(vocab.token_bytes(t));
                    if w.len() == 1 {
                        w.extend_from_slice(format!("<unusable_{t}>").as_bytes());
                    }
                    w
                }
            })
            .collect();
        let info = toktrie::TokRxInfo::new(vocab.mask_width() as u32, eos);
        let trie = toktrie::TokTrie::from(&info, &words);
        let env: toktrie::TokEnv = Arc::new(toktrie::ApproximateTokEnv::new(trie));
        let mut factory = llguidance::ParserFactory::new_simple(&env).map_err(|e| e.to_string())?;
        factory.quiet();
        Ok(Llguidance { factory })
    }
}

struct LlgCompiled(llguidance::Matcher);

struct LlgMatcher(llguidance::Matcher);

impl Engine for Llguidance {
    fn name(&self) -> &'static str {
        "llguidance"
    }
    fn version(&self) -> String {
        "1.9".to_string()
    }
    fn compile(&self, schema: &Value) -> Result<Box<dyn Compiled>, String> {
        let grammar = llguidance::api::TopLevelGrammar::from_json_schema(schema.clone());
        let parser = self.factory.create_parser(grammar).map_err(|e| e.to_string())?;
        let m = llguidance::Matcher::new(Ok(parser));
        if let Some(e) = m.get_error() {
            return Err(e);
        }
        Ok(Box::new(LlgCompiled(m)))
    }
}

impl Compiled for LlgCompiled {
    fn matcher(&self) -> Box<dyn EngineMatcher> {
        Box::new(LlgMatcher(self.0.deep_clone()))
    }
}

impl EngineMatcher for LlgMatcher {
    fn mask_allows(&mut self, token: u32) -> Result<bool, String> {
        let mask = self.0.compute_mask().map_err(|e| e.to_string())?;
        Ok((token as usize) < mask.len() && mask.is_allowed(token))
    }
    fn consume(&mut self, token: u32) -> Result<(), String> {
        self.0.consume_token(token).map_err(|e| e.to_string())
    }
    fn accepting(&mut self) -> bool {
        self.0.is_accepting().unwrap_or(false)
    }
    fn allowed(&mut self) -> Result<Vec<u32>, String> {
        let mask = self.0.compute_mask().map_err(|e| e.to_string())?;
        Ok(bits(mask.as_slice()))
    }
}
