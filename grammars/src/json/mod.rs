//! JSON Schema → grammar IR.
//!
//! Exact or error: every assertion keyword is either enforced exactly by the
//! grammar or reported as a [`CompileError::Schema`] naming the keyword and
//! the JSON pointer of its schema. With `lenient`, such keywords are dropped
//! instead and listed in [`JsonGrammar::dropped`].
//!
//! Structure: objects and arrays become separate rules entered by calls
//! (small automata, recursion for free); strings, numbers and literals are
//! regular lexemes inlined into their parent. `$ref` targets are rules keyed
//! by their resolved pointer, so recursive schemas are recursive grammars,
//! never unrolled.

mod check;
mod drafts;
mod ecma;
mod layout;
mod members;
mod merge;
mod negate;
pub mod number;
mod refs;
pub mod string;
mod unique;

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use regex_syntax::hir::Hir;
use serde_json::{Map, Value};
use sluicegate_core::limits::{self, Limit};
use sluicegate_core::{CompileError, Expr, Grammar, Rule, RuleId};

use drafts::Draft;
use layout::Items;
use members::MemberSets;
use number::Bound;
use refs::Resolver;

/// Whitespace the grammar allows between JSON tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Whitespace {
    /// Any of space, tab, newline, carriage return between two tokens, as
    /// the JSON grammar allows: accepts `json.dumps` output (`", "`, `": "`)
    /// and indented JSON at any depth.
    Flexible {
        /// Longest whitespace run between two tokens; `None` (the default)
        /// for any length. A bound keeps a generation loop that samples
        /// freely from looping on whitespace, but costs automaton states:
        /// every place whitespace may appear counts its run (the automata of
        /// a typical schema have about twice the states with a bound of 20),
        /// and it refuses JSON indented deeper than the bound.
        max_run: Option<u32>,
    },
    /// No whitespace at all.
    Compact,
    /// Exactly what `json.dumps(value, indent=width)` writes (and, for
    /// width 2, `serde_json::to_string_pretty`): each item and each
    /// closing bracket of a non-empty container on a new line indented by
    /// `width` spaces per nesting level, `", "` never, `": "` after names,
    /// `[]` and `{}` when empty. Schemas whose values can nest to any depth
    /// (recursive `$ref`, unconstrained values) are refused.
    Indent {
        /// Spaces per nesting level.
        width: u32,
    },
}

/// What `additionalProperties` means when a schema does not say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdditionalProperties {
    /// As the specification says: any extra property is allowed.
    Spec,
    /// Extra properties are forbidden unless the schema allows them.
    Forbid,
}

/// Options for compiling a JSON Schema.
#[derive(Debug, Clone)]
pub struct JsonSchemaOptions {
    /// Default for absent `additionalProperties`.
    pub additional_properties: AdditionalProperties,
    /// Whitespace between tokens.
    pub whitespace: Whitespace,
    /// Drop keywords that cannot be enforced exactly (listed in the result)
    /// instead of failing.
    pub lenient: bool,
    /// Integers are written without a fraction part. JSON Schema (since
    /// draft 6) counts `2.0` as an integer, but typed readers (serde, most
    /// languages) do not, and a model that starts a fraction can then only
    /// write zeros. Generation wants this on; validation of existing
    /// documents wants it off (the default).
    pub integers_without_fraction: bool,
    /// Objects with at most this many possible declared properties accept
    /// them in any order (each at most once, required ones tracked): one
    /// small called automaton per set of properties seen so far, so the cost
    /// doubles with each property. Larger objects take their declared
    /// properties in schema order (extra members may still appear anywhere).
    /// 0 keeps schema order everywhere.
    pub any_order_max: usize,
}

impl Default for JsonSchemaOptions {
    fn default() -> Self {
        JsonSchemaOptions {
            additional_properties: AdditionalProperties::Spec,
            whitespace: Whitespace::Flexible { max_run: None },
            lenient: false,
            integers_without_fraction: false,
            any_order_max: DEFAULT_ANY_ORDER_MAX,
        }
    }
}

/// A keyword dropped in lenient mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dropped {
    /// JSON pointer of the schema holding the keyword.
    pub pointer: String,
    /// The keyword.
    pub keyword: String,
    /// Why it could not be enforced.
    pub reason: String,
}

/// The grammar for a schema, and what lenient mode dropped.
#[derive(Debug, Clone)]
pub struct JsonGrammar {
    /// The grammar IR.
    pub grammar: Grammar,
    /// Keywords dropped (always empty unless `lenient`).
    pub dropped: Vec<Dropped>,
}

/// Keywords that assert something about an instance.
pub(crate) fn is_assertion(k: &str) -> bool {
    matches!(
        k,
        "type"
            | "enum"
            | "const"
            | "properties"
            | "required"
            | "additionalProperties"
            | "patternProperties"
            | "propertyNames"
            | "minProperties"
            | "maxProperties"
            | "dependentRequired"
            | "dependentSchemas"
            | "dependencies"
            | "items"
            | "prefixItems"
            | "additionalItems"
            | "minItems"
            | "maxItems"
            | "uniqueItems"
            | "contains"
            | "minContains"
            | "maxContains"
            | "minLength"
            | "maxLength"
            | "pattern"
            | "format"
            | "minimum"
            | "maximum"
            | "exclusiveMinimum"
            | "exclusiveMaximum"
            | "multipleOf"
            | "allOf"
            | "anyOf"
            | "oneOf"
            | "not"
            | "if"
            | "then"
            | "else"
            | "$ref"
            | "$dynamicRef"
            | "$recursiveRef"
            | "unevaluatedProperties"
            | "unevaluatedItems"
    )
}

/// Keywords never read from a schema object being compiled: definitions
/// (references resolve against the whole document) and annotations.
const UNREAD_KEYWORDS: &[&str] =
    &["$defs", "definitions", "description", "title", "examples", "default", "$comment", "deprecated"];

/// A copy of a schema object to compile, without [`UNREAD_KEYWORDS`]: the
/// root of a large schema holds every definition, and each object copied
/// them all (a fifth of the front end on the slowest MaskBench schemas).
fn keywords(m: &Map<String, Value>) -> Map<String, Value> {
    m.iter().filter(|(k, _)| !UNREAD_KEYWORDS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect()
}

pub(crate) fn number_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        _ => None,
    }
}

/// Parse schema text (UTF-8 JSON) into a value, with the position of any error.
pub fn parse_schema(text: &[u8]) -> Result<Value, CompileError> {
    serde_json::from_slice(text).map_err(|e| {
        let message = e.to_string();
        // serde_json appends " at line L column C"; the fields carry it.
        let message = message.split(" at line ").next().unwrap_or(&message).to_string();
        CompileError::SchemaText { line: e.line(), column: e.column(), message }
    })
}

/// Compile a JSON Schema into the grammar IR.
pub fn grammar(schema: &Value, opts: &JsonSchemaOptions) -> Result<JsonGrammar, CompileError> {
    let draft = Draft::declared_by(schema);
    let read = drafts::as_read_by(schema, draft);
    let schema = read.as_ref().unwrap_or(schema);
    let resolver = Resolver::new(schema);
    let mut b = Builder {
        resolver,
        opts,
        rules: Vec::new(),
        ref_rules: HashMap::new(),
        any_rule: None,
        chunk_rule: None,
        called_rules: Vec::new(),
        dropped: Vec::new(),
        draft,
        level: 0,
        refs_in_progress: HashSet::new(),
        member_states_left: GRAMMAR_MEMBER_STATE_LIMIT,
        member_set_objects: HashMap::new(),
    };
    let start = b.add_rule("root", None, true);
    let base = b.resolver.base_at("#");
    let body = b.schema(schema, "#", &base, 0)?;
    b.rules[start].body = body;
    Ok(JsonGrammar { grammar: Grammar { rules: b.rules, start }, dropped: b.dropped })
}

/// `enum` (and `const`, which becomes a one-value `enum`) within the active
/// [`limits::Limits`]: a literal set is lowered value by value and checked
/// against the rest of its schema, so its size is the compile cost.
fn check_literal_size(values: &[Value], ptr: &str) -> Result<(), CompileError> {
    let active = limits::active();
    let what = format!("values of the enum at {ptr}");
    limits::check_count(Limit::EnumValues, values.len(), active.max_enum_values, &what)?;
    let bytes: usize = values.iter().map(|v| v.to_string().len()).sum();
    let what = format!("bytes of the enum/const at {ptr}");
    limits::check_count(Limit::LiteralBytes, bytes, active.max_literal_bytes, &what)
}

/// Whether a schema's `type` keyword leaves room for values of type `t`
/// (`"integer"` is a kind of `"number"`). True when there is no `type`, or
/// when it is not a list of known type names (the merge then decides, and
/// reports what is wrong).
fn declared_types_admit(declared: Option<&Value>, t: &str) -> bool {
    let admits = |v: &Value| match v.as_str() {
        Some(s) if ALL_TYPES.contains(&s) || s == "integer" => Some(s == t || (t == "number" && s == "integer")),
        _ => None,
    };
    match declared {
        Some(v @ Value::String(_)) => admits(v).unwrap_or(true),
        Some(Value::Array(list)) => {
            let known: Option<Vec<bool>> = list.iter().map(admits).collect();
            known.is_none_or(|k| k.contains(&true))
        }
        _ => true,
    }
}

fn err(ptr: &str, keyword: &str, message: impl Into<String>) -> CompileError {
    CompileError::Schema { pointer: ptr.to_string(), keyword: keyword.to_string(), message: message.into() }
}

fn lit(s: &str) -> Expr {
    Expr::literal(s)
}

fn re(pattern: &str) -> Expr {
    Expr::Regular(string::parse_shared(pattern).expect("built-in regex is valid"))
}

fn seq(items: Vec<Expr>) -> Expr {
    Expr::Seq(items)
}

fn opt(e: Expr) -> Expr {
    Expr::Repeat { expr: Box::new(e), min: 0, max: Some(1) }
}

fn star(e: Expr) -> Expr {
    Expr::Repeat { expr: Box::new(e), min: 0, max: None }
}

/// Default for [`JsonSchemaOptions::any_order_max`].
pub const DEFAULT_ANY_ORDER_MAX: usize = 12;
/// Most member-set automata one object may use (any order, counted members).
const OBJECT_STATE_LIMIT: usize = 4096;
/// Objects with more declared members than this (taken in schema order)
/// are built in blocks ([`Builder::blocked_members`]): every object taken
/// in schema order by default (`any_order_max` is 12).
const BLOCKED_MEMBERS_MIN: usize = 12;
/// Declared members per block: a block's automaton grows with the square of
/// its members (objects of 13 to 24 members in one automaton were half the
/// automata time of the MaskBench schemas around TTFM p99; blocks of 6 from
/// 13 members halved that time).
const MEMBER_BLOCK: usize = 6;
/// Blocks of an object entered at its `{` (every earlier member optional)
/// from which they are built at compile time ([`sluicegate_core::ir::Rule::eager`]):
/// each block's automaton takes 0.2 to 0.4 ms, and the 43 blocks of a
/// 258-member object built inside its first mask took 14 to 18 ms.
const EAGER_BLOCKS_MIN: usize = 8;
/// Member values of blocked objects up to this many bytes stay inline
/// ([`Builder::called_value`]).
const SHORT_VALUE_BYTES: usize = 8;
/// Most member-set states one schema may use: each state entered becomes a
/// rule, calls are numbered in 14 bits (`sluicegate_core::dfa::MAX_CALLED_RULES`),
/// and the rest of the schema needs rules too.
const GRAMMAR_MEMBER_STATE_LIMIT: usize = 8192 + SMALL_OBJECT_RESERVE;
/// Objects with at most this many member-set states (four optional members)
/// may use the last [`SMALL_OBJECT_RESERVE`] of the schema's member-set
/// states; larger objects may not. Without it, a schema whose large objects
/// spent the budget took even its two-member objects in schema order, and
/// refused valid instances that wrote them in another order.
const SMALL_OBJECT_STATES: usize = 16;
const SMALL_OBJECT_RESERVE: usize = 1024;

/// Longest string length counted by a single automaton.
const LENGTH_COUNT_LIMIT: u64 = 1024;
/// String bodies at least this heavy ([`string::weight`]) are called rules
/// rather than inlined ([`Builder::called_if_heavy`]).
const HEAVY_STRING_WEIGHT: u64 = 256;
/// Characters per called chunk when counting longer lengths.
const LENGTH_CHUNK: u64 = 256;

