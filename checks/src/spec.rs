//! Structure-aware schemas: the fuzzer's bytes, read by `arbitrary`, become
//! a [`Spec`] tree over the keywords the compiler supports, which is turned
//! into a JSON Schema. Values are drawn from small pools (a few property
//! names, patterns, formats, literals) so that generated schemas combine
//! keywords meaningfully instead of being mostly unsatisfiable.

use arbitrary::{Arbitrary, Unstructured};
use serde_json::{json, Map, Value};

/// Deepest nesting turned into schema; deeper nodes become `true`.
const MAX_DEPTH: usize = 5;

const NAMES: &[&str] = &["a", "b", "id", "name", "x-y", "é", "", "tags"];
const PATTERNS: &[&str] = &["^a", "b$", "^[a-c]*$", "[0-9]{2}", "^.{1,3}$", "x|y", "^\\w+$", "é"];
const FORMATS: &[&str] = &["date", "time", "date-time", "email", "ipv4", "uuid", "uri", "hostname", "duration"];

/// A literal for `enum`/`const`.
#[derive(Debug, Arbitrary)]
pub enum Lit {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// A small integer.
    Int(i8),
    /// A decimal with one fraction digit.
    Tenths(i16),
    /// One of the pooled names as a string.
    Str(u8),
    /// A short array of integers.
    Ints(Vec<i8>),
    /// An object with one pooled key.
    Obj(u8, i8),
}

/// A schema tree.
#[derive(Debug, Arbitrary)]
pub enum Spec {
    /// `true`.
    Any,
    /// `false`.
    Nothing,
    /// `{"type": "null"}`.
    Null,
    /// `{"type": "boolean"}`.
    Bool,
    /// A string with optional length bounds, pattern and format.
    Str {
        /// `minLength`.
        min: Option<u8>,
        /// `maxLength`.
        max: Option<u8>,
        /// `pattern` (index into the pool).
        pattern: Option<u8>,
        /// `format` (index into the pool).
        format: Option<u8>,
    },
    /// An integer (or number) with optional bounds and `multipleOf`.
    Num {
        /// `integer` rather than `number`.
        integer: bool,
        /// `minimum`.
        min: Option<i16>,
        /// `maximum`.
        max: Option<i16>,
        /// `exclusiveMaximum` instead of `maximum`.
        exclusive: bool,
        /// `multipleOf` (0 means none).
        multiple: u8,
    },
    /// `enum`.
    Enum(Vec<Lit>),
    /// `const`.
    Const(Lit),
    /// An array.
    Arr {
        /// `items`.
        items: Option<Box<Spec>>,
        /// `prefixItems`.
        prefix: Vec<Spec>,
        /// `minItems`.
        min: Option<u8>,
        /// `maxItems`.
        max: Option<u8>,
        /// `uniqueItems`.
        unique: bool,
        /// `contains`.
        contains: Option<Box<Spec>>,
    },
    /// An object.
    Obj {
        /// `properties` (name index, schema).
        props: Vec<(u8, Spec)>,
        /// `required` (name indices).
        required: Vec<u8>,
        /// `additionalProperties` (`None`: absent).
        additional: Option<Box<Spec>>,
        /// `minProperties`.
        min: Option<u8>,
        /// `maxProperties`.
        max: Option<u8>,
    },
    /// `anyOf`.
    AnyOf(Vec<Spec>),
    /// `oneOf`.
    OneOf(Vec<Spec>),
    /// `allOf`.
    AllOf(Vec<Spec>),
    /// `not`.
    Not(Box<Spec>),
    /// `if`/`then`/`else`.
    If(Box<Spec>, Box<Spec>, Box<Spec>),
    /// `$ref` to one of the document's `$defs` (recursion included).
    Ref(u8),
}

/// A document: a root and the `$defs` its references point to.
#[derive(Debug, Arbitrary)]
pub struct Document {
    root: Spec,
    defs: Vec<Spec>,
}

fn pick<'a>(pool: &[&'a str], i: u8) -> &'a str {
    pool[i as usize % pool.len()]
}

impl Lit {
    fn to_json(&self) -> Value {
        match self {
            Lit::Null => Value::Null,
            Lit::Bool(b) => json!(b),
            Lit::Int(i) => json!(i),
            Lit::Tenths(t) => json!(*t as f64 / 10.0),
            Lit::Str(i) => json!(pick(NAMES, *i)),
            Lit::Ints(v) => json!(v.iter().take(4).collect::<Vec<_>>()),
            Lit::Obj(k, v) => json!({ pick(NAMES, *k): v }),
        }
    }
}

