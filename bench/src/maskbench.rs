//! MaskBench: the published method, for any [`Engine`].
//!
//! For every schema: compile it (time to first mask, TTFM, is compile plus
//! the first mask). For every test instance: serialise it as `json.dumps`
//! does, tokenize it with the real tokenizer, and for every token compute the
//! full mask, check the token is allowed, and consume it (time between
//! masks, TBM, is mask plus consume). A schema passes when it compiles, every
//! valid instance is accepted and every invalid one rejected.

use std::io::{BufRead, Write};
use std::os::raw::c_long;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::engines::Engine;
use crate::feed::python_dumps;

/// One MaskBench schema with its instances, tokenized.
pub struct Case {
    /// The corpus id.
    pub id: String,
    /// The schema.
    pub schema: Value,
    /// `(valid, tokens)` per test instance.
    pub tests: Vec<(bool, Vec<u32>)>,
}

/// Read the corpus (`.jsonl` or `.jsonl.gz`), keeping every `every`-th
/// schema up to `limit` schemas, and of those only ids in `only` (when not
/// empty). Only kept schemas' instances are tokenized.
pub fn load(
    path: &Path,
    tok: &tokenizers::Tokenizer,
    every: usize,
    limit: Option<usize>,
    only: &[String],
) -> Result<Vec<Case>, String> {
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let reader: Box<dyn BufRead> = if raw.starts_with(&[0x1f, 0x8b]) {
        Box::new(std::io::BufReader::new(flate2::read::GzDecoder::new(std::io::Cursor::new(raw))))
    } else {
        Box::new(std::io::BufReader::new(std::io::Cursor::new(raw)))
    };
    let mut cases = Vec::new();
    for (i, line) in reader.lines().enumerate() {
        let line = line.map_err(|e| format!("{}: {e}", path.display()))?;
        if i % every.max(1) != 0 || line.trim().is_empty() {
            continue;
        }
        if limit.is_some_and(|l| cases.len() >= l) {
            break;
        }
        let v: Value = serde_json::from_str(&line).map_err(|e| format!("line {}: {e}", i + 1))?;
        if !only.is_empty() && !only.iter().any(|id| v["id"].as_str() == Some(id.as_str())) {
            continue;
        }
        let mut tests = Vec::new();
        for t in v["tests"].as_array().into_iter().flatten() {
            let text = python_dumps(&t["data"]);
            let enc = tok.encode(text.as_str(), false).map_err(|e| e.to_string())?;
            tests.push((t["valid"].as_bool().unwrap_or(false), enc.get_ids().to_vec()));
        }
        cases.push(Case { id: v["id"].as_str().unwrap_or("?").to_string(), schema: v["schema"].clone(), tests });
    }
    Ok(cases)
}

/// Per-schema result.
#[derive(Debug, Default)]
pub struct SchemaResult {
    id: String,
    compile_error: Option<String>,
    timeout: bool,
    crash: Option<String>,
    ttfm: Option<Duration>,
    validation_errors: usize,
    invalidation_errors: usize,
    valid_not_accepting: usize,
    tokens: usize,
    /// The slowest mask of this schema, to find the tail's schemas.
    tbm_max_us: f64,
    /// Where it was: (instance index, tokens consumed before it), to replay it.
    tbm_max_at: Option<(usize, usize)>,
    /// All of this schema's masks, to compare builds schema by schema.
    tbm_sum_us: f64,
    /// With fault counting: the minor page faults during the slowest mask.
    tbm_max_faults: Option<c_long>,
    /// With fault counting: masks of at least `SLOW_MASK_US`, and how many of them faulted.
    slow_masks: usize,
    slow_masks_faulted: usize,
    /// With fault counting: the slowest mask that took no page fault.
    tbm_max_unfaulted_us: f64,
}

/// A mask this slow is counted as slow when faults are counted.
const SLOW_MASK_US: f64 = 1000.0;

/// Minor page faults of this process so far (`getrusage`).
fn minor_faults() -> Option<c_long> {
    use nix::sys::resource::{getrusage, UsageWho};
    getrusage(UsageWho::RUSAGE_SELF).ok().map(|u| u.minor_page_faults())
}