const ALL_TYPES: &[&str] = &["null", "boolean", "object", "array", "number", "string"];
/// A JSON number that parsers read as a finite double: at most 30 integer
/// digits and a two-digit exponent (larger ones overflow to infinity or fail).
const NUMBER: &str = r"-?(?:0|[1-9][0-9]{0,29})(?:\.[0-9]+)?(?:[eE][+-]?[0-9]{1,2})?";

struct Builder<'a> {
    resolver: Resolver<'a>,
    opts: &'a JsonSchemaOptions,
    rules: Vec<Rule>,
    ref_rules: HashMap<String, RuleId>,
    any_rule: Option<RuleId>,
    chunk_rule: Option<RuleId>,
    /// Rules made to call an expression (heavy strings, the member values of
    /// large objects), one per distinct expression ([`Builder::call`]).
    called_rules: Vec<(Expr, RuleId)>,
    dropped: Vec<Dropped>,
    /// The draft the schema declares (its other keywords are already read as that draft
    /// reads them; in draft 4, and 3, integers have no fraction part).
    draft: Draft,
    /// Nesting level of the values being compiled (the root is 0); only
    /// indented whitespace depends on it.
    level: u32,
    /// `$ref` targets whose rule is being built.
    refs_in_progress: HashSet<String>,
    /// Member-set states the rest of the schema may still use
    /// ([`GRAMMAR_MEMBER_STATE_LIMIT`]); an object that would need more takes
    /// its members in schema order.
    member_states_left: usize,
    /// Objects built in any order, for identical objects to share their
    /// member-set rules ([`Builder::member_sets`]).
    member_set_objects: HashMap<u64, Vec<members::MemberSetObject>>,
}

/// One object member slot, in schema order.
#[derive(Clone, PartialEq, Eq)]
struct Member {
    /// The quoted name.
    key: Expr,
    value: Expr,
    required: bool,
}

impl<'a> Builder<'a> {
    fn add_rule(&mut self, name: &str, body: Option<Expr>, inline: bool) -> RuleId {
        self.rules.push(Rule { inline, ..Rule::new(name, body.unwrap_or(Expr::Seq(vec![]))) });
        self.rules.len() - 1
    }

    /// A keyword that cannot be enforced: an error, or (lenient) a note.
    fn unsupported(&mut self, ptr: &str, keyword: &str, reason: impl Into<String>) -> Result<(), CompileError> {
        let reason = reason.into();
        if self.opts.lenient {
            self.dropped.push(Dropped { pointer: ptr.into(), keyword: keyword.into(), reason });
            Ok(())
        } else {
            Err(err(ptr, keyword, reason))
        }
    }

    /// Any JSON value. Scalars are inlined where they are used; objects and
    /// arrays share one recursive rule, so a return from it happens only
    /// after a closing bracket, never inside a string or a number.
    fn any(&mut self, ptr: &str) -> Result<Expr, CompileError> {
        self.bounded_depth(ptr, "schema", "an unconstrained value nests arrays and objects to any depth")?;
        let container = match self.any_rule {
            Some(r) => r,
            None => {
                let r = self.add_rule("any-container", None, false);
                self.any_rule = Some(r);
                let value = self.any_value(r);
                let string = self.string_expr(Expr::Regular(string::any_body_shared()));
                let member = seq(vec![string, self.colon(), value.clone()]);
                let object = self.list("{", "}", member);
                let array = self.list("[", "]", value);
                self.rules[r].body = Expr::Alt(vec![object, array]);
                r
            }
        };
        Ok(self.any_value(container))
    }

    /// `open`, any number of `item`s separated by commas, `close`.
    fn list(&self, open: &str, close: &str, item: Expr) -> Expr {
        let items = seq(vec![item.clone(), star(seq(vec![self.comma(), item]))]);
        self.container(open, close, Items::optional(items))
    }

    fn any_value(&self, container: RuleId) -> Expr {
        Expr::Alt(vec![
            self.string_expr(Expr::Regular(string::any_body_shared())),
            re(NUMBER),
            lit("true"),
            lit("false"),
            lit("null"),
            Expr::Rule(container),
        ])
    }

    fn string_expr(&self, body: Expr) -> Expr {
        seq(vec![lit("\""), body, lit("\"")])
    }

    /// Compile any schema value found at `ptr`.
    fn schema(&mut self, s: &Value, ptr: &str, base: &str, depth: usize) -> Result<Expr, CompileError> {
        if depth > 200 {
            return Err(err(ptr, "$ref", "schema nesting is too deep"));
        }
        limits::check_time()?;
        match s {
            Value::Bool(true) => self.any(ptr),
            Value::Bool(false) => Err(CompileError::Empty),
            Value::Object(m) => {
                let base = match m.get("$id").and_then(Value::as_str) {
                    Some(_) => self.resolver.base_at(ptr),
                    None => base.to_string(),
                };
                let only_ref = m.contains_key("$ref") && m.keys().filter(|k| is_assertion(k)).count() == 1;
                if only_ref {
                    return self.reference(m, ptr, &base, depth);
                }
                if m.contains_key("$ref") || m.contains_key("allOf") {
                    let flat = self.flatten(s, ptr, &base, 0)?;
                    return self.object_schema(flat, ptr, &base, depth);
                }
                if m.contains_key("$dynamicRef") || m.contains_key("$recursiveRef") {
                    self.unsupported(ptr, "$dynamicRef", "dynamic references are not supported")?;
                }
                self.object_schema(keywords(m), ptr, &base, depth)
            }
            _ => Err(err(ptr, "schema", "a schema must be an object or a boolean")),
        }
    }

    /// A schema that is only a `$ref`: a rule, shared by every use.
    fn reference(&mut self, m: &Map<String, Value>, ptr: &str, base: &str, depth: usize) -> Result<Expr, CompileError> {
        let reference = m["$ref"].as_str().ok_or_else(|| err(ptr, "$ref", "must be a string"))?;
        let (target_ptr, target_base, target) =
            self.resolver.resolve(base, reference).map_err(|e| err(ptr, "$ref", e))?;
        // Indented, the same target nested deeper is written differently:
        // one rule per level, and recursion that nests deeper is refused.
        let key = match self.opts.whitespace {
            Whitespace::Indent { .. } => format!("{target_ptr}@{}", self.level),
            _ => target_ptr.clone(),
        };
        if let Some(&r) = self.ref_rules.get(&key) {
            return Ok(Expr::Rule(r));
        }
        if self.refs_in_progress.contains(&target_ptr) {
            let why = format!("{target_ptr:?} refers to itself one level deeper each time");
            self.bounded_depth(ptr, "$ref", &why)?;
        }
        let r = self.add_rule(&target_ptr, None, true);
        self.ref_rules.insert(key, r);
        let fresh = self.refs_in_progress.insert(target_ptr.clone());
        let body = self.schema(target, &target_ptr, &target_base, depth + 1);
        if fresh {
            self.refs_in_progress.remove(&target_ptr);
        }
        self.rules[r].body = body?;
        Ok(Expr::Rule(r))
    }

    /// Resolve `$ref` and `allOf` into one merged schema object.
    fn flatten(&mut self, s: &Value, ptr: &str, base: &str, depth: usize) -> Result<Map<String, Value>, CompileError> {
        if depth > 32 {
            return Err(err(ptr, "allOf", "recursive $ref/allOf chain cannot be merged"));
        }
        // Merging `allOf`/`$ref` chains can run long without reaching `schema`
        // (seen on a JsonSchemaStore schema): check the budget here too.
        limits::check_time()?;
        let mut m = match s {
            Value::Bool(true) => return Ok(Map::new()),
            Value::Bool(false) => {
                let mut m = Map::new();
                m.insert("type".into(), Value::Array(vec![]));
                return Ok(m);
            }
            Value::Object(m) => keywords(m),
            _ => return Err(err(ptr, "schema", "a schema must be an object or a boolean")),
        };
        let mut parts = Vec::new();
        if let Some(r) = m.remove("$ref") {
            let reference = r.as_str().ok_or_else(|| err(ptr, "$ref", "must be a string"))?;
            let (tp, tb, target) = self.resolver.resolve(base, reference).map_err(|e| err(ptr, "$ref", e))?;
            parts.push(self.flatten(target, &tp, &tb, depth + 1)?);
        }
        if let Some(all) = m.remove("allOf") {
            let items = all.as_array().ok_or_else(|| err(ptr, "allOf", "must be an array"))?;
            for (i, item) in items.iter().enumerate() {
                parts.push(self.flatten(item, &format!("{ptr}/allOf/{i}"), base, depth + 1)?);
            }
        }
        let mut acc = merge::normalize(m);
        let has_unevaluated = acc.contains_key("unevaluatedProperties") || acc.contains_key("unevaluatedItems");
        if has_unevaluated && (acc.contains_key("anyOf") || acc.contains_key("oneOf")) && !parts.is_empty() {
            return Err(err(
                ptr,
                "unevaluatedProperties",
                "unevaluated* beside anyOf/oneOf and allOf/$ref is not supported",
            ));
        }
        for p in parts {
            acc = merge::merge(acc, merge::normalize(p)).map_err(|e| err(ptr, "allOf", e))?;
        }
        // Merging may introduce new allOf wrappers (in sub-schemas only) and anyOf lists.
        if acc.contains_key("anyOf") || acc.contains_key("oneOf") {
            // Branches are merged with this object later; unevaluated* resolve there.
            return Ok(acc);
        }
        merge::resolve_unevaluated(acc).map_err(|e| err(ptr, "unevaluatedProperties", e))
    }