impl Spec {
    /// The schema for this tree; `$ref`s point at `#/$defs/d{i}` with `i < n_defs`.
    pub fn to_json(&self, n_defs: usize, depth: usize) -> Value {
        if depth > MAX_DEPTH {
            return json!(true);
        }
        let sub = |s: &Spec| s.to_json(n_defs, depth + 1);
        let list = |v: &[Spec]| Value::Array(v.iter().take(4).map(sub).collect());
        let mut m = Map::new();
        let mut put = |k: &str, v: Value| {
            m.insert(k.to_string(), v);
        };
        match self {
            Spec::Any => return json!(true),
            Spec::Nothing => return json!(false),
            Spec::Null => put("type", json!("null")),
            Spec::Bool => put("type", json!("boolean")),
            Spec::Str { min, max, pattern, format } => {
                put("type", json!("string"));
                min.map(|v| put("minLength", json!(v % 20)));
                max.map(|v| put("maxLength", json!(v % 40)));
                pattern.map(|i| put("pattern", json!(pick(PATTERNS, i))));
                format.map(|i| put("format", json!(pick(FORMATS, i))));
            }
            Spec::Num { integer, min, max, exclusive, multiple } => {
                put("type", json!(if *integer { "integer" } else { "number" }));
                min.map(|v| put("minimum", json!(v)));
                max.map(|v| put(if *exclusive { "exclusiveMaximum" } else { "maximum" }, json!(v)));
                match multiple % 6 {
                    1 => put("multipleOf", json!(2)),
                    2 => put("multipleOf", json!(0.5)),
                    3 => put("multipleOf", json!(10)),
                    _ => {}
                }
            }
            Spec::Enum(v) => put("enum", Value::Array(v.iter().take(6).map(Lit::to_json).collect())),
            Spec::Const(l) => put("const", l.to_json()),
            Spec::Arr { items, prefix, min, max, unique, contains } => {
                put("type", json!("array"));
                if let Some(i) = items {
                    put("items", sub(i));
                }
                if !prefix.is_empty() {
                    put("prefixItems", list(prefix));
                }
                min.map(|v| put("minItems", json!(v % 4)));
                max.map(|v| put("maxItems", json!(v % 6)));
                if *unique {
                    put("uniqueItems", json!(true));
                }
                if let Some(c) = contains {
                    put("contains", sub(c));
                }
            }
            Spec::Obj { props, required, additional, min, max } => {
                put("type", json!("object"));
                let p: Map<String, Value> =
                    props.iter().take(5).map(|(k, s)| (pick(NAMES, *k).into(), sub(s))).collect();
                put("properties", Value::Object(p));
                if !required.is_empty() {
                    put("required", json!(required.iter().take(3).map(|&i| pick(NAMES, i)).collect::<Vec<_>>()));
                }
                if let Some(a) = additional {
                    put("additionalProperties", sub(a));
                }
                min.map(|v| put("minProperties", json!(v % 4)));
                max.map(|v| put("maxProperties", json!(v % 6)));
            }
            Spec::AnyOf(v) => put("anyOf", list(v)),
            Spec::OneOf(v) => put("oneOf", list(v)),
            Spec::AllOf(v) => put("allOf", list(v)),
            Spec::Not(s) => put("not", sub(s)),
            Spec::If(c, t, e) => {
                put("if", sub(c));
                put("then", sub(t));
                put("else", sub(e));
            }
            Spec::Ref(i) => {
                if n_defs == 0 {
                    return json!(true);
                }
                put("$ref", json!(format!("#/$defs/d{}", *i as usize % n_defs)));
            }
        }
        Value::Object(m)
    }
}

impl Document {
    /// The schema document.
    pub fn to_json(&self) -> Value {
        let defs: Vec<&Spec> = self.defs.iter().take(3).collect();
        let mut root = self.root.to_json(defs.len(), 0);
        if !defs.is_empty() {
            let d: Map<String, Value> =
                defs.iter().enumerate().map(|(i, s)| (format!("d{i}"), s.to_json(defs.len(), 1))).collect();
            root = match root {
                Value::Object(mut m) => {
                    m.insert("$defs".into(), Value::Object(d));
                    Value::Object(m)
                }
                other => json!({ "allOf": [other], "$defs": d }),
            };
        }
        root
    }
}

/// The schema generated from the front of `data`, and the bytes `arbitrary`
/// left over (the walk's choices); `None` when the bytes do not make a document.
pub fn schema_and_rest(data: &[u8]) -> Option<(Value, &[u8])> {
    let mut u = Unstructured::new(data);
    let doc = Document::arbitrary(&mut u).ok()?;
    let rest = u.len();
    Some((doc.to_json(), &data[data.len() - rest..]))
}