impl SchemaResult {
    fn passing(&self) -> bool {
        self.compile_error.is_none()
            && !self.timeout
            && self.crash.is_none()
            && self.validation_errors == 0
            && self.invalidation_errors == 0
    }

    /// Record the mask started at `t0`; `faults_before` is the fault count read just before it,
    /// when faults are counted (read again here, after the time is taken).
    fn record_tbm(&mut self, t0: Instant, faults_before: Option<c_long>, at: (usize, usize), tbm: &mut Vec<f64>) {
        let us = t0.elapsed().as_secs_f64() * 1e6;
        let faults = faults_before.and_then(|before| Some(minor_faults()? - before));
        self.tbm_sum_us += us;
        if us > self.tbm_max_us {
            self.tbm_max_us = us;
            self.tbm_max_at = Some(at);
            self.tbm_max_faults = faults;
        }
        if let Some(faults) = faults {
            if us >= SLOW_MASK_US {
                self.slow_masks += 1;
                self.slow_masks_faulted += (faults > 0) as usize;
            }
            if faults == 0 {
                self.tbm_max_unfaulted_us = self.tbm_max_unfaulted_us.max(us);
            }
        }
        tbm.push(us);
    }
}

/// The one mask to profile, from `SLUICEGATE_PROFILE_MASK=INSTANCE,POSITION` (a schema's
/// `tbm_max_at`): under `perf record --control fifo:CTL -D -1` with `SLUICEGATE_PERF_CTL=CTL`,
/// only that mask is sampled.
fn profile_target() -> Option<(usize, usize)> {
    let v = std::env::var("SLUICEGATE_PROFILE_MASK").ok()?;
    let (a, b) = v.split_once(',')?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

fn perf_control(command: &str) {
    if let Ok(path) = std::env::var("SLUICEGATE_PERF_CTL") {
        if let Ok(mut f) = std::fs::OpenOptions::new().write(true).open(path) {
            let _ = writeln!(f, "{command}");
        }
    }
}

fn run_case(engine: &dyn Engine, case: &Case, opts: &RunOptions, tbm: &mut Vec<f64>) -> SchemaResult {
    let mut r = SchemaResult { id: case.id.clone(), ..SchemaResult::default() };
    let start = Instant::now();
    let deadline = start + opts.timeout;
    let compiled = match engine.compile(&case.schema) {
        Ok(c) => c,
        Err(e) => {
            r.compile_error = Some(e);
            return r;
        }
    };
    let profile_at = profile_target();
    let mut first = true;
    for (instance, (valid, tokens)) in case.tests.iter().enumerate() {
        let mut m = compiled.matcher();
        let mut rejected = false;
        for (position, &t) in tokens.iter().enumerate() {
            if Instant::now() > deadline {
                r.timeout = true;
                return r;
            }
            let profiled = profile_at == Some((instance, position));
            if profiled {
                perf_control("enable");
            }
            let faults_before = if opts.count_faults { minor_faults() } else { None };
            let t0 = Instant::now();
            let allowed = match m.mask_allows(t) {
                Ok(a) => a,
                Err(e) => {
                    r.crash = Some(format!("mask failed: {e}"));
                    return r;
                }
            };
            if profiled {
                perf_control("disable");
            }
            if first {
                r.ttfm = Some(start.elapsed());
                first = false;
            }
            if !allowed {
                r.record_tbm(t0, faults_before, (instance, position), tbm);
                rejected = true;
                break;
            }
            if let Err(e) = m.consume(t) {
                r.crash = Some(format!("consume of an allowed token failed: {e}"));
                return r;
            }
            r.record_tbm(t0, faults_before, (instance, position), tbm);
            r.tokens += 1;
        }
        if first {
            r.ttfm = Some(start.elapsed());
            first = false;
        }
        match (valid, rejected) {
            (true, true) => r.validation_errors += 1,
            (false, false) => {
                // Published method: an invalid instance whose tokens are all allowed is accepted.
                r.invalidation_errors += 1;
            }
            (true, false) => {
                if !m.accepting() {
                    r.valid_not_accepting += 1;
                }
            }
            (false, true) => {}
        }
    }
    if r.ttfm.is_none() {
        r.ttfm = Some(start.elapsed());
    }
    r
}

/// Percentiles of a sample, as the published table reports them.
pub fn percentiles(v: &mut [f64]) -> Value {
    if v.is_empty() {
        return json!(null);
    }
    v.sort_by(|a, b| a.partial_cmp(b).expect("no NaN"));
    let at = |q: f64| v[((v.len() - 1) as f64 * q).floor() as usize];
    let avg = v.iter().sum::<f64>() / v.len() as f64;
    json!({
        "avg": avg, "p25": at(0.25), "p50": at(0.5), "p75": at(0.75), "p90": at(0.9),
        "p95": at(0.95), "p99": at(0.99), "p99_9": at(0.999), "max": v[v.len() - 1],
    })
}

/// Peak resident memory of this process, in MiB (Linux).
pub fn peak_rss_mib() -> Option<f64> {
    status_mib("VmHWM:")
}

/// A `kB` field of `/proc/self/status`, in MiB (Linux).
fn status_mib(field: &str) -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// The highest resident set seen since the last [`RssWatch::restart`],
/// sampled every 2 ms by a thread of its own (the kernel's peak, `VmHWM`,
/// cannot be reset everywhere, and once a large schema has run, memory the
/// allocator keeps resident hides every later schema's own peak).
pub struct RssWatch {
    peak_kib: std::sync::Arc<std::sync::atomic::AtomicU64>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn rss_kib() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4)
}

