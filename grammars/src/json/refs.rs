//! `$ref` resolution inside one document: JSON pointers, `$id` (and
//! draft-4 `id`) base URIs, and `$anchor`s. Remote references are errors.

use std::collections::HashMap;

use serde_json::Value;

/// Keywords whose value is a schema.
const SCHEMA_KEYS: &[&str] = &[
    "items",
    "additionalItems",
    "additionalProperties",
    "not",
    "if",
    "then",
    "else",
    "contains",
    "propertyNames",
    "unevaluatedProperties",
    "unevaluatedItems",
];
/// Keywords whose value is an array of schemas.
const SCHEMA_ARRAY_KEYS: &[&str] = &["allOf", "anyOf", "oneOf", "prefixItems", "items"];
/// Keywords whose value is a map of schemas.
const SCHEMA_MAP_KEYS: &[&str] =
    &["properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"];

pub struct Resolver<'a> {
    root: &'a Value,
    /// Absolute URI (no fragment), or `uri#anchor`, to the pointer of its schema.
    ids: HashMap<String, String>,
    /// Pointer of each schema with an `$id`, to its base URI.
    bases: Vec<(String, String)>,
}

/// Appends `/t`, escaped as a JSON pointer token.
fn push_token(ptr: &mut String, t: &str) {
    ptr.push('/');
    if t.contains(['~', '/']) {
        ptr.push_str(&escape_token(t));
    } else {
        ptr.push_str(t);
    }
}

fn escape_token(t: &str) -> String {
    t.replace('~', "~0").replace('/', "~1")
}

impl<'a> Resolver<'a> {
    pub fn new(root: &'a Value) -> Self {
        let mut r = Resolver { root, ids: HashMap::new(), bases: Vec::new() };
        r.scan(root, &mut "#".to_string(), "");
        r
    }

    /// Records the `$id`s and anchors below `v`, whose pointer is `ptr`
    /// (one buffer for the whole walk: the walk visits every schema of
    /// the document, and most have neither).
    fn scan(&mut self, v: &Value, ptr: &mut String, base: &str) {
        let Value::Object(map) = v else { return };
        let mut base = std::borrow::Cow::Borrowed(base);
        let id = map.get("$id").or_else(|| map.get("id")).and_then(Value::as_str);
        if let Some(id) = id {
            if let Some(anchor) = id.strip_prefix('#') {
                // Draft-6/7 plain-name fragment ids act as anchors.
                self.ids.insert(format!("{base}#{anchor}"), ptr.clone());
            } else {
                let joined = join(&base, id.split('#').next().unwrap_or(""));
                self.ids.insert(joined.clone(), ptr.clone());
                self.bases.push((ptr.clone(), joined.clone()));
                base = std::borrow::Cow::Owned(joined);
            }
        }
        // A `$ref` to a `$dynamicAnchor` resolves like one to an `$anchor`
        // (`$dynamicRef` itself is not supported).
        for key in ["$anchor", "$dynamicAnchor"] {
            if let Some(a) = map.get(key).and_then(Value::as_str) {
                self.ids.insert(format!("{base}#{a}"), ptr.clone());
            }
        }
        let outer = ptr.len();
        for (k, child) in map {
            let (single, array, children) = (
                SCHEMA_KEYS.contains(&k.as_str()),
                SCHEMA_ARRAY_KEYS.contains(&k.as_str()),
                SCHEMA_MAP_KEYS.contains(&k.as_str()),
            );
            if !(single || array || children) {
                continue;
            }
            push_token(ptr, k);
            let at_key = ptr.len();
            if single && child.is_object() {
                self.scan(child, ptr, &base);
            }
            if array {
                if let Value::Array(items) = child {
                    for (i, s) in items.iter().enumerate() {
                        ptr.truncate(at_key);
                        ptr.push('/');
                        ptr.push_str(&i.to_string());
                        self.scan(s, ptr, &base);
                    }
                }
            }
            if children {
                if let Value::Object(m) = child {
                    for (name, s) in m {
                        ptr.truncate(at_key);
                        push_token(ptr, name);
                        self.scan(s, ptr, &base);
                    }
                }
            }
            ptr.truncate(outer);
        }
    }

    /// The base URI in force at `ptr`.
    pub fn base_at(&self, ptr: &str) -> String {
        self.bases
            .iter()
            .filter(|(p, _)| ptr == p || ptr.starts_with(&format!("{p}/")))
            .max_by_key(|(p, _)| p.len())
            .map(|(_, b)| b.clone())
            .unwrap_or_default()
    }

    /// Resolve `reference` found at a schema whose base URI is `base`.
    /// Returns the target's pointer, its base URI and the schema.
    pub fn resolve(&self, base: &str, reference: &str) -> Result<(String, String, &'a Value), String> {
        let (uri, fragment) = match reference.split_once('#') {
            Some((u, f)) => (u, Some(f)),
            None => (reference, None),
        };
        let doc_ptr = if uri.is_empty() {
            let b = self.base_at_uri(base);
            b.unwrap_or_else(|| "#".to_string())
        } else {
            let abs = join(base, uri);
            match self.ids.get(&abs) {
                Some(p) => p.clone(),
                None => {
                    return Err(format!(
                        "remote reference {reference:?} is not supported (only references within the schema)"
                    ))
                }
            }
        };
        let target_base = if uri.is_empty() { base.to_string() } else { join(base, uri) };
        let ptr = match fragment {
            None | Some("") => doc_ptr,
            Some(f) if f.starts_with('/') => {
                let decoded = percent_decode(f);
                format!("{doc_ptr}{decoded}")
            }
            Some(anchor) => {
                let key = format!("{target_base}#{anchor}");
                self.ids.get(&key).cloned().ok_or_else(|| format!("anchor {anchor:?} not found"))?
            }
        };
        let value = self.lookup(&ptr).ok_or_else(|| format!("reference {reference:?} points to nothing"))?;
        Ok((ptr.clone(), self.base_at(&ptr), value))
    }

    fn base_at_uri(&self, base: &str) -> Option<String> {
        if base.is_empty() {
            return None;
        }
        self.ids.get(base).cloned()
    }

    /// The value at a `#/a/b` pointer.
    pub fn lookup(&self, ptr: &str) -> Option<&'a Value> {
        let path = ptr.strip_prefix('#')?;
        if path.is_empty() {
            return Some(self.root);
        }
        self.root.pointer(path)
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Resolve a URI reference against a base (enough of RFC 3986 for schema ids).
pub fn join(base: &str, r: &str) -> String {
    if r.is_empty() {
        return base.to_string();
    }
    if r.contains("://") || r.starts_with("urn:") || base.is_empty() {
        return r.to_string();
    }
    if let Some(rest) = r.strip_prefix('/') {
        // Scheme and authority of the base.
        if let Some(i) = base.find("://") {
            let after = &base[i + 3..];
            let host_end = after.find('/').map_or(base.len(), |j| i + 3 + j);
            return format!("{}/{rest}", &base[..host_end]);
        }
        return r.to_string();
    }
    let dir = match base.rfind('/') {
        Some(i) => &base[..=i],
        None => "",
    };
    let mut joined = format!("{dir}{r}");
    while let Some(i) = joined.find("/./") {
        joined.replace_range(i..i + 3, "/");
    }
    joined
}
