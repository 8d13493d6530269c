//! `uniqueItems` where every item comes from a small finite set of values
//! (an `enum`, `const`, booleans, `null`): the array is a sequence of
//! distinct values, and the state after some items is the set of values
//! used so far (and the position, while positional items differ). Every
//! state is a small called rule, as for object members in any order.

use std::collections::HashMap;

use serde_json::{Map, Value};
use sluicegate_core::{CompileError, Expr, RuleId};

use super::{check, merge, seq, Builder, Items};

/// Most distinct values an array with unique items may draw from.
const MAX_VALUES: usize = 10;
/// Most states (position, values used) of one such array.
const MAX_STATES: usize = 1024;

/// (position, capped at the number of positional items; values used)
type State = (usize, u32);

impl Builder<'_> {
    /// The values a schema accepts, when they are few and known.
    fn finite_values(&mut self, s: &Value, ptr: &str, base: &str) -> Result<Option<Vec<Value>>, CompileError> {
        let m: Map<String, Value> = match s {
            Value::Bool(false) => return Ok(Some(vec![])),
            Value::Bool(true) => return Ok(None),
            _ => merge::normalize(self.flatten(s, ptr, base, 0)?),
        };
        let mut rest = m.clone();
        let candidates = match rest.remove("enum") {
            Some(Value::Array(vals)) => vals,
            _ => {
                let types: Vec<&str> = match m.get("type") {
                    Some(Value::String(t)) => vec![t.as_str()],
                    Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
                    _ => return Ok(None),
                };
                if !types.iter().all(|t| matches!(*t, "boolean" | "null")) {
                    return Ok(None);
                }
                let mut v = Vec::new();
                if types.contains(&"boolean") {
                    v.extend([Value::Bool(false), Value::Bool(true)]);
                }
                if types.contains(&"null") {
                    v.push(Value::Null);
                }
                v
            }
        };
        let rest = Value::Object(rest);
        let mut out: Vec<Value> = Vec::new();
        for v in candidates {
            match check::check(&rest, &v, &self.resolver, base, 0) {
                Ok(true) if !out.iter().any(|w| check::json_eq(w, &v)) => out.push(v),
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
        }
        Ok(Some(out))
    }

    /// An array of distinct items, each from a finite set: `prefix` gives the
    /// sets of the first positions, `rest` that of the later ones (`None`:
    /// no later item). `None` when a set is not finite or too large.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn unique_array(
        &mut self,
        prefix: &[Value],
        rest: &Option<Value>,
        min: u64,
        max: Option<u64>,
        ptr: &str,
        base: &str,
    ) -> Result<Option<Expr>, CompileError> {
        let mut values: Vec<Value> = Vec::new();
        let mut sets: Vec<u32> = Vec::new();
        let index = |v: &Value, values: &mut Vec<Value>| -> usize {
            match values.iter().position(|w| check::json_eq(w, v)) {
                Some(i) => i,
                None => {
                    values.push(v.clone());
                    values.len() - 1
                }
            }
        };
        for (i, p) in prefix.iter().enumerate() {
            let Some(vals) = self.finite_values(p, &format!("{ptr}/prefixItems/{i}"), base)? else {
                return Ok(None);
            };
            let mut set = 0u32;
            for v in &vals {
                let k = index(v, &mut values);
                if k >= MAX_VALUES {
                    return Ok(None);
                }
                set |= 1 << k;
            }
            sets.push(set);
        }
        let rest_set = match rest {
            None => None,
            Some(r) => {
                let Some(vals) = self.finite_values(r, &format!("{ptr}/items"), base)? else {
                    return Ok(None);
                };
                let mut set = 0u32;
                for v in &vals {
                    let k = index(v, &mut values);
                    if k >= MAX_VALUES {
                        return Ok(None);
                    }
                    set |= 1 << k;
                }
                Some(set)
            }
        };
        if (prefix.len() + 1) << values.len() > MAX_STATES {
            return Ok(None);
        }
        let allowed = |i: usize| -> u32 {
            match sets.get(i) {
                Some(s) => *s,
                None => rest_set.unwrap_or(0),
            }
        };
        let accepting = |s: State| s.1.count_ones() as u64 >= min;
        let room = |s: State| max.is_none_or(|mx| (s.1.count_ones() as u64) < mx);
        let step = |s: State, k: usize| -> Option<State> {
            (room(s) && allowed(s.0) & (1 << k) != 0 && s.1 & (1 << k) == 0)
                .then(|| ((s.0 + 1).min(prefix.len()), s.1 | 1 << k))
        };
        // Liveness by decreasing number of values used.
        let mut live: HashMap<State, bool> = HashMap::new();
        fn is_live(
            s: State,
            n: usize,
            live: &mut HashMap<State, bool>,
            accepting: &dyn Fn(State) -> bool,
            step: &dyn Fn(State, usize) -> Option<State>,
        ) -> bool {
            if let Some(&l) = live.get(&s) {
                return l;
            }
            let l = accepting(s) || (0..n).any(|k| step(s, k).is_some_and(|t| is_live(t, n, live, accepting, step)));
            live.insert(s, l);
            l
        }
        let n = values.len();
        let mut items = Vec::new();
        for v in &values {
            items.push(self.value_literal(v, ptr)?);
        }
        let sep = self.comma();
        let mut rules: HashMap<State, RuleId> = HashMap::new();
        let mut todo: Vec<State> = Vec::new();
        let call = |b: &mut Self, s: State, rules: &mut HashMap<State, RuleId>, todo: &mut Vec<State>| {
            let r = *rules.entry(s).or_insert_with(|| {
                todo.push(s);
                b.add_rule(&format!("{ptr}:unique{}.{:x}", s.0, s.1), None, false)
            });
            Expr::Rule(r)
        };
        let start: State = (0, 0);
        let mut first = Vec::new();
        if accepting(start) {
            first.push(seq(vec![]));
        }
        for (k, item) in items.iter().enumerate() {
            if let Some(t) = step(start, k).filter(|t| is_live(*t, n, &mut live, &accepting, &step)) {
                first.push(seq(vec![item.clone(), call(self, t, &mut rules, &mut todo)]));
            }
        }
        if first.is_empty() {
            return Err(CompileError::Empty);
        }
        while let Some(s) = todo.pop() {
            let mut alts = Vec::new();
            if accepting(s) {
                alts.push(seq(vec![]));
            }
            for (k, item) in items.iter().enumerate() {
                if let Some(t) = step(s, k).filter(|t| is_live(*t, n, &mut live, &accepting, &step)) {
                    alts.push(seq(vec![sep.clone(), item.clone(), call(self, t, &mut rules, &mut todo)]));
                }
            }
            let r = rules[&s];
            self.rules[r].body = Expr::Alt(alts);
        }
        let arr = self.container("[", "]", Items::from_alternatives(first));
        let r = self.add_rule(&format!("{ptr}:array"), Some(arr), false);
        Ok(Some(Expr::Rule(r)))
    }
}