impl RssWatch {
    /// Start sampling; `None` where `/proc/self/statm` cannot be read.
    pub fn start() -> Option<RssWatch> {
        use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
        let now = rss_kib()?;
        let peak_kib = std::sync::Arc::new(AtomicU64::new(now));
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let (p, s) = (peak_kib.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                if let Some(k) = rss_kib() {
                    p.fetch_max(k, Ordering::Relaxed);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        Some(RssWatch { peak_kib, stop })
    }

    /// Start a new interval at the current resident set.
    pub fn restart(&self) {
        self.peak_kib.store(rss_kib().unwrap_or(0), std::sync::atomic::Ordering::Relaxed);
    }

    /// The peak of the interval, MiB (also sampled now, so a short interval counts).
    pub fn peak_mib(&self) -> f64 {
        let now = rss_kib().unwrap_or(0);
        let p = self.peak_kib.fetch_max(now, std::sync::atomic::Ordering::Relaxed).max(now);
        p as f64 / 1024.0
    }
}

impl Drop for RssWatch {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Current resident set, MiB.
pub fn rss_mib() -> Option<f64> {
    status_mib("VmRSS:")
}

/// How `run` runs each schema.
pub struct RunOptions {
    /// Time limit per schema.
    pub timeout: Duration,
    /// Count minor page faults around every mask (`getrusage` before and after, outside the
    /// timed span): the summary then tells masks slowed by first touches of memory from the rest.
    pub count_faults: bool,
}

/// Run one engine over the corpus; write `dir/summary.json` and
/// `dir/schemas.jsonl`; return the summary.
pub fn run(engine: &dyn Engine, cases: &[Case], opts: &RunOptions, dir: &Path) -> Result<Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut per_schema = std::fs::File::create(dir.join("schemas.jsonl")).map_err(|e| e.to_string())?;
    let mut tbm = Vec::new();
    let mut ttfm = Vec::new();
    let (mut passing, mut compile_error, mut validation, mut invalidation, mut timeouts, mut crashes) =
        (0, 0, 0, 0, 0, 0);
    let mut not_accepting = 0;
    let mut invalidation_instances = 0;
    let mut tokens = 0;
    let started = Instant::now();
    // Per schema: the process's resident set while it ran, above the
    // resident set when it started (sampled; see `RssWatch`).
    let baseline = rss_mib().unwrap_or(0.0);
    let watch = RssWatch::start();
    let mut worst: (f64, String) = (0.0, String::new());
    let (mut slow_masks, mut slow_masks_faulted, mut tbm_max_unfaulted) = (0, 0, 0.0f64);
    for (i, case) in cases.iter().enumerate() {
        let before = rss_mib();
        if let Some(w) = &watch {
            w.restart();
        }
        let r = catch_unwind(AssertUnwindSafe(|| run_case(engine, case, opts, &mut tbm))).unwrap_or_else(|p| {
            let msg = p.downcast_ref::<String>().cloned().or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()));
            SchemaResult {
                id: case.id.clone(),
                crash: Some(msg.unwrap_or_else(|| "panic".into())),
                ..SchemaResult::default()
            }
        });
        passing += r.passing() as usize;
        compile_error += r.compile_error.is_some() as usize;
        validation += (r.validation_errors > 0) as usize;
        invalidation += (r.invalidation_errors > 0) as usize;
        invalidation_instances += r.invalidation_errors;
        timeouts += r.timeout as usize;
        crashes += r.crash.is_some() as usize;
        not_accepting += (r.valid_not_accepting > 0) as usize;
        tokens += r.tokens;
        slow_masks += r.slow_masks;
        slow_masks_faulted += r.slow_masks_faulted;
        tbm_max_unfaulted = tbm_max_unfaulted.max(r.tbm_max_unfaulted_us);
        if r.compile_error.is_none() {
            if let Some(t) = r.ttfm {
                ttfm.push(t.as_secs_f64() * 1e6);
            }
        }
        let growth = match (&watch, before) {
            (Some(w), Some(b)) => Some((w.peak_mib() - b).max(0.0)),
            _ => None,
        };
        if let Some(g) = growth.filter(|g| *g > worst.0) {
            worst = (g, r.id.clone());
        }
        let line = json!({
            "id": r.id, "passing": r.passing(), "compile_error": r.compile_error, "timeout": r.timeout,
            "crash": r.crash, "ttfm_us": r.ttfm.map(|t| t.as_secs_f64() * 1e6),
            "validation_errors": r.validation_errors, "invalidation_errors": r.invalidation_errors,
            "valid_not_accepting": r.valid_not_accepting, "tokens": r.tokens,
            "tbm_max_us": r.tbm_max_us, "tbm_max_at": r.tbm_max_at, "tbm_max_faults": r.tbm_max_faults,
            "tbm_sum_us": r.tbm_sum_us, "rss_growth_mib": growth,
        });
        writeln!(per_schema, "{line}").map_err(|e| e.to_string())?;
        if (i + 1) % 500 == 0 {
            eprintln!("{}: {}/{} schemas, {:.0} s", engine.name(), i + 1, cases.len(), started.elapsed().as_secs_f64());
        }
    }
    let faults = opts.count_faults.then(|| {
        json!({
            "slow_mask_us": SLOW_MASK_US,
            "slow_masks": slow_masks,
            "slow_masks_faulted": slow_masks_faulted,
            "tbm_max_unfaulted_us": tbm_max_unfaulted,
        })
    });
    let summary = json!({
        "engine": engine.name(),
        "version": engine.version(),
        "schemas": cases.len(),
        "passing": passing,
        "compile_error": compile_error,
        "validation_error": validation,
        "invalidation_error": invalidation,
        "invalidation_instances": invalidation_instances,
        "valid_not_accepting": not_accepting,
        "timeout": timeouts,
        "crash": crashes,
        "tokens": tokens,
        "tbm_us": percentiles(&mut tbm),
        "ttfm_us": percentiles(&mut ttfm),
        "seconds": started.elapsed().as_secs_f64(),
        "peak_rss_mib": peak_rss_mib(),
        "baseline_rss_mib": baseline,
        "max_schema_rss_growth_mib": worst.0,
        "max_schema_rss_growth_id": worst.1,
        "faults": faults,
    });
    std::fs::write(dir.join("summary.json"), serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    Ok(summary)
}

/// The published table, one column per engine.
pub fn markdown(summaries: &[Value]) -> String {
    let mut s = String::new();
    s.push_str("| | ");
    s.push_str(
        &summaries.iter().map(|x| x["engine"].as_str().unwrap_or("?").to_string()).collect::<Vec<_>>().join(" | "),
    );
    s.push_str(" |\n|---|");
    s.push_str(&"---|".repeat(summaries.len()));
    s.push('\n');
    let fmt = |v: &Value| match v {
        Value::Number(n) if n.is_f64() => format!("{:.1}", n.as_f64().unwrap_or(0.0)),
        other => other.to_string(),
    };
    for key in [
        "schemas",
        "passing",
        "compile_error",
        "validation_error",
        "invalidation_error",
        "valid_not_accepting",
        "timeout",
        "crash",
        "tokens",
    ] {
        s.push_str(&format!(
            "| {key} | {} |\n",
            summaries.iter().map(|x| fmt(&x[key])).collect::<Vec<_>>().join(" | ")
        ));
    }
    for metric in ["tbm_us", "ttfm_us"] {
        for p in ["avg", "p25", "p50", "p75", "p90", "p95", "p99", "p99_9", "max"] {
            s.push_str(&format!(
                "| {metric} {p} | {} |\n",
                summaries.iter().map(|x| fmt(&x[metric][p])).collect::<Vec<_>>().join(" | ")
            ));
        }
    }
    s.push_str(&format!(
        "| peak RSS MiB | {} |\n",
        summaries.iter().map(|x| fmt(&x["peak_rss_mib"])).collect::<Vec<_>>().join(" | ")
    ));
    s.push_str(&format!(
        "| RSS before the first schema, MiB | {} |\n",
        summaries.iter().map(|x| fmt(&x["baseline_rss_mib"])).collect::<Vec<_>>().join(" | ")
    ));
    s.push_str(&format!(
        "| largest RSS growth while one schema ran, MiB | {} |\n",
        summaries.iter().map(|x| fmt(&x["max_schema_rss_growth_mib"])).collect::<Vec<_>>().join(" | ")
    ));
    if summaries.iter().any(|x| !x["faults"].is_null()) {
        for (key, label) in [
            ("slow_masks", "masks of 1 ms or more (faults counted)"),
            ("slow_masks_faulted", "of which took a page fault"),
            ("tbm_max_unfaulted_us", "tbm_us max of masks without a page fault"),
        ] {
            s.push_str(&format!(
                "| {label} | {} |\n",
                summaries.iter().map(|x| fmt(&x["faults"][key])).collect::<Vec<_>>().join(" | ")
            ));
        }
    }
    s
}

/// Time to first mask over the schemas that every engine compiled, from
/// each engine's `schemas.jsonl` in `dirs` (one per engine, in the order of
/// the table's columns): each engine's percentiles in the table above are
/// over its own compiled schemas, and one engine may compile large schemas
/// the other refuses. `None` when a file is missing or unreadable.
pub fn common_ttfm_markdown(dirs: &[std::path::PathBuf]) -> Option<String> {
    let mut per_engine: Vec<std::collections::HashMap<String, f64>> = Vec::new();
    for dir in dirs {
        let text = std::fs::read_to_string(dir.join("schemas.jsonl")).ok()?;
        let mut ttfm = std::collections::HashMap::new();
        for line in text.lines() {
            let v: Value = serde_json::from_str(line).ok()?;
            if let (Some(id), Some(t), true) = (v["id"].as_str(), v["ttfm_us"].as_f64(), v["compile_error"].is_null()) {
                ttfm.insert(id.to_string(), t);
            }
        }
        per_engine.push(ttfm);
    }
    let (first, rest) = per_engine.split_first()?;
    let common: Vec<&String> = first.keys().filter(|id| rest.iter().all(|m| m.contains_key(*id))).collect();
    let mut s = format!("\nTime to first mask on the {} schemas every engine compiled:\n\n| |", common.len());
    for dir in dirs {
        s.push_str(&format!(" {} |", dir.file_name().and_then(|n| n.to_str()).unwrap_or("?")));
    }
    s.push_str("\n|---|");
    s.push_str(&"---|".repeat(dirs.len()));
    s.push('\n');
    let columns: Vec<Value> =
        per_engine.iter().map(|m| percentiles(&mut common.iter().map(|id| m[*id]).collect::<Vec<f64>>())).collect();
    for p in ["p50", "p90", "p99", "p99_9"] {
        let cells: Vec<String> = columns.iter().map(|c| format!("{:.1}", c[p].as_f64().unwrap_or(f64::NAN))).collect();
        s.push_str(&format!("| ttfm_us {p} (compiled by all) | {} |\n", cells.join(" | ")));
    }
    Some(s)
}