    /// Compile a schema object that has no `$ref`/`allOf` at its top.
    fn object_schema(
        &mut self,
        m: Map<String, Value>,
        ptr: &str,
        base: &str,
        depth: usize,
    ) -> Result<Expr, CompileError> {
        if depth > 200 {
            return Err(err(ptr, "allOf", format!("schema nesting is too deep ({:?})", m.keys().collect::<Vec<_>>())));
        }
        let mut m = merge::normalize(m);
        for k in ["$dynamicRef", "$recursiveRef"] {
            if m.remove(k).is_some() {
                self.unsupported(ptr, k, "dynamic references are not supported")?;
            }
        }
        // anyOf / oneOf: each branch merged with the siblings.
        for key in ["anyOf", "oneOf"] {
            if let Some(list) = m.remove(key) {
                if key == "oneOf" {
                    if let Some(next) = merge::next_pending(&mut m, "x-sluicegate-oneOf") {
                        m.insert("oneOf".into(), next);
                    }
                }
                let items = list.as_array().ok_or_else(|| err(ptr, key, "must be an array"))?.clone();
                if items.is_empty() {
                    return Err(err(ptr, key, "must not be empty"));
                }
                // Without sibling assertions, branches compile on their own,
                // so a `$ref` in a branch stays a (possibly recursive) rule.
                let plain = !m.keys().any(|k| is_assertion(k));
                if plain && (key == "anyOf" || self.disjoint_plain(&items, ptr, base)?) {
                    // Lazy: `union` stops at the first error, so the branches
                    // after it are never compiled.
                    return union(
                        items
                            .iter()
                            .enumerate()
                            .map(|(i, item)| self.schema(item, &format!("{ptr}/{key}/{i}"), base, depth + 1)),
                    );
                }
                // Each branch is merged with the siblings as they are: their
                // unevaluated* are resolved after the merge, so that they see
                // what the branch evaluates.
                let mut flats = Vec::new();
                let mut alone = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    let bptr = format!("{ptr}/{key}/{i}");
                    let f = self.flatten(item, &bptr, base, 0)?;
                    alone.push(f.clone());
                    let merged = merge::merge(merge::normalize(m.clone()), merge::normalize(f))
                        .map_err(|e| err(&bptr, "allOf", e))?;
                    flats.push((bptr, merged));
                }
                if key == "oneOf" && !self.disjoint(&flats) {
                    return self.one_of_by_type(flats, alone, base, depth);
                }
                return union(flats.into_iter().map(|(bptr, f)| self.object_schema(f, &bptr, base, depth + 1)));
            }
        }
        if m.contains_key("allOf") || m.contains_key("$ref") {
            let flat = self.flatten(&Value::Object(m), ptr, base, 0)?;
            return self.object_schema(flat, ptr, base, depth + 1);
        }
        let mut m = merge::resolve_unevaluated(m).map_err(|e| err(ptr, "unevaluatedProperties", e))?;
        if let Some(n) = m.remove("not") {
            self.apply_not(&mut m, &n, ptr, base)?;
            if m.contains_key("allOf") {
                return self.object_schema(m, ptr, base, depth + 1);
            }
        }
        if let Some(Value::Array(bad)) = m.remove("x-sluicegate-not-values") {
            // The excluded constants are scalars: only the scalar part of the
            // language is narrowed (containers may be recursive).
            let restrict = |m: &Map<String, Value>, types: &[&str]| -> Result<Map<String, Value>, CompileError> {
                let mut only = Map::new();
                only.insert("type".into(), serde_json::json!(types));
                merge::merge(merge::normalize(m.clone()), only).map_err(|e| err(ptr, "not", e))
            };
            let scalars = restrict(&m, &["null", "boolean", "number", "string"])?;
            let containers = restrict(&m, &["object", "array"])?;
            let excluded: Vec<Expr> = bad.iter().map(|v| self.literal(v)).collect();
            let narrowed = self
                .object_schema(scalars, ptr, base, depth + 1)
                .map(|inner| Expr::Exclude { base: Box::new(inner), excluded: Box::new(Expr::Alt(excluded)) });
            let rest = self.object_schema(containers, ptr, base, depth + 1);
            return union(vec![narrowed, rest]);
        }
        // Dependencies as unions: the trigger absent, or present with its
        // dependency (exact in any member order).
        let mut dep_branches = Vec::new();
        for key in ["dependentRequired", "dependentSchemas", "dependencies"] {
            let Some(deps) = m.remove(key) else { continue };
            let deps = deps.as_object().ok_or_else(|| err(ptr, key, "must be an object"))?.clone();
            for (name, dep) in deps {
                let present = match dep {
                    Value::Array(_) | Value::Bool(_) | Value::Object(_)
                        if key == "dependentRequired" && !dep.is_array() =>
                    {
                        return Err(err(ptr, key, "dependencies must be arrays of names"));
                    }
                    Value::Array(list) => {
                        let mut names = vec![Value::String(name.clone())];
                        names.extend(list);
                        serde_json::json!({ "required": names })
                    }
                    Value::Bool(true) => continue,
                    schema => serde_json::json!({ "allOf": [{ "required": [name] }, schema] }),
                };
                dep_branches.push(serde_json::json!({ "anyOf": [{ "properties": { &name: false } }, present] }));
            }
        }
        if !dep_branches.is_empty() {
            if dep_branches.len() > 6 {
                self.unsupported(ptr, "dependentRequired", "more than six dependencies")?;
            } else {
                let mut all = m.get("allOf").and_then(Value::as_array).cloned().unwrap_or_default();
                all.extend(dep_branches);
                m.insert("allOf".into(), Value::Array(all));
                return self.object_schema(m, ptr, base, depth + 1);
            }
        }
        if let Some(cond) = m.remove("if") {
            let then = m.remove("then");
            let otherwise = m.remove("else");
            if let Some(Value::Object(next)) = merge::next_pending(&mut m, "x-sluicegate-if") {
                m.extend(next);
            }
            if then.is_some() || otherwise.is_some() {
                let branches = match self.if_then_else(&cond, then.clone(), otherwise.clone(), ptr)? {
                    Some(branches) => branches,
                    // The condition with `then`, or its negation with `else`.
                    None => {
                        let bad = self.negate(&cond, &format!("{ptr}/if"), base, 0)?;
                        vec![
                            serde_json::json!({ "allOf": [cond, then.unwrap_or(Value::Bool(true))] }),
                            serde_json::json!({ "allOf": [bad, otherwise.unwrap_or(Value::Bool(true))] }),
                        ]
                    }
                };
                let mut all = m.get("allOf").and_then(Value::as_array).cloned().unwrap_or_default();
                all.push(serde_json::json!({ "anyOf": branches }));
                m.insert("allOf".into(), Value::Array(all));
                return self.object_schema(m, ptr, base, depth + 1);
            }
        }
        // Types this schema allows.
        let mut types: Vec<String> = match m.get("type") {
            None => ALL_TYPES.iter().map(|s| s.to_string()).collect(),
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
            Some(_) => return Err(err(ptr, "type", "must be a string or an array")),
        };
        if let Some(Value::Array(not_types)) = m.get("x-sluicegate-not-types") {
            let excluded: Vec<String> = not_types.iter().filter_map(Value::as_str).map(String::from).collect();
            let mut kept = Vec::new();
            for t in types {
                if t == "number" && excluded.iter().any(|e| e == "integer") && !excluded.iter().any(|e| e == "number") {
                    kept.push("x-fraction".to_string());
                    continue;
                }
                if !excluded.iter().any(|e| e == &t || (e == "number" && t == "integer")) {
                    kept.push(t);
                }
            }
            types = kept;
        }
        if let Some(Value::Array(values)) = m.get("enum") {
            return self.enumeration(values.clone(), &m, ptr, base);
        }
        if types.is_empty() {
            return Err(CompileError::Empty);
        }
        let has_number = types.iter().any(|t| t == "number");
        let mut alts = Vec::new();
        for t in &types {
            let e = match t.as_str() {
                "null" => Ok(lit("null")),
                "boolean" => Ok(Expr::Alt(vec![lit("true"), lit("false")])),
                "string" => self.string_schema(&m, ptr).map(|e| self.called_if_heavy(e)),
                "integer" if has_number => continue,
                "integer" => self.number_schema(&m, ptr, true),
                "number" => self.number_schema(&m, ptr, false),
                "x-fraction" => {
                    let bounded = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"]
                        .iter()
                        .any(|k| m.contains_key(*k));
                    if bounded {
                        self.unsupported(ptr, "not", "a bounded number that is not an integer")?;
                    }
                    // Short spellings: a long one may read as an integer-valued double.
                    Ok(re(&number::short_number(true)))
                }
                "object" => self.object_type(&m, ptr, base, depth),
                "array" => self.array_type(&m, ptr, base, depth),
                other => return Err(err(ptr, "type", format!("unknown type {other:?}"))),
            };
            match e {
                Ok(e) => alts.push(e),
                Err(CompileError::Empty) => {}
                Err(e) => return Err(e),
            }
        }
        match alts.len() {
            0 => Err(CompileError::Empty),
            1 => Ok(alts.pop().expect("one")),
            _ => Ok(Expr::Alt(alts)),
        }
    }

    fn apply_not(&mut self, m: &mut Map<String, Value>, n: &Value, ptr: &str, base: &str) -> Result<(), CompileError> {
        let nm = match n {
            Value::Object(_) => self.flatten(n, &format!("{ptr}/not"), base, 0)?,
            Value::Bool(false) => return Ok(()),
            Value::Bool(true) => {
                m.insert("type".into(), Value::Array(vec![]));
                return Ok(());
            }
            _ => return Err(err(ptr, "not", "must be a schema")),
        };
        let asserting: Vec<&String> = nm.keys().filter(|k| is_assertion(k)).collect();
        match asserting.as_slice() {
            // not (A or B) = not A and not B (merged `not`s take this form).
            [k] if *k == "anyOf" => {
                let items = nm["anyOf"].as_array().cloned().ok_or_else(|| err(ptr, "anyOf", "must be an array"))?;
                for item in &items {
                    self.apply_not(m, item, ptr, base)?;
                }
                Ok(())
            }
            [k] if *k == "type" => {
                let ts: Vec<Value> = match &nm["type"] {
                    Value::String(t) => vec![Value::String(t.clone())],
                    Value::Array(a) => a.clone(),
                    _ => return Err(err(ptr, "not", "bad type")),
                };
                let mut prev = m.get("x-sluicegate-not-types").and_then(Value::as_array).cloned().unwrap_or_default();
                prev.extend(ts);
                m.insert("x-sluicegate-not-types".into(), Value::Array(prev));
                Ok(())
            }
            [k] if *k == "enum" => {
                // Filter an explicit enum; otherwise this needs complement languages.
                if let (Some(Value::Array(vals)), Some(Value::Array(bad))) = (m.get("enum"), nm.get("enum")) {
                    let kept: Vec<Value> =
                        vals.iter().filter(|v| !bad.iter().any(|b| check::json_eq(v, b))).cloned().collect();
                    m.insert("enum".into(), Value::Array(kept));
                    return Ok(());
                }
                // Excluded constants: exact for strings, booleans, null and
                // integers (each has one spelling here); other numbers have
                // several spellings (1e3, 1000.0) and are not excluded.
                let bad = nm["enum"].as_array().cloned().unwrap_or_default();
                let one_spelling = bad.iter().all(|v| match v {
                    Value::Number(n) => (n.is_i64() || n.is_u64()) && !self.allows_number(m),
                    Value::Object(_) | Value::Array(_) => false,
                    _ => true,
                });
                if !one_spelling {
                    let integers_only = bad.iter().all(|v| match v {
                        Value::Number(n) => n.is_i64() || n.is_u64(),
                        Value::Object(_) | Value::Array(_) => false,
                        _ => true,
                    });
                    if !integers_only {
                        return self.unsupported(ptr, "not", "`not` of non-integer, object or array constants");
                    }
                    // Numbers are split into integers (one spelling each here)
                    // and numbers with a fraction (never equal to an integer).
                    let split = serde_json::json!({ "anyOf": [
                        {"type": ["null", "boolean", "string", "object", "array"], "not": {"enum": bad}},
                        {"type": "integer", "not": {"enum": bad}},
                        {"type": "number", "not": {"type": "integer"}},
                    ]});
                    let mut all = m.get("allOf").and_then(Value::as_array).cloned().unwrap_or_default();
                    all.push(split);
                    m.insert("allOf".into(), Value::Array(all));
                    return Ok(());
                }
                let mut prev = m.get("x-sluicegate-not-values").and_then(Value::as_array).cloned().unwrap_or_default();
                prev.extend(bad);
                m.insert("x-sluicegate-not-values".into(), Value::Array(prev));
                Ok(())
            }
            [k] if *k == "pattern" && nm["pattern"].as_array().is_none_or(|ps| ps.len() <= 1) => {
                let mut prev =
                    m.get("x-sluicegate-not-patterns").and_then(Value::as_array).cloned().unwrap_or_default();
                match &nm["pattern"] {
                    Value::Array(ps) => prev.extend(ps.iter().cloned()),
                    p => prev.push(p.clone()),
                }
                m.insert("x-sluicegate-not-patterns".into(), Value::Array(prev));
                // `pattern` holds vacuously for non-strings, so its negation excludes them.
                let mut not_types =
                    m.get("x-sluicegate-not-types").and_then(Value::as_array).cloned().unwrap_or_default();
                not_types.extend(["null", "boolean", "number", "object", "array"].map(|t| Value::String(t.into())));
                m.insert("x-sluicegate-not-types".into(), Value::Array(not_types));
                Ok(())
            }
            [k] if *k == "required" => {
                // Not all the listed properties are present: one of them is absent.
                let names: Vec<String> = nm["required"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .map(String::from)
                    .collect();
                if names.is_empty() {
                    m.insert("type".into(), Value::Array(vec![]));
                    return Ok(());
                }
                // `required` holds vacuously for non-objects, so its negation excludes them.
                let branches: Vec<Value> =
                    names.iter().map(|n| serde_json::json!({"type": "object", "properties": {n: false}})).collect();
                let mut all = m.get("allOf").and_then(Value::as_array).cloned().unwrap_or_default();
                all.push(serde_json::json!({ "anyOf": branches }));
                m.insert("allOf".into(), Value::Array(all));
                Ok(())
            }
            [] => {
                // `not: {}`: nothing is allowed.
                m.insert("type".into(), Value::Array(vec![]));
                Ok(())
            }
            _ => {
                let bad = self.negate(n, &format!("{ptr}/not"), base, 0)?;
                let mut all = m.get("allOf").and_then(Value::as_array).cloned().unwrap_or_default();
                all.push(bad);
                m.insert("allOf".into(), Value::Array(all));
                Ok(())
            }
        }
    }

    /// `if`/`then`/`else` as a union, when the condition is a conjunction of
    /// "property absent or one of these constants" and "property present":
    /// the condition holds, with `then`; or one of its parts fails, with
    /// `else`. `None` when the condition has another form.
    fn if_then_else(
        &mut self,
        cond: &Value,
        then: Option<Value>,
        otherwise: Option<Value>,
        ptr: &str,
    ) -> Result<Option<Vec<Value>>, CompileError> {
        let c = match cond {
            Value::Bool(true) => return Ok(Some(vec![then.unwrap_or(Value::Bool(true))])),
            Value::Bool(false) => return Ok(Some(vec![otherwise.unwrap_or(Value::Bool(true))])),
            Value::Object(_) => self.flatten(cond, &format!("{ptr}/if"), "", 0)?,
            _ => return Err(err(ptr, "if", "must be a schema")),
        };
        let mut consts: Vec<(String, Vec<Value>)> = Vec::new();
        for (k, v) in &c {
            match k.as_str() {
                "properties" => {
                    for (name, ps) in v.as_object().into_iter().flatten() {
                        let ps = match ps {
                            Value::Object(o) => merge::normalize(o.clone()),
                            _ => return Ok(None),
                        };
                        let only_enum = ps.keys().all(|k| k == "enum" || !is_assertion(k));
                        let vals = match ps.get("enum") {
                            Some(Value::Array(vals)) if only_enum => vals.clone(),
                            _ => return Ok(None),
                        };
                        let one_spelling = vals.iter().all(|x| match x {
                            Value::Number(n) => n.is_i64() || n.is_u64(),
                            Value::Object(_) | Value::Array(_) => false,
                            _ => true,
                        });
                        if !one_spelling {
                            return Ok(None);
                        }
                        consts.push((name.clone(), vals));
                    }
                }
                "required" | "type" => {}
                k if is_assertion(k) => return Ok(None),
                _ => {}
            }
        }
        let required: Vec<String> = c
            .get("required")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect();
        // The condition's type, if any, must be object (a property condition on objects).
        if let Some(t) = c.get("type") {
            if t != &Value::String("object".into()) {
                return Ok(None);
            }
        }
        let then = then.unwrap_or(Value::Bool(true));
        let otherwise = otherwise.unwrap_or(Value::Bool(true));
        let mut cond_schema = serde_json::json!({"properties": {}});
        for (name, vals) in &consts {
            cond_schema["properties"][name] = serde_json::json!({ "enum": vals });
        }
        if !required.is_empty() {
            cond_schema["required"] = serde_json::json!(required);
        }
        if c.get("type").is_some() {
            cond_schema["type"] = serde_json::json!("object");
        }
        let mut branches = vec![serde_json::json!({ "allOf": [cond_schema, then] })];
        // Where the condition fails: a constrained property present with
        // another value, or a required one absent; or (typed condition) not an object.
        for (name, vals) in &consts {
            branches.push(serde_json::json!({ "allOf": [
                {"type": "object", "required": [name], "properties": {name: {"not": {"enum": vals}}}},
                otherwise.clone()
            ]}));
        }
        for name in &required {
            branches.push(
                serde_json::json!({ "allOf": [{"type": "object", "properties": {name: false}}, otherwise.clone()] }),
            );
        }
        if c.get("type").is_some() {
            branches.push(
                serde_json::json!({ "allOf": [{"type": ["null", "boolean", "number", "string", "array"]}, otherwise]}),
            );
        }
        Ok(Some(branches))
    }

    /// Whether a schema object allows non-integer numbers.
    fn allows_number(&self, m: &Map<String, Value>) -> bool {
        match m.get("type") {
            None => true,
            Some(Value::String(t)) => t == "number",
            Some(Value::Array(a)) => a.iter().any(|t| t == "number"),
            _ => true,
        }
    }

    /// `disjoint` for branches given as written; a branch whose top is a
    /// recursive `$ref` chain that cannot be flattened counts as overlapping.
    /// Resource limits are not a property of the branch: they end the
    /// compilation.
    fn disjoint_plain(&mut self, items: &[Value], ptr: &str, base: &str) -> Result<bool, CompileError> {
        let mut flats = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match self.flatten(item, &format!("{ptr}/oneOf/{i}"), base, 0) {
                Ok(f) => flats.push((String::new(), f)),
                Err(e @ CompileError::Limit(_)) => return Err(e),
                Err(_) => return Ok(false),
            }
        }
        Ok(self.disjoint(&flats))
    }

    /// Whether no value can match two of the branches (by type, constants or
    /// a discriminating property).
    fn disjoint(&self, flats: &[(String, Map<String, Value>)]) -> bool {
        for i in 0..flats.len() {
            for j in i + 1..flats.len() {
                if !pair_disjoint(&flats[i].1, &flats[j].1) {
                    return false;
                }
            }
        }
        true
    }

    /// oneOf with overlapping branches, exactly: split by JSON type; where
    /// several branches allow a scalar type, each keeps only the values the
    /// others reject (a language difference). Overlapping object or array
    /// branches are each merged with the negations of the others.
    fn one_of_by_type(
        &mut self,
        flats: Vec<(String, Map<String, Value>)>,
        alone: Vec<Map<String, Value>>,
        base: &str,
        depth: usize,
    ) -> Result<Expr, CompileError> {
        let mut alts = Vec::new();
        for t in ["null", "boolean", "number", "string", "object", "array"] {
            let mut parts: Vec<(String, Map<String, Value>)> = Vec::new();
            let mut branches: Vec<&Map<String, Value>> = Vec::new();
            for ((bptr, f), raw) in flats.iter().zip(&alone) {
                // A branch whose `type` rules `t` out has no part here (the
                // merge below would say so after copying the whole branch,
                // six times per branch).
                if !declared_types_admit(f.get("type"), t) {
                    continue;
                }
                let mut only = Map::new();
                only.insert("type".into(), Value::String(t.into()));
                let typed = merge::merge(merge::normalize(f.clone()), only).map_err(|e| err(bptr, "oneOf", e))?;
                let allows = match typed.get("type") {
                    Some(Value::Array(a)) => !a.is_empty(),
                    _ => true,
                };
                if allows {
                    parts.push((bptr.clone(), typed));
                    branches.push(raw);
                }
            }
            let mut exprs = Vec::new();
            for (bptr, typed) in &parts {
                match self.object_schema(typed.clone(), bptr, base, depth + 1) {
                    Ok(e) => exprs.push(e),
                    Err(CompileError::Empty) => {}
                    Err(e) => return Err(e),
                }
            }
            if exprs.len() <= 1 {
                alts.extend(exprs);
                continue;
            }
            if matches!(t, "object" | "array") {
                if self.disjoint(&parts) {
                    alts.extend(exprs);
                    continue;
                }
                // Each branch (with the siblings) without the values any other
                // branch (on its own) accepts.
                let mut negated = Vec::new();
                for ((bptr, _), raw) in parts.iter().zip(&branches) {
                    negated.push(self.negate(&Value::Object((*raw).clone()), bptr, base, 0)?);
                }
                for (i, (bptr, typed)) in parts.iter().enumerate() {
                    let mut all = vec![Value::Object(typed.clone())];
                    all.extend(negated.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, n)| n.clone()));
                    let only = serde_json::json!({ "allOf": all });
                    let flat = self.flatten(&only, bptr, base, 0)?;
                    match self.object_schema(flat, bptr, base, depth + 1) {
                        Ok(e) => alts.push(e),
                        Err(CompileError::Empty) => {}
                        Err(e) => return Err(e),
                    }
                }
                continue;
            }
            // Numbers are kept to spellings whose integer-ness is plain: 64-bit
            // integers without fraction, or short non-integers (a validator
            // reads `2e1` and a 25-digit integer as integer-valued doubles,
            // which the integer languages here do not spell).
            let safe = (t == "number").then(|| {
                let int = number::any_int();
                re(&format!("(?:{int}|{})", number::short_number(true)))
            });
            for i in 0..exprs.len() {
                let others: Vec<Expr> =
                    exprs.iter().enumerate().filter(|(j, _)| *j != i).map(|(_, e)| e.clone()).collect();
                let base = match &safe {
                    Some(safe) => Expr::Intersect(vec![exprs[i].clone(), safe.clone()]),
                    None => exprs[i].clone(),
                };
                alts.push(Expr::Exclude { base: Box::new(base), excluded: Box::new(Expr::Alt(others)) });
            }
        }
        if alts.is_empty() {
            return Err(CompileError::Empty);
        }
        Ok(Expr::Alt(alts))
    }

    fn enumeration(
        &mut self,
        values: Vec<Value>,
        m: &Map<String, Value>,
        ptr: &str,
        base: &str,
    ) -> Result<Expr, CompileError> {
        check_literal_size(&values, ptr)?;
        let mut rest = m.clone();
        rest.remove("enum");
        rest.remove("x-sluicegate-not-types");
        let not_types: Vec<String> = m
            .get("x-sluicegate-not-types")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        if let Some(Value::Array(ps)) = rest.get("pattern").cloned() {
            // Merged patterns: check each.
            rest.remove("pattern");
            let mut all = vec![Value::Object(rest.clone())];
            for p in ps {
                all.push(serde_json::json!({ "pattern": p }));
            }
            rest = Map::new();
            rest.insert("allOf".into(), Value::Array(all));
        }
        let rest = Value::Object(rest);
        let mut alts = Vec::new();
        for v in values {
            if not_types.iter().any(|t| check::type_matches(t, &v)) {
                continue;
            }
            let ok = check::check(&rest, &v, &self.resolver, base, 0).map_err(|e| err(ptr, "enum", e))?;
            if ok {
                alts.push(self.value_literal(&v, ptr)?);
            }
        }
        if alts.is_empty() {
            return Err(CompileError::Empty);
        }
        Ok(Expr::Alt(alts))
    }

    /// `open`, the elements separated by commas, `close`, with whitespace.
    /// Called inside [`Builder::nested`], like every container.
    fn bracketed(&self, open: &str, close: &str, elements: Vec<Expr>) -> Expr {
        if elements.is_empty() {
            return self.container(open, close, Items::none());
        }
        let mut items = Vec::new();
        for (i, e) in elements.into_iter().enumerate() {
            if i > 0 {
                items.push(self.comma());
            }
            items.push(e);
        }
        self.container(open, close, Items::required(seq(items)))
    }

    /// A JSON value as a literal, as [`Builder::literal`], except that the
    /// members of an object (with at most `any_order_max` members) may come
    /// in any order.
    fn value_literal(&mut self, v: &Value, ptr: &str) -> Result<Expr, CompileError> {
        match v {
            Value::Object(_) | Value::Array(_) => self.nested(|b| b.container_literal(v, ptr)),
            other => Ok(self.literal(other)),
        }
    }

    /// [`Builder::value_literal`] of an object or array, inside
    /// [`Builder::nested`].
    fn container_literal(&mut self, v: &Value, ptr: &str) -> Result<Expr, CompileError> {
        match v {
            Value::Object(o) if o.len() > 1 && o.len() <= self.opts.any_order_max => {
                let mut members = Vec::new();
                for (k, x) in o {
                    let key = lit(&serde_json::to_string(k).expect("string"));
                    members.push(Member { key, value: self.value_literal(x, ptr)?, required: true });
                }
                let c = MemberSets { min_count: 0, max_count: None, ptr: format!("{ptr}:const") };
                match self.member_sets(&members, &None, &c)? {
                    Some(body) => {
                        let obj = self.container("{", "}", body);
                        Ok(Expr::Rule(self.add_rule(&format!("{ptr}:const"), Some(obj), false)))
                    }
                    None => Ok(self.container_items_literal(v)),
                }
            }
            Value::Object(o) => {
                let mut members = Vec::new();
                for (k, x) in o {
                    let key = lit(&serde_json::to_string(k).expect("string"));
                    members.push(seq(vec![key, self.colon(), self.value_literal(x, ptr)?]));
                }
                Ok(self.bracketed("{", "}", members))
            }
            Value::Array(a) => {
                let mut items = Vec::new();
                for x in a {
                    items.push(self.value_literal(x, ptr)?);
                }
                Ok(self.bracketed("[", "]", items))
            }
            other => Ok(self.literal(other)),
        }
    }

    /// A JSON value as a literal, with whitespace allowed between its tokens.
    fn literal(&mut self, v: &Value) -> Expr {
        match v {
            Value::Object(_) | Value::Array(_) => self.nested(|b| b.container_items_literal(v)),
            Value::Number(n) => {
                // 1 and 1.0 are the same JSON Schema value.
                let f = n.as_f64().unwrap_or(0.0);
                let text = n.to_string();
                if f.fract() == 0.0 && f.abs() < 1e15 {
                    let int = format!("{}", f as i64);
                    Expr::Alt(vec![lit(&int), seq(vec![lit(&int), re(r"\.0+")])])
                } else {
                    lit(&text)
                }
            }
            other => lit(&serde_json::to_string(other).expect("scalar")),
        }
    }

    /// [`Builder::literal`] of an object or array, inside [`Builder::nested`].
    fn container_items_literal(&mut self, v: &Value) -> Expr {
        match v {
            Value::Object(o) => {
                let mut members = Vec::new();
                for (k, x) in o {
                    members.push(seq(vec![
                        lit(&serde_json::to_string(k).expect("string")),
                        self.colon(),
                        self.literal(x),
                    ]));
                }
                self.bracketed("{", "}", members)
            }
            Value::Array(a) => {
                let items = a.iter().map(|x| self.literal(x)).collect();
                self.bracketed("[", "]", items)
            }
            other => self.literal(other),
        }
    }

    fn string_schema(&mut self, m: &Map<String, Value>, ptr: &str) -> Result<Expr, CompileError> {
        let mut bodies: Vec<Hir> = Vec::new();
        let patterns: Vec<Value> = match m.get("pattern") {
            None => vec![],
            Some(Value::Array(a)) => a.clone(),
            Some(p) => vec![p.clone()],
        };
        for p in patterns {
            let p = p.as_str().ok_or_else(|| err(ptr, "pattern", "must be a string"))?;
            match string::pattern_body(p) {
                Ok(h) => bodies.push(h),
                Err(e) => self.unsupported(ptr, "pattern", format!("{p:?}: {e}"))?,
            }
        }
        if let Some(f) = m.get("format").and_then(Value::as_str) {
            match string::format_body(f) {
                Some(body) => bodies.push(body.map_err(|e| err(ptr, "format", e))?),
                // Users who name a format expect it enforced; one we cannot
                // enforce is an error (lenient: dropped and listed).
                None => self.unsupported(ptr, "format", format!("format {f:?} is not supported"))?,
            }
        }
        let min = count(m, "minLength", ptr)?;
        let max = count(m, "maxLength", ptr)?;
        if min.is_some() || max.is_some() {
            let (lo, hi) = (min.unwrap_or(0), max);
            if hi.is_some_and(|h| h < lo) {
                return Err(CompileError::Empty);
            }
            // A bound that a pattern or format already implies is left out:
            // intersected, `format: email` with `maxLength: 1024` built a
            // counter of 1,024 characters and a product with it (120 ms),
            // for the automaton of the email alone. The string is in every
            // body, so one body that implies a bound is enough.
            let hi = hi.filter(|&h| !bodies.iter().any(|b| string::max_chars(b).is_some_and(|m| m <= h)));
            let lo = if bodies.iter().any(|b| string::min_chars(b) >= lo) { 0 } else { lo };
            if lo > LENGTH_COUNT_LIMIT {
                self.unsupported(ptr, "minLength", format!("minLength above {LENGTH_COUNT_LIMIT}"))?;
            } else if let Some(h) = hi.filter(|h| *h > LENGTH_COUNT_LIMIT) {
                if !bodies.is_empty() {
                    self.unsupported(
                        ptr,
                        "maxLength",
                        format!("maxLength above {LENGTH_COUNT_LIMIT} together with pattern or format"),
                    )?;
                } else {
                    // Alone, a long maximum is counted in chunks by a called rule.
                    let body = self.long_length_body(lo, h).map_err(|e| err(ptr, "maxLength", e))?;
                    return Ok(self.string_expr(body));
                }
            } else if lo > 0 || hi.is_some() || bodies.is_empty() {
                bodies.push(string::length_body(lo, hi).map_err(|e| err(ptr, "maxLength", e))?);
            }
        }
        let mut not_bodies = Vec::new();
        for p in m.get("x-sluicegate-not-patterns").and_then(Value::as_array).into_iter().flatten() {
            let p = p.as_str().ok_or_else(|| err(ptr, "pattern", "must be a string"))?;
            match string::pattern_body(p) {
                Ok(h) => not_bodies.push(self.string_expr(Expr::regular(h))),
                Err(e) => self.unsupported(ptr, "not", format!("pattern {p:?}: {e}"))?,
            }
        }
        let positive = self.string_from_bodies(bodies);
        if not_bodies.is_empty() {
            return Ok(positive);
        }
        Ok(Expr::Exclude { base: Box::new(positive), excluded: Box::new(Expr::Alt(not_bodies)) })
    }

    /// A string value whose automaton is large (a counted length of about
    /// 25 or more, a long pattern) as a call to a rule of its own, one per
    /// distinct expression. Inlined, each use copied the string's states
    /// into the automaton of its object (a `maxLength: 255` is hundreds of
    /// states): built once, the string's
    /// states and their mask entries are shared by every member that uses
    /// it. The quotes are inside the rule, so it returns only after the
    /// closing quote, never inside the body.
    fn called_if_heavy(&mut self, e: Expr) -> Expr {
        let Expr::Seq(parts) = &e else { return e };
        // A length above LENGTH_COUNT_LIMIT (called chunks and counted tails
        // of up to 255 characters) weighs in its tails: inlined, an object
        // of 16 members with seven such strings had 56,000 states.
        let [_, body, _] = parts.as_slice() else { return e };
        if string::expr_weight(body) < HEAVY_STRING_WEIGHT {
            return e;
        }
        self.call(e, "string", 0)
    }

    /// A call of a rule made for `e` (named `name` when made here): one rule
    /// per distinct expression among the rules made since the `since`-th
    /// (the search is linear; member values look only among their object's).
    fn call(&mut self, e: Expr, name: &str, since: usize) -> Expr {
        if let Some((_, r)) = self.called_rules[since..].iter().find(|(x, _)| *x == e) {
            return Expr::Rule(*r);
        }
        let r = self.add_rule(name, Some(e.clone()), false);
        self.called_rules.push((e, r));
        Expr::Rule(r)
    }

    /// A string whose body is in every one of `bodies` (any body if none).
    fn string_from_bodies(&self, mut bodies: Vec<Hir>) -> Expr {
        match bodies.len() {
            0 => self.string_expr(Expr::Regular(string::any_body_shared())),
            1 => self.string_expr(Expr::regular(bodies.pop().expect("one"))),
            // The quotes go inside the intersection, so that the automaton
            // computing it ends only after the closing quote.
            _ => Expr::Intersect(bodies.into_iter().map(|b| self.string_expr(Expr::regular(b))).collect()),
        }
    }

    /// Bodies of `lo..=hi` code points for a large `hi`: whole chunks of
    /// [`LENGTH_CHUNK`] characters are a called rule, so each automaton
    /// counts to at most a few hundred instead of `hi`.
    fn long_length_body(&mut self, lo: u64, hi: u64) -> Result<Expr, String> {
        let chunk = match self.chunk_rule {
            Some(r) => r,
            None => {
                let body = Expr::regular(string::length_body(LENGTH_CHUNK, Some(LENGTH_CHUNK))?);
                let r = self.add_rule("string-chunk", Some(body), false);
                self.chunk_rule = Some(r);
                r
            }
        };
        let rest = hi - lo;
        let (q, r) = (rest / LENGTH_CHUNK, rest % LENGTH_CHUNK);
        let chunks = |n: u64| Expr::Repeat { expr: Box::new(Expr::Rule(chunk)), min: n as u32, max: Some(n as u32) };
        let up_to = |n: u64| Expr::Repeat { expr: Box::new(Expr::Rule(chunk)), min: 0, max: Some(n as u32) };
        let tail = |n: u64| string::length_body(0, Some(n)).map(Expr::regular);
        // lo characters, then k < q whole chunks and fewer than a chunk, or q chunks and at most r.
        let mut alts = vec![seq(vec![chunks(q), tail(r)?])];
        if r == LENGTH_CHUNK - 1 {
            // Both tails are a chunk less one (`maxLength: 65535`): one tail
            // after up to q chunks, instead of two copies of its states.
            alts = vec![seq(vec![up_to(q), tail(r)?])];
        } else if q > 0 {
            alts.push(seq(vec![up_to(q - 1), tail(LENGTH_CHUNK - 1)?]));
        }
        Ok(seq(vec![Expr::regular(string::length_body(lo, Some(lo))?), Expr::Alt(alts)]))
    }

    fn number_schema(&mut self, m: &Map<String, Value>, ptr: &str, integer: bool) -> Result<Expr, CompileError> {
        let bound = |key: &str, exclusive: bool| -> Result<Option<(f64, bool)>, CompileError> {
            match m.get(key) {
                None => Ok(None),
                Some(Value::Number(n)) => Ok(Some((n.as_f64().ok_or_else(|| err(ptr, key, "bad number"))?, exclusive))),
                Some(_) => Err(err(ptr, key, "must be a number")),
            }
        };
        let lows = [bound("minimum", false)?, bound("exclusiveMinimum", true)?];
        let highs = [bound("maximum", false)?, bound("exclusiveMaximum", true)?];
        // Tightest of each side.
        let lo = lows.iter().flatten().copied().fold(None, |acc: Option<(f64, bool)>, b| match acc {
            None => Some(b),
            Some(a) => Some(if b.0 > a.0 || (b.0 == a.0 && b.1) { b } else { a }),
        });
        let hi = highs.iter().flatten().copied().fold(None, |acc: Option<(f64, bool)>, b| match acc {
            None => Some(b),
            Some(a) => Some(if b.0 < a.0 || (b.0 == a.0 && b.1) { b } else { a }),
        });
        let mut max_frac = None;
        let mut integer = integer;
        if let Some(mo) = m.get("multipleOf") {
            let d =
                mo.as_f64().filter(|d| *d > 0.0).ok_or_else(|| err(ptr, "multipleOf", "must be a positive number"))?;
            if d.fract() == 0.0 {
                if d == 1.0 {
                    integer = true;
                } else {
                    return self.multiple_of_integer(d as u64, lo, hi, ptr);
                }
            } else {
                let k = (-d.log10()).round();
                if (10f64.powf(-k) - d).abs() <= 1e-12 * d && k <= 30.0 {
                    max_frac = Some(k as u32);
                } else if let Some(parts) = number::multiples(d) {
                    let mut rest = m.clone();
                    rest.remove("multipleOf");
                    let inner = self.number_schema(&rest, ptr, integer)?;
                    // Short spellings, so that the validator's double arithmetic is exact.
                    let mut items = vec![inner, re(&number::short_number(false))];
                    items.extend(parts.iter().map(|p| re(p)));
                    return Ok(Expr::Intersect(items));
                } else {
                    self.unsupported(ptr, "multipleOf", format!("multipleOf {d} is not supported"))?;
                }
            }
        }
        let to_bound = |b: Option<(f64, bool)>, lower: bool| -> Result<Option<Bound>, CompileError> {
            let Some((v, exclusive)) = b else { return Ok(None) };
            if v.abs() > 1e30 {
                return Err(err(ptr, if lower { "minimum" } else { "maximum" }, "bound too large"));
            }
            if v.fract() == 0.0 {
                return Ok(Some(Bound { value: v as i128, exclusive }));
            }
            if integer {
                // Integers: round the bound inwards, inclusive.
                let r = if lower { v.ceil() } else { v.floor() };
                return Ok(Some(Bound { value: r as i128, exclusive: false }));
            }
            // Non-integer bounds are handled below, by decimal comparison.
            Ok(None)
        };
        let decimal = |b: Option<(f64, bool)>| b.filter(|(v, _)| v.fract() != 0.0 && !integer);
        let (dlo, dhi) = (decimal(lo), decimal(hi));
        let (lo, hi) = (to_bound(lo, true)?, to_bound(hi, false)?);
        if dlo.is_some() || dhi.is_some() {
            // Each side on its own, intersected.
            let mut parts = Vec::new();
            for (b, int_b, lower) in [(dlo, lo, true), (dhi, hi, false)] {
                let key = if lower { "minimum" } else { "maximum" };
                match (b, int_b) {
                    (Some((v, exclusive)), _) => match number::decimal_bound(v, lower, exclusive) {
                        Some(r) => parts.push(r),
                        None => self.unsupported(ptr, key, format!("bound {v} has more than 15 significant digits"))?,
                    },
                    (None, Some(ib)) => {
                        let (l, h) = if lower { (Some(ib), None) } else { (None, Some(ib)) };
                        parts.push(number::number_range(l, h, None).ok_or(CompileError::Empty)?);
                    }
                    (None, None) => {}
                }
            }
            if max_frac.is_some() {
                parts.push(number::number_range(None, None, max_frac).ok_or(CompileError::Empty)?);
            }
            return Ok(match parts.len() {
                0 => re(NUMBER),
                1 => re(&parts[0]),
                _ => Expr::Intersect(parts.iter().map(|p| re(p)).collect()),
            });
        }
        let regex = if integer {
            // Unbounded sides stop within the 64-bit range (`number::INT_MIN`,
            // `INT_MAX`): JSON parsers (and validators built on them) read
            // larger integers as floats.
            let ilo = lo.map_or(number::INT_MIN, |b| if b.exclusive { b.value + 1 } else { b.value });
            let ihi = hi.map_or(number::INT_MAX, |b| if b.exclusive { b.value - 1 } else { b.value });
            // `json.dumps` writes integral floats as `2.0`; they are integers
            // too, except under draft 4, where an integer has no fraction.
            let suffix =
                if self.draft == Draft::Four || self.opts.integers_without_fraction { "" } else { "(?:\\.0+)?" };
            number::int_range(Some(ilo), Some(ihi)).map(|r| format!("{r}{suffix}"))
        } else if lo.is_none() && hi.is_none() && max_frac.is_none() {
            Some(NUMBER.to_string())
        } else {
            number::number_range(lo, hi, max_frac)
        };
        match regex {
            Some(r) => Ok(re(&r)),
            None => Err(CompileError::Empty),
        }
    }

    fn multiple_of_integer(
        &mut self,
        d: u64,
        lo: Option<(f64, bool)>,
        hi: Option<(f64, bool)>,
        ptr: &str,
    ) -> Result<Expr, CompileError> {
        // Small ranges are enumerated exactly; powers of ten have a regex.
        let lo_i = lo.map(|(v, ex)| if ex { v.floor() as i128 + 1 } else { v.ceil() as i128 });
        let hi_i = hi.map(|(v, ex)| if ex { v.ceil() as i128 - 1 } else { v.floor() as i128 });
        if let (Some(l), Some(h)) = (lo_i, hi_i) {
            if h < l {
                return Err(CompileError::Empty);
            }
            if (h - l) / d as i128 <= 256 {
                let d = d as i128;
                let first = l.div_euclid(d) * d + if l.rem_euclid(d) == 0 { 0 } else { d };
                let vals: Vec<Expr> =
                    (0..).map(|i| first + i * d).take_while(|v| *v <= h).map(|v| lit(&v.to_string())).collect();
                if vals.is_empty() {
                    return Err(CompileError::Empty);
                }
                return Ok(Expr::Alt(vals));
            }
        }
        // A divisor of 10^k: a multiple is told by its last k digits. Within
        // 15 digits, where a validator's double arithmetic is exact.
        if let Some(k) = (1..=4u32).find(|k| 10u64.pow(*k) % d == 0) {
            let p = 10u64.pow(k);
            let small: Vec<String> = (1..p).filter(|v| v % d == 0).map(|v| v.to_string()).collect();
            let suffixes: Vec<String> =
                (0..p).filter(|v| v % d == 0).map(|v| format!("{v:0width$}", width = k as usize)).collect();
            // `small` is empty when `d` is 10^k itself: no empty alternative
            // (it would accept "" and "-").
            let mut nonzero = small;
            nonzero.push(format!("[1-9][0-9]{{0,{}}}(?:{})", 14 - k, suffixes.join("|")));
            let multiples = format!("0|-?(?:{})", nonzero.join("|"));
            if lo_i.is_none() && hi_i.is_none() {
                return Ok(re(&multiples));
            }
            let range = number::int_range(Some(lo_i.unwrap_or(number::INT_MIN)), Some(hi_i.unwrap_or(number::INT_MAX)))
                .ok_or(CompileError::Empty)?;
            return Ok(Expr::Intersect(vec![re(&multiples), re(&range)]));
        }
        if let Some(parts) = number::multiples(d as f64) {
            // Within 15 digits, where a validator's double arithmetic is exact.
            let limit = 10i128.pow(15) - 1;
            let range = number::int_range(
                Some(lo_i.map_or(-limit, |l| l.max(-limit))),
                Some(hi_i.map_or(limit, |h| h.min(limit))),
            )
            .ok_or(CompileError::Empty)?;
            let suffix = if self.draft == Draft::Four { "" } else { "(?:\\.0+)?" };
            let mut items = vec![re(&format!("{range}{suffix}"))];
            items.extend(parts.iter().map(|p| re(p)));
            return Ok(Expr::Intersect(items));
        }
        self.unsupported(ptr, "multipleOf", format!("multipleOf {d} over this range is not supported"))?;
        let any_int = number::any_int();
        Ok(re(&any_int))
    }

    fn object_type(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        base: &str,
        depth: usize,
    ) -> Result<Expr, CompileError> {
        self.nested(|b| b.object_members_type(m, ptr, base, depth))
    }

    /// [`Builder::object_type`] inside [`Builder::nested`].
    fn object_members_type(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        base: &str,
        depth: usize,
    ) -> Result<Expr, CompileError> {
        // Borrowed: a copy here copied every nested schema once per level.
        let no_members = Map::new();
        let props = m.get("properties").and_then(Value::as_object).unwrap_or(&no_members);
        let required: Vec<String> = m
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default();
        let pattern_props = m.get("patternProperties").and_then(Value::as_object).unwrap_or(&no_members);
        let additional: Option<Value> = match m.get("additionalProperties") {
            Some(Value::Bool(false)) => None,
            Some(v) => Some(v.clone()),
            None => match self.opts.additional_properties {
                AdditionalProperties::Spec => Some(Value::Bool(true)),
                AdditionalProperties::Forbid => None,
            },
        };
        let names_schema = m.get("propertyNames").cloned();
        // Declared names, in schema order, then required names that are not declared.
        let mut slots: Vec<(String, Cow<'_, Value>, bool)> = Vec::new();
        for (name, s) in props {
            slots.push((name.clone(), Cow::Borrowed(s), required.contains(name)));
        }
        for name in &required {
            if !props.contains_key(name) {
                let mut s = None;
                for (p, ps) in pattern_props {
                    if pattern_matches(p, name).map_err(|e| err(ptr, "patternProperties", e))? {
                        s = Some(match s {
                            None => ps.clone(),
                            Some(prev) => serde_json::json!({"allOf": [prev, ps]}),
                        });
                    }
                }
                let s = match (s, &additional) {
                    (Some(s), _) => s,
                    (None, Some(a)) => a.clone(),
                    (None, None) => return Err(CompileError::Empty),
                };
                slots.push((name.clone(), Cow::Owned(s), true));
            }
        }
        let mut members: Vec<Member> = Vec::new();
        for (name, mut s, req) in slots {
            // Declared names matching a pattern must satisfy that pattern's schema too.
            for (p, ps) in pattern_props {
                if props.contains_key(&name)
                    && pattern_matches(p, &name).map_err(|e| err(ptr, "patternProperties", e))?
                {
                    s = Cow::Owned(serde_json::json!({"allOf": [s.into_owned(), ps]}));
                }
            }
            if let Some(ns) = &names_schema {
                let ok = check::check(ns, &Value::String(name.clone()), &self.resolver, base, 0)
                    .map_err(|e| err(ptr, "propertyNames", e))?;
                if !ok {
                    if req {
                        return Err(CompileError::Empty);
                    }
                    continue;
                }
            }
            let sptr = format!("{ptr}/properties/{}", name.replace('~', "~0").replace('/', "~1"));
            let value = match self.schema(&s, &sptr, base, depth + 1) {
                Ok(v) => v,
                Err(CompileError::Empty) | Err(CompileError::Schema { .. }) if *s == Value::Bool(false) => {
                    if req {
                        return Err(CompileError::Empty);
                    }
                    continue;
                }
                Err(CompileError::Empty) if !req => continue,
                Err(e) => return Err(e),
            };
            let key = lit(&serde_json::to_string(&name).expect("string"));
            members.push(Member { key, value, required: req });
        }
        // Undeclared members: pattern properties, then additionalProperties.
        // Names with a slot of their own are never extra members.
        let declared: Vec<Expr> = props
            .keys()
            .chain(required.iter().filter(|r| !props.contains_key(*r)))
            .map(|k| Expr::regular(Hir::literal(json_key_body(k).into_bytes())))
            .collect();
        let mut extra: Vec<Expr> = Vec::new();
        let names_body = match &names_schema {
            Some(ns) => match self.key_body(ns, ptr)? {
                Some(b) => Some(b),
                // No name is allowed: only the empty object.
                None => {
                    if !required.is_empty() {
                        return Err(CompileError::Empty);
                    }
                    let obj = self.container("{", "}", Items::none());
                    let r = self.add_rule(&format!("{ptr}:object"), Some(obj), false);
                    return Ok(Expr::Rule(r));
                }
            },
            None => None,
        };
        let mut pattern_bodies = Vec::new();
        for p in pattern_props.keys() {
            let body = string::pattern_body(p).map_err(|e| err(ptr, "patternProperties", format!("{p:?}: {e}")))?;
            pattern_bodies.push(body);
        }
        let overlapping = pattern_bodies.len() > 1 && !self.patterns_disjoint(&pattern_bodies)?;
        if !overlapping {
            for (body, (p, ps)) in pattern_bodies.iter().zip(pattern_props) {
                // A long pattern (`^.{1,255}$`) is a called rule, as a heavy
                // string value is: inlined, the object's automaton held it
                // twice (8,427 states, 57 ms).
                let key_body = self.key_language(Expr::regular(body.clone()), &names_body, &declared);
                let key_body = self.called_if_heavy(key_body);
                let pptr = format!("{ptr}/patternProperties/{}", p.replace('~', "~0").replace('/', "~1"));
                match self.schema(ps, &pptr, base, depth + 1) {
                    Ok(v) => extra.push(seq(vec![key_body.clone(), self.colon(), v])),
                    Err(CompileError::Empty) | Err(CompileError::Schema { .. }) if ps == &Value::Bool(false) => {}
                    Err(e) => return Err(e),
                }
            }
        } else if pattern_bodies.len() > 4 {
            self.unsupported(ptr, "patternProperties", "more than four patterns that match common names")?;
        } else {
            // A name matching several patterns must satisfy each of their
            // schemas: one region per set of patterns a name matches.
            let quoted = |b: &Builder, e: Expr| b.string_expr(e);
            let schemas: Vec<&Value> = pattern_props.values().collect();
            for set in 1u32..(1 << pattern_bodies.len()) {
                let members: Vec<usize> = (0..pattern_bodies.len()).filter(|i| set & (1 << i) != 0).collect();
                let all: Vec<Value> = members.iter().map(|&i| schemas[i].clone()).collect();
                let value = serde_json::json!({ "allOf": all });
                let v = match self.schema(&value, &format!("{ptr}/patternProperties"), base, depth + 1) {
                    Ok(v) => v,
                    Err(CompileError::Empty) => continue,
                    Err(e) => return Err(e),
                };
                let mut items: Vec<Expr> =
                    members.iter().map(|&i| quoted(self, Expr::regular(pattern_bodies[i].clone()))).collect();
                match &names_body {
                    Some(Expr::Intersect(ns)) => items.extend(ns.iter().cloned().map(|n| quoted(self, n))),
                    Some(n) => items.push(quoted(self, n.clone())),
                    None => {}
                }
                let mut excluded: Vec<Expr> = declared.iter().cloned().map(|d| quoted(self, d)).collect();
                for i in (0..pattern_bodies.len()).filter(|i| set & (1 << i) == 0) {
                    excluded.push(quoted(self, Expr::regular(pattern_bodies[i].clone())));
                }
                if !excluded.is_empty() {
                    items.push(Expr::Exclude {
                        base: Box::new(re("\"(?s:.)*\"")),
                        excluded: Box::new(Expr::Alt(excluded)),
                    });
                }
                let key = if items.len() == 1 { items.pop().expect("one") } else { Expr::Intersect(items) };
                extra.push(seq(vec![key, self.colon(), v]));
            }
        }
        if let Some(a) = &additional {
            let mut excluded = declared.clone();
            excluded.extend(pattern_bodies.iter().cloned().map(Expr::regular));
            let key_body = self.key_language(Expr::Regular(string::any_body_shared()), &names_body, &excluded);
            match self.schema(a, &format!("{ptr}/additionalProperties"), base, depth + 1) {
                Ok(v) => extra.push(seq(vec![key_body.clone(), self.colon(), v])),
                Err(CompileError::Empty) => {}
                Err(e) => return Err(e),
            }
        }
        let extra = match extra.len() {
            0 => None,
            1 => extra.pop(),
            _ => Some(Expr::Alt(extra)),
        };
        // Counts.
        let n_required = members.iter().filter(|x| x.required).count() as u64;
        let min_count = count(m, "minProperties", ptr)?.unwrap_or(0);
        let max_count = count(m, "maxProperties", ptr)?;
        if max_count.is_some_and(|mx| mx < n_required.max(min_count)) {
            return Err(CompileError::Empty);
        }
        let possible = if extra.is_some() { None } else { Some(members.len() as u64) };
        if possible.is_some_and(|p| p < min_count) {
            return Err(CompileError::Empty);
        }
        let max_count = max_count.filter(|mx| possible.is_none_or(|p| p > *mx));
        // At least one member beyond the required ones is the ordered form's
        // `non_empty`; other counts need the member sets.
        let counted = (min_count > n_required && min_count > 1) || max_count.is_some();
        let any_order = members.len() > 1 && members.len() <= self.opts.any_order_max;
        if any_order || counted {
            let members_set = MemberSets { min_count, max_count, ptr: ptr.to_string() };
            match self.member_sets(&members, &extra, &members_set)? {
                Some(body) => {
                    let obj = self.container("{", "}", body);
                    let r = self.add_rule(&format!("{ptr}:object"), Some(obj), false);
                    return Ok(Expr::Rule(r));
                }
                None if counted => {
                    let k = if max_count.is_some() { "maxProperties" } else { "minProperties" };
                    self.unsupported(ptr, k, "too many possible properties to count")?;
                }
                None => {}
            }
        }
        let non_empty = min_count > n_required;
        let body = if members.len() > BLOCKED_MEMBERS_MIN {
            self.blocked_members(members, extra, non_empty, ptr)
        } else {
            self.members(members, extra, non_empty)
        };
        let obj = self.container("{", "}", body);
        let r = self.add_rule(&format!("{ptr}:object"), Some(obj), false);
        Ok(Expr::Rule(r))
    }

    /// Ordered members of a large object in blocks of [`MEMBER_BLOCK`]: one
    /// automaton for all the members of an object grows faster than the
    /// members (after each optional member, every later one can start), and
    /// 250 members took seconds to determinise. Each block is a rule of its
    /// own, `F_j` (its first member without a comma), called from `L_j` (a
    /// comma, then `F_j`); each emits at least one of the block's declared members, then
    /// extras after each. Leading extras are a rule `X` of their own. The
    /// object body is then made of calls only, Horner style over blocks:
    /// `U_0 = X`, `U_j = U_{j-1} L_j? | F_j` (`L_j` required when the block
    /// holds a required member; `F_j` only while every earlier block may be
    /// empty). Each split of a member list into blocks is unique, so the
    /// body's automaton is deterministic (`sluicegate_core::calls`).
    fn blocked_members(&mut self, members: Vec<Member>, extra: Option<Expr>, non_empty: bool, ptr: &str) -> Items {
        let sep = self.comma();
        // Extras are one rule, called from every block.
        let extra = self.extra_rule(extra, ptr);
        let mut u: Option<Expr> = extra.as_ref().map(|x| {
            let leading = seq(vec![x.clone(), star(seq(vec![sep.clone(), x.clone()]))]);
            Expr::Rule(self.add_rule(&format!("{ptr}:extras"), Some(leading), false))
        });
        let mut all_optional_so_far = true;
        // The blocks entered at the object's `{`.
        let mut entered_first: Vec<RuleId> = Vec::new();
        let mut members = members.into_iter().peekable();
        let since = self.called_rules.len();
        let mut j = 0;
        while members.peek().is_some() {
            let block: Vec<Member> = members
                .by_ref()
                .take(MEMBER_BLOCK)
                .map(|m| Member { value: self.called_value(m.value, since, ptr), ..m })
                .collect();
            let required = block.iter().any(|m| m.required);
            let Some(first) = self.members_after(block, extra.clone(), false).some else { continue };
            let f_rule = self.add_rule(&format!("{ptr}:block{j}"), Some(first), false);
            let f = Expr::Rule(f_rule);
            // `L_j` calls `F_j` after the separator rather than holding a
            // copy of it: the copy was a second automaton of the block's
            // size, built when a member first ends (every `L_j` at once).
            let later = seq(vec![sep.clone(), f.clone()]);
            let l = Expr::Rule(self.add_rule(&format!("{ptr}:block{j},"), Some(later), false));
            let mut alts = Vec::new();
            if let Some(prev) = u.take() {
                alts.push(seq(vec![prev, if required { l } else { opt(l) }]));
            }
            if all_optional_so_far {
                entered_first.push(f_rule);
                alts.push(f);
            }
            all_optional_so_far &= !required;
            u = match alts.len() {
                0 => None,
                1 => alts.pop(),
                _ => Some(Expr::Alt(alts)),
            };
            j += 1;
        }
        if entered_first.len() >= EAGER_BLOCKS_MIN {
            for r in entered_first {
                self.rules[r].eager = true;
            }
        }
        let some = u.map(|u| Expr::Rule(self.add_rule(&format!("{ptr}:members"), Some(u), false)));
        Items { some, empty: all_optional_so_far && !non_empty }
    }

    /// A member value of a blocked object as a call, unless it is a short
    /// literal (`true`, `null`, a small enum). Inlined, every member copied
    /// its value's states into its block's automaton: an object of 258
    /// members whose values refer to one small definition took 17 ms of
    /// automata, all built when the object is entered (each block can
    /// start it), and each copy's states needed mask entries of their own.
    /// Called, a value is one rule for every member of the object with an
    /// equal value (those called since the `since`-th called rule).
    fn called_value(&mut self, value: Expr, since: usize, ptr: &str) -> Expr {
        match &value {
            Expr::Rule(r) if !self.rules[*r].inline => return value,
            Expr::Regular(h) if h.properties().maximum_len().is_some_and(|n| n <= SHORT_VALUE_BYTES) => return value,
            // A called rule must match something (its automaton is built on
            // its own); an optional member whose value matches nothing is
            // simply never written, so such a value stays inline.
            _ if !self.surely_matches(&value, 0) => return value,
            _ => {}
        }
        self.call(value, &format!("{ptr}:value"), since)
    }

    /// Whether `e` surely matches some string, without building it:
    /// intersections and differences (found empty only when built) and
    /// deep references are not sure.
    fn surely_matches(&self, e: &Expr, depth: usize) -> bool {
        match e {
            Expr::Regular(h) => h.properties().minimum_len().is_some(),
            Expr::Seq(xs) => xs.iter().all(|x| self.surely_matches(x, depth)),
            Expr::Alt(xs) => xs.iter().any(|x| self.surely_matches(x, depth)),
            Expr::Repeat { expr, min, .. } => *min == 0 || self.surely_matches(expr, depth),
            Expr::Rule(r) if self.rules[*r].inline => depth < 8 && self.surely_matches(&self.rules[*r].body, depth + 1),
            // Called rules are each checked where they are built.
            Expr::Rule(_) => true,
            Expr::AnyOrder(_) | Expr::Intersect(_) | Expr::Exclude { .. } => false,
        }
    }

    /// The extra-member expression as one rule (`{ptr}:extra`) that many
    /// places call, unless it is a rule already.
    fn extra_rule(&mut self, extra: Option<Expr>, ptr: &str) -> Option<Expr> {
        self.extra_rule_id(extra, ptr).map(Expr::Rule)
    }

    /// [`Builder::extra_rule`]'s rule.
    fn extra_rule_id(&mut self, extra: Option<Expr>, ptr: &str) -> Option<RuleId> {
        extra.map(|x| match x {
            Expr::Rule(r) => r,
            x => self.add_rule(&format!("{ptr}:extra"), Some(x), false),
        })
    }

    /// Ordered members with interleaved extras, comma-separated, as an
    /// expression linear in the number of members: `U_k` is "something was
    /// emitted, the last declared member considered is `k`", built Horner
    /// style as `U_k = U_{k-1} R_k | I_k` (the second only while every
    /// earlier member is optional), where `R_k` is extras then `, I_k`
    /// (optional unless required). Spelling the first member out for each
    /// possible position instead would be quadratic.
    fn members(&self, members: Vec<Member>, extra: Option<Expr>, non_empty: bool) -> Items {
        self.members_after(members, extra, true).with_empty(non_empty)
    }

    /// [`Builder::members`], with or without extras before the first
    /// declared member (`leading_extras`); the `empty` flag says whether every
    /// member is optional.
    fn members_after(&self, members: Vec<Member>, extra: Option<Expr>, leading_extras: bool) -> Items {
        let sep = self.comma();
        let extras = match &extra {
            Some(a) => star(seq(vec![sep.clone(), a.clone()])),
            None => seq(vec![]),
        };
        // U_0: an extra member came first.
        let mut u: Option<Expr> = if leading_extras { extra.clone() } else { None };
        let mut all_optional_so_far = true;
        for m in members {
            let expr = seq(vec![m.key, self.colon(), m.value]);
            let item = seq(vec![sep.clone(), expr.clone()]);
            let r = seq(vec![extras.clone(), if m.required { item } else { opt(item) }]);
            let mut alts = Vec::new();
            if let Some(prev) = u.take() {
                alts.push(seq(vec![prev, r]));
            }
            if all_optional_so_far {
                alts.push(expr);
            }
            all_optional_so_far &= !m.required;
            u = match alts.len() {
                0 => None,
                1 => alts.pop(),
                _ => Some(Expr::Alt(alts)),
            };
        }
        Items { some: u.map(|u| seq(vec![u, extras])), empty: all_optional_so_far }
    }

    fn key_body(&mut self, names: &Value, ptr: &str) -> Result<Option<Expr>, CompileError> {
        let flat = self.flatten(names, &format!("{ptr}/propertyNames"), "", 0)?;
        // Names are strings: a schema that rejects every string allows no name.
        if let Some(t) = flat.get("type") {
            let ok = match t {
                Value::String(t) => t == "string",
                Value::Array(a) => a.iter().any(|x| x == "string"),
                _ => false,
            };
            if !ok {
                return Ok(None);
            }
        }
        for k in flat.keys() {
            if is_assertion(k)
                && !matches!(k.as_str(), "pattern" | "minLength" | "maxLength" | "format" | "type" | "enum")
            {
                self.unsupported(ptr, "propertyNames", format!("keyword {k} in propertyNames"))?;
            }
        }
        if let Some(Value::Array(vals)) = flat.get("enum") {
            let alts: Vec<Expr> = vals
                .iter()
                .filter_map(Value::as_str)
                .map(|s| Expr::regular(Hir::literal(json_key_body(s).into_bytes())))
                .collect();
            if alts.is_empty() {
                return Ok(None);
            }
            return Ok(Some(Expr::Alt(alts)));
        }
        match self.string_schema(&flat, ptr)? {
            Expr::Seq(mut parts) if parts.len() == 3 => Ok(Some(parts.remove(1))),
            Expr::Intersect(items) => Ok(Some(Expr::Intersect(
                items
                    .into_iter()
                    .map(|i| match i {
                        Expr::Seq(mut parts) if parts.len() == 3 => parts.remove(1),
                        other => other,
                    })
                    .collect(),
            ))),
            _ => Err(err(ptr, "propertyNames", "unexpected key language")),
        }
    }

    /// Quoted keys whose bodies are in `base` (and in `names`, if given) but
    /// not in `excluded`. The quotes are part of any intersection or
    /// difference, so its automaton ends only after the closing quote.
    fn key_language(&self, base: Expr, names: &Option<Expr>, excluded: &[Expr]) -> Expr {
        let quoted = |e: Expr| self.string_expr(e);
        let unquote_intersect = |e: &Expr| -> Vec<Expr> {
            match e {
                Expr::Intersect(items) => items.iter().cloned().map(quoted).collect(),
                other => vec![quoted(other.clone())],
            }
        };
        let base = match names {
            Some(n) => {
                let mut items = vec![quoted(base)];
                items.extend(unquote_intersect(n));
                Expr::Intersect(items)
            }
            None => quoted(base),
        };
        if excluded.is_empty() {
            return base;
        }
        let excluded = Expr::Alt(excluded.iter().cloned().map(quoted).collect());
        match base {
            // Exclusion applies to the intersection as a whole.
            Expr::Intersect(_) => Expr::Intersect(vec![
                base,
                Expr::Exclude { base: Box::new(re("\"(?s:.)*\"")), excluded: Box::new(excluded) },
            ]),
            base => Expr::Exclude { base: Box::new(base), excluded: Box::new(excluded) },
        }
    }

    /// Whether no name matches two of the patterns.
    fn patterns_disjoint(&mut self, bodies: &[Hir]) -> Result<bool, CompileError> {
        let limits = sluicegate_core::DfaLimits::default();
        for i in 0..bodies.len() {
            for j in i + 1..bodies.len() {
                let a = sluicegate_core::dfa::ByteDfa::from_hir(&bodies[i], &limits)?;
                let b = sluicegate_core::dfa::ByteDfa::from_hir(&bodies[j], &limits)?;
                match sluicegate_core::dfa::ByteDfa::product(&a, &b, false, &limits) {
                    Err(CompileError::Empty) => {}
                    Ok(_) => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(true)
    }

    fn array_type(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        base: &str,
        depth: usize,
    ) -> Result<Expr, CompileError> {
        self.nested(|b| b.array_items_type(m, ptr, base, depth))
    }

    /// [`Builder::array_type`] inside [`Builder::nested`].
    fn array_items_type(
        &mut self,
        m: &Map<String, Value>,
        ptr: &str,
        base: &str,
        depth: usize,
    ) -> Result<Expr, CompileError> {
        // Positional items and the schema for the rest.
        let (prefix, rest): (Vec<Value>, Option<Value>) = match (m.get("prefixItems"), m.get("items")) {
            (Some(Value::Array(p)), items) => (p.clone(), Some(items.cloned().unwrap_or(Value::Bool(true)))),
            (None, Some(Value::Array(p))) => {
                (p.clone(), Some(m.get("additionalItems").cloned().unwrap_or(Value::Bool(true))))
            }
            (None, Some(items)) => (vec![], Some(items.clone())),
            (None, None) => (vec![], Some(Value::Bool(true))),
            (Some(_), _) => return Err(err(ptr, "prefixItems", "must be an array")),
        };
        let rest = match rest {
            Some(Value::Bool(false)) => None,
            other => other,
        };
        let min = count(m, "minItems", ptr)?.unwrap_or(0);
        let max = count(m, "maxItems", ptr)?;
        if max.is_some_and(|x| x < min) {
            return Err(CompileError::Empty);
        }
        if m.get("uniqueItems") == Some(&Value::Bool(true)) && max.is_none_or(|x| x > 1) {
            // Exact when every item comes from a few known values.
            if !m.contains_key("contains") {
                if let Some(e) = self.unique_array(&prefix, &rest, min, max, ptr, base)? {
                    return Ok(e);
                }
            }
            self.unsupported(
                ptr,
                "uniqueItems",
                "uniqueItems is only supported for items from a few known values (enum, const, boolean, null)",
            )?;
        }
        let mut min = min;
        let mut max = max;
        if let Some(c) = m.get("contains") {
            let min_contains = count(m, "minContains", ptr)?.unwrap_or(1);
            let max_contains = count(m, "maxContains", ptr)?;
            match c {
                // Every item matches `true`: contains bounds the length.
                Value::Bool(true) => {
                    min = min.max(min_contains);
                    if let Some(mc) = max_contains {
                        max = Some(max.map_or(mc, |x| x.min(mc)));
                    }
                }
                Value::Bool(false) if min_contains > 0 => return Err(CompileError::Empty),
                Value::Bool(false) => {}
                _ if min_contains == 0 && max_contains.is_none() => {}
                _ => {
                    if !prefix.is_empty() {
                        self.unsupported(ptr, "contains", "contains beside prefixItems is not supported")?;
                    } else if min > min_contains || max.is_some() {
                        self.unsupported(ptr, "contains", "contains together with minItems or maxItems")?;
                    } else {
                        return self.contains_array(c, rest, min_contains, max_contains, ptr, base, depth);
                    }
                }
            }
        }
        if max.is_some_and(|x| x < min) {
            return Err(CompileError::Empty);
        }
        let mut items = Vec::new();
        for (i, p) in prefix.iter().enumerate() {
            if max.is_some_and(|x| i as u64 >= x) {
                break;
            }
            match self.schema(p, &format!("{ptr}/prefixItems/{i}"), base, depth + 1) {
                Ok(e) => items.push(Some(e)),
                Err(CompileError::Empty) | Err(CompileError::Schema { .. }) if p == &Value::Bool(false) => {
                    items.push(None)
                }
                Err(e) => return Err(e),
            }
        }
        let rest_expr = match &rest {
            Some(r) => match self.schema(r, &format!("{ptr}/items"), base, depth + 1) {
                Ok(e) => Some(e),
                Err(CompileError::Empty) => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        // Build from the end: tail(i) = elements i.. each preceded by a separator.
        let sep = self.comma();
        let m_len = items.len() as u64;
        let mut tail = match &rest_expr {
            Some(r) if max.is_none_or(|x| x > m_len) => {
                let lo = min.saturating_sub(m_len);
                let hi = max.map(|x| x - m_len);
                if lo > 100_000 || hi.is_some_and(|h| h > 100_000) {
                    return Err(err(ptr, "maxItems", "item counts above 100000 are not supported"));
                }
                Expr::Repeat {
                    expr: Box::new(seq(vec![sep.clone(), r.clone()])),
                    min: lo as u32,
                    max: hi.map(|h| h as u32),
                }
            }
            _ => {
                if min > m_len {
                    return Err(CompileError::Empty);
                }
                seq(vec![])
            }
        };
        // A `false` positional item stops the array there.
        let mut first_false = None;
        for (i, it) in items.iter().enumerate() {
            if it.is_none() {
                first_false = Some(i);
                break;
            }
        }
        let usable = first_false.unwrap_or(items.len());
        if first_false.is_some() {
            if min as usize > usable {
                return Err(CompileError::Empty);
            }
            tail = seq(vec![]);
        }
        for i in (1..usable).rev() {
            let e = seq(vec![sep.clone(), items[i].clone().expect("usable"), tail]);
            tail = if (i as u64) < min { e } else { opt(e) };
        }
        let elements = if usable > 0 {
            let e = seq(vec![items[0].clone().expect("usable"), tail]);
            if min > 0 {
                Items::required(e)
            } else {
                Items::optional(e)
            }
        } else {
            // No positional items: the rest schema from the first element.
            match (&rest_expr, first_false) {
                (Some(r), None) if max.is_none_or(|x| x > 0) => {
                    let lo = min;
                    let hi = max;
                    let rest_tail = Expr::Repeat {
                        expr: Box::new(seq(vec![sep.clone(), r.clone()])),
                        min: lo.saturating_sub(1) as u32,
                        max: hi.map(|h| h.saturating_sub(1) as u32),
                    };
                    let e = seq(vec![r.clone(), rest_tail]);
                    if min > 0 {
                        Items::required(e)
                    } else {
                        Items::optional(e)
                    }
                }
                _ => {
                    if min > 0 {
                        return Err(CompileError::Empty);
                    }
                    Items::none()
                }
            }
        };
        let arr = self.container("[", "]", elements);
        let r = self.add_rule(&format!("{ptr}:array"), Some(arr), false);
        Ok(Expr::Rule(r))
    }
}

impl Builder<'_> {
    /// An array whose items match `items` (none if `None`), of which between
    /// `lo` and `hi` also match `c`. Each item either matches `c` (a C item)
    /// or not (an N item, needed only when `hi` is bounded); the items form
    /// blocks of N items around exactly one C item.
    #[allow(clippy::too_many_arguments)]
    fn contains_array(
        &mut self,
        c: &Value,
        items: Option<Value>,
        lo: u64,
        hi: Option<u64>,
        ptr: &str,
        base: &str,
        depth: usize,
    ) -> Result<Expr, CompileError> {
        if hi.is_some_and(|h| h < lo) {
            return Err(CompileError::Empty);
        }
        if lo > 1000 || hi.is_some_and(|h| h > 1000) {
            return Err(err(ptr, "minContains", "contains counts above 1000 are not supported"));
        }
        let Some(items) = items else {
            // No item at all: only the empty array, which contains nothing.
            if lo > 0 {
                return Err(CompileError::Empty);
            }
            let r = self.add_rule(&format!("{ptr}:array"), Some(self.container("[", "]", Items::none())), false);
            return Ok(Expr::Rule(r));
        };
        let cptr = format!("{ptr}/contains");
        let matching = serde_json::json!({ "allOf": [items.clone(), c.clone()] });
        let c_item = match self.schema(&matching, &cptr, base, depth + 1) {
            Ok(e) => Some(e),
            Err(CompileError::Empty) => None,
            Err(e) => return Err(e),
        };
        let other = match hi {
            Some(_) => {
                let bad = self.negate(c, &cptr, base, 0)?;
                serde_json::json!({ "allOf": [items, bad] })
            }
            None => items,
        };
        let n_item = match self.schema(&other, &format!("{ptr}/items"), base, depth + 1) {
            Ok(e) => Some(e),
            Err(CompileError::Empty) => None,
            Err(e) => return Err(e),
        };
        let sep = self.comma();
        let mut content = Vec::new();
        if lo == 0 {
            if let Some(n) = &n_item {
                content.push(seq(vec![n.clone(), star(seq(vec![sep.clone(), n.clone()]))]));
            }
        }
        if let Some(c) = c_item.filter(|_| hi != Some(0)) {
            let block = match &n_item {
                Some(n) => {
                    seq(vec![star(seq(vec![n.clone(), sep.clone()])), c, star(seq(vec![sep.clone(), n.clone()]))])
                }
                None => c,
            };
            let more = Expr::Repeat {
                expr: Box::new(seq(vec![sep.clone(), block.clone()])),
                min: lo.saturating_sub(1) as u32,
                max: hi.map(|h| h.saturating_sub(1) as u32),
            };
            content.push(seq(vec![block, more]));
        } else if lo > 0 {
            return Err(CompileError::Empty);
        }
        let body = if lo == 0 { Items::optional(Expr::Alt(content)) } else { Items::required(Expr::Alt(content)) };
        let arr = self.container("[", "]", body);
        let r = self.add_rule(&format!("{ptr}:array"), Some(arr), false);
        Ok(Expr::Rule(r))
    }
}

/// The union of compiled branches; an unsatisfiable branch adds nothing, and
/// a union of none is unsatisfiable.
/// The union of the branches that admit some value; the first error ends it
/// (branches are taken from the iterator one by one, so a lazy one compiles
/// nothing after that error).
fn union(branches: impl IntoIterator<Item = Result<Expr, CompileError>>) -> Result<Expr, CompileError> {
    let mut alts = Vec::new();
    for b in branches {
        match b {
            Ok(e) => alts.push(e),
            Err(CompileError::Empty) => {}
            Err(e) => return Err(e),
        }
    }
    if alts.is_empty() {
        return Err(CompileError::Empty);
    }
    Ok(Expr::Alt(alts))
}

/// A non-negative integer keyword (`2.0` counts as 2).
fn count(m: &Map<String, Value>, key: &str, ptr: &str) -> Result<Option<u64>, CompileError> {
    match m.get(key) {
        None => Ok(None),
        Some(v) => {
            match v.as_u64().or_else(|| v.as_f64().filter(|f| *f >= 0.0 && f.fract() == 0.0).map(|f| f as u64)) {
                Some(n) => Ok(Some(n)),
                None => Err(err(ptr, key, "must be a non-negative integer")),
            }
        }
    }
}

/// Whether a property name matches an ECMA pattern (search semantics).
fn pattern_matches(p: &str, name: &str) -> Result<bool, String> {
    ecma::is_match(p, name)
}

/// The encoded body of a key (between the quotes).
fn json_key_body(k: &str) -> String {
    let s = serde_json::to_string(k).expect("string");
    s[1..s.len() - 1].to_string()
}

/// No value can match both schemas: disjoint types or constants, or a
/// discriminating property.
fn pair_disjoint(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let types_of = |m: &Map<String, Value>| -> Vec<String> {
        match m.get("type") {
            Some(Value::String(t)) => vec![t.clone()],
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).map(String::from).collect(),
            _ => vec!["any".into()],
        }
    };
    let (ta, tb) = (types_of(a), types_of(b));
    let overlap = ta.iter().any(|x| {
        tb.iter().any(|y| {
            x == y || x == "any" || y == "any" || (x == "number" && y == "integer") || (x == "integer" && y == "number")
        })
    });
    if !overlap {
        return true;
    }
    if let (Some(Value::Array(ea)), Some(Value::Array(eb))) = (a.get("enum"), b.get("enum")) {
        if !ea.iter().any(|x| eb.iter().any(|y| check::json_eq(x, y))) {
            return true;
        }
    }
    discriminated(a, b)
}

/// Two object schemas are told apart by a required property whose allowed
/// constant values do not overlap.
fn discriminated(a: &Map<String, Value>, b: &Map<String, Value>) -> bool {
    let req = |m: &Map<String, Value>| -> Vec<String> {
        m.get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).map(String::from).collect())
            .unwrap_or_default()
    };
    let consts = |m: &Map<String, Value>, k: &str| -> Option<Vec<Value>> {
        let p = m.get("properties")?.get(k)?.as_object()?;
        if let Some(c) = p.get("const") {
            return Some(vec![c.clone()]);
        }
        p.get("enum")?.as_array().cloned()
    };
    let (ra, rb) = (req(a), req(b));
    for k in ra.iter().filter(|k| rb.contains(k)) {
        if let (Some(ca), Some(cb)) = (consts(a, k), consts(b, k)) {
            if !ca.iter().any(|x| cb.iter().any(|y| check::json_eq(x, y))) {
                return true;
            }
        }
    }
    // A property required by one and forbidden (`false`) in the other.
    for (x, y) in [(a, b), (b, a)] {
        for k in req(x) {
            if y.get("properties").and_then(|p| p.get(&k)) == Some(&Value::Bool(false)) {
                return true;
            }
            if y.get("additionalProperties") == Some(&Value::Bool(false))
                && y.get("properties").and_then(Value::as_object).is_some_and(|p| !p.contains_key(&k))
                && y.get("patternProperties").is_none()
            {
                return true;
            }
        }
    }
    false
}
