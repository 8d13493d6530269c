//! `sluicegate extract`: a JSON Schema over many documents, one validated
//! JSONL record per input, resumable.
//!
//! Every input record ends as exactly one output line, written and flushed
//! the moment it is done: `{"id", "ok": true, "data", "tokens", "ms"}` or
//! `{"id", "ok": false, "error"}`. A killed job leaves only whole lines
//! (a torn last line is cut off on `--resume`), and `--resume` skips every
//! id already in the output.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, IsTerminal, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use sluicegate_grammars::Constraint;
use sluicegate_llama::{extraction_messages, typed_options, Event, Finish, Prompt, Request};

use crate::constraint::read_schema;
use crate::generate::{ModelArgs, SamplingArgs};

/// `sluicegate extract`.
#[derive(Args, Debug)]
pub struct ExtractArgs {
    /// JSON Schema file each output must satisfy.
    #[arg(long)]
    pub schema: String,
    /// Input: a .jsonl file, a .csv file, or a folder of .txt files (id = file name).
    #[arg(long)]
    pub input: String,
    /// Output JSONL file (default: stdout).
    #[arg(long)]
    pub output: Option<String>,
    /// Field (JSONL) or column (CSV) holding the text.
    #[arg(long, default_value = "text")]
    pub text_field: String,
    /// Field or column holding the record id (default: the line or row number).
    #[arg(long, default_value = "id")]
    pub id_field: String,
    /// Task instructions for the model, placed before the field list.
    #[arg(long)]
    pub instructions: Option<String>,
    /// JSONL of {"text": ..., "output": {...}} pairs shown to the model as worked examples.
    #[arg(long)]
    pub examples: Option<String>,
    /// Sequences generated at once in one model context.
    #[arg(long, default_value_t = 1)]
    pub parallel: usize,
    /// Skip ids already in the output file and append the rest.
    #[arg(long, conflicts_with = "overwrite")]
    pub resume: bool,
    /// Replace an existing output file.
    #[arg(long)]
    pub overwrite: bool,
    /// Process at most this many records (after skipping resumed ones).
    #[arg(long)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// One input record: its id and its text, or why it is unusable.
#[derive(Debug, Clone, PartialEq)]
pub struct InputRecord {
    pub id: String,
    pub text: Result<String, String>,
}

/// Read the records of a JSONL file, a CSV file or a folder of `.txt` files.
pub fn read_inputs(path: &Path, text_field: &str, id_field: &str) -> Result<Vec<InputRecord>, String> {
    let mut records = if path.is_dir() {
        read_folder(path)?
    } else if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")) {
        read_csv(path, text_field, id_field)?
    } else {
        read_jsonl(path, text_field, id_field)?
    };
    // Ids key the output and resuming: repeated ones get a suffix.
    let mut seen = HashSet::new();
    for r in &mut records {
        if !seen.insert(r.id.clone()) {
            let mut k = 2;
            while !seen.insert(format!("{}#{k}", r.id)) {
                k += 1;
            }
            r.id = format!("{}#{k}", r.id);
        }
    }
    Ok(records)
}

fn id_of(v: Option<&Value>, fallback: String) -> String {
    match v {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        _ => fallback,
    }
}

fn read_jsonl(path: &Path, text_field: &str, id_field: &str) -> Result<Vec<InputRecord>, String> {
    let file = File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in BufReader::new(file).split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let fallback = format!("line-{}", n + 1);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record = match serde_json::from_slice::<Value>(&line) {
            Err(e) => InputRecord { id: fallback, text: Err(format!("line {} is not valid JSON: {e}", n + 1)) },
            Ok(v) => {
                let id = id_of(v.get(id_field), fallback);
                let text = match v.get(text_field) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(_) => Err(format!("field {text_field:?} is not a string")),
                    None => Err(format!("field {text_field:?} is missing")),
                };
                InputRecord { id, text }
            }
        };
        out.push(record);
    }
    Ok(out)
}

fn read_csv(path: &Path, text_field: &str, id_field: &str) -> Result<Vec<InputRecord>, String> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .from_path(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let headers = reader.headers().map_err(|e| format!("{}: bad CSV header: {e}", path.display()))?.clone();
    let text_col = headers
        .iter()
        .position(|h| h == text_field)
        .ok_or_else(|| format!("{}: no column {text_field:?} (columns: {:?})", path.display(), headers))?;
    let id_col = headers.iter().position(|h| h == id_field);
    let mut out = Vec::new();
    for (n, row) in reader.records().enumerate() {
        let fallback = format!("row-{}", n + 1);
        out.push(match row {
            Err(e) => InputRecord { id: fallback, text: Err(format!("row {} is not valid CSV: {e}", n + 1)) },
            Ok(row) => InputRecord {
                id: id_col.and_then(|c| row.get(c)).filter(|s| !s.is_empty()).map_or(fallback, str::to_string),
                text: row.get(text_col).map(str::to_string).ok_or_else(|| format!("column {text_field:?} is missing")),
            },
        });
    }
    Ok(out)
}

fn read_folder(dir: &Path) -> Result<Vec<InputRecord>, String> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("cannot read {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == "txt"))
        .collect();
    paths.sort();
    Ok(paths
        .into_iter()
        .map(|p| InputRecord {
            id: p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default(),
            text: std::fs::read(&p)
                .map_err(|e| format!("cannot read: {e}"))
                .and_then(|b| String::from_utf8(b).map_err(|_| "the file is not UTF-8 text".to_string())),
        })
        .collect())
}

/// The ids already in an output file. A last line cut short by a kill is
/// removed so appending starts on a clean line.
pub fn resume_output(path: &Path) -> Result<HashSet<String>, String> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| format!("cannot open {} to resume: {e}", path.display()))?;
    let mut done = HashSet::new();
    let mut good_len = 0u64;
    let mut reader = BufReader::new(&mut file);
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        let whole = line.ends_with(b"\n");
        match serde_json::from_slice::<Value>(&line) {
            Ok(v) if whole => {
                if let Some(id) = v.get("id").and_then(Value::as_str) {
                    done.insert(id.to_string());
                }
                good_len += n as u64;
            }
            _ if !whole => break,
            _ => return Err(format!("{} has a line that is not JSON; not resuming into it", path.display())),
        }
    }
    drop(reader);
    file.set_len(good_len).map_err(|e| e.to_string())?;
    file.seek(SeekFrom::End(0)).map_err(|e| e.to_string())?;
    Ok(done)
}

fn read_examples(path: &str, validator: &jsonschema::Validator) -> Result<Vec<(String, Value)>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read examples {path}: {e}"))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let v: Value = serde_json::from_str(line).map_err(|e| format!("{path}:{}: not JSON: {e}", n + 1))?;
        let (Some(t), Some(o)) = (v.get("text").and_then(Value::as_str), v.get("output")) else {
            return Err(format!("{path}:{}: an example needs \"text\" and \"output\"", n + 1));
        };
        if !validator.is_valid(o) {
            return Err(format!("{path}:{}: the example output does not satisfy the schema", n + 1));
        }
        out.push((t.to_string(), o.clone()));
    }
    Ok(out)
}

/// Output lines, flushed one by one.
struct Sink {
    out: Box<dyn Write>,
}

impl Sink {
    fn write(&mut self, record: &Value) -> Result<(), String> {
        let mut line = serde_json::to_vec(record).map_err(|e| e.to_string())?;
        line.push(b'\n');
        self.out.write_all(&line).and_then(|()| self.out.flush()).map_err(|e| format!("cannot write output: {e}"))
    }
}

struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: usize,
    done: usize,
    ok: usize,
    failed: usize,
    tokens: usize,
    started: Instant,
    last_log: Instant,
}

impl Progress {
    fn new(total: usize) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:30} {pos}/{len} records  {per_sec}  {msg}  ETA {eta}  [{elapsed}]",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        let now = Instant::now();
        Progress { bar, total, done: 0, ok: 0, failed: 0, tokens: 0, started: now, last_log: now }
    }

    fn record(&mut self, ok: bool, tokens: usize) {
        self.done += 1;
        self.tokens += tokens;
        if ok {
            self.ok += 1;
        } else {
            self.failed += 1;
        }
        let tps = self.tokens as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        match &self.bar {
            Some(bar) => {
                bar.set_message(format!("{tps:.0} tok/s, {} failed", self.failed));
                bar.inc(1);
            }
            None if self.last_log.elapsed() >= Duration::from_secs(10) || self.done == self.total => {
                self.last_log = Instant::now();
                eprintln!(
                    "extract: {}/{} records ({} failed), {tps:.0} tokens/s, {:.0}s",
                    self.done,
                    self.total,
                    self.failed,
                    self.started.elapsed().as_secs_f64()
                );
            }
            None => {}
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
        let secs = self.started.elapsed().as_secs_f64();
        eprintln!(
            "extract: done: {} ok, {} failed, {} tokens in {secs:.1}s ({:.2} records/s, {:.0} tokens/s)",
            self.ok,
            self.failed,
            self.tokens,
            self.done as f64 / secs.max(1e-9),
            self.tokens as f64 / secs.max(1e-9)
        );
    }
}

/// Run `sluicegate extract`.
pub fn run(args: ExtractArgs) -> Result<ExitCode, String> {
    let schema = read_schema(&args.schema)?;
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .build(&schema)
        .map_err(|e| format!("schema {}: {e}", args.schema))?;
    let examples = match &args.examples {
        Some(p) => read_examples(p, &validator)?,
        None => Vec::new(),
    };
    let records = read_inputs(Path::new(&args.input), &args.text_field, &args.id_field)?;

    // Open the output before loading the model: a refusal costs nothing.
    let mut done = HashSet::new();
    let out: Box<dyn Write> = match &args.output {
        None => Box::new(std::io::stdout()),
        Some(path) => {
            let path = Path::new(path);
            let exists = path.exists() && std::fs::metadata(path).map(|m| m.len() > 0).unwrap_or(true);
            if exists && !args.resume && !args.overwrite {
                return Err(format!(
                    "{} exists; pass --resume to continue it or --overwrite to replace it",
                    path.display()
                ));
            }
            if exists && args.resume {
                done = resume_output(path)?;
                Box::new(OpenOptions::new().append(true).open(path).map_err(|e| e.to_string())?)
            } else {
                Box::new(File::create(path).map_err(|e| format!("cannot create {}: {e}", path.display()))?)
            }
        }
    };
    let mut sink = Sink { out };
    let mut todo: Vec<InputRecord> = records.into_iter().filter(|r| !done.contains(&r.id)).collect();
    if let Some(limit) = args.limit {
        todo.truncate(limit);
    }
    if !done.is_empty() {
        eprintln!("extract: resuming: {} records already done, {} to go", done.len(), todo.len());
    }
    let mut progress = Progress::new(todo.len());

    // Unusable input records become error lines at once.
    let mut usable = Vec::new();
    for r in todo {
        match r.text {
            Ok(text) => usable.push((r.id, text)),
            Err(error) => {
                sink.write(&json!({"id": r.id, "ok": false, "error": error}))?;
                progress.record(false, 0);
            }
        }
    }
    if usable.is_empty() {
        progress.finish();
        return Ok(ExitCode::SUCCESS);
    }

    let model = args.model.load()?;
    let options = typed_options();
    let grammar = model
        .compile(&Constraint::JsonSchema(schema.clone(), options))
        .map_err(|e| format!("schema {}: {e}", args.schema))?;
    let mut session = model.session(args.parallel.max(1)).map_err(|e| e.to_string())?;
    let gen_options = args.sampling.options();
    let ids: Vec<String> = usable.iter().map(|(id, _)| id.clone()).collect();
    let requests = usable.into_iter().map(|(_, text)| Request {
        prompt: Prompt::Chat(extraction_messages(&schema, args.instructions.as_deref(), &examples, &text)),
        constraint: Some(grammar.clone()),
        options: gen_options.clone(),
    });
    let mut write_error = None;
    session
        .generate_many(requests, |ev| {
            let Event::Done { index, result } = ev else { return };
            let id = &ids[index];
            let (record, ok, tokens) = match result {
                Err(e) => (json!({"id": id, "ok": false, "error": e.to_string()}), false, 0),
                Ok(g) => {
                    let ms = (g.elapsed.as_secs_f64() * 1e3).round();
                    let tokens = g.tokens.len();
                    match (g.finish, serde_json::from_slice::<Value>(&g.bytes)) {
                        (Finish::Incomplete(reason), _) => (
                            json!({"id": id, "ok": false, "tokens": tokens, "ms": ms, "partial": g.text(),
                                   "error": format!("stopped ({reason:?}) after {tokens} tokens before the output was complete")}),
                            false,
                            tokens,
                        ),
                        (_, Ok(data)) if validator.is_valid(&data) => {
                            (json!({"id": id, "ok": true, "data": data, "tokens": tokens, "ms": ms}), true, tokens)
                        }
                        // Never reached while the constraint holds; checked anyway.
                        (_, _) => (
                            json!({"id": id, "ok": false, "tokens": tokens, "ms": ms, "partial": g.text(),
                                   "error": "the output does not validate against the schema"}),
                            false,
                            tokens,
                        ),
                    }
                }
            };
            if write_error.is_none() {
                if let Err(e) = sink.write(&record) {
                    write_error = Some(e);
                }
            }
            progress.record(ok, tokens);
        })
        .map_err(|e| e.to_string())?;
    if let Some(e) = write_error {
        return Err(e);
    }
    progress.finish();
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resume_cuts_a_torn_last_line_and_lists_ids() {
        let dir = std::env::temp_dir().join(format!("sluicegate-resume-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.jsonl");
        std::fs::write(&path, "{\"id\":\"a\",\"ok\":true}\n{\"id\":\"b\",\"ok\":false}\n{\"id\":\"c\",\"o").unwrap();
        let done = resume_output(&path).unwrap();
        assert_eq!(done, HashSet::from(["a".to_string(), "b".to_string()]));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "{\"id\":\"a\",\"ok\":true}\n{\"id\":\"b\",\"ok\":false}\n"
        );
        std::fs::write(&path, "not json\n").unwrap();
        assert!(resume_output(&path).is_err());
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn jsonl_inputs_keep_bad_lines_as_errors_and_unique_ids() {
        let dir = std::env::temp_dir().join(format!("sluicegate-inputs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("in.jsonl");
        std::fs::write(&path, "{\"id\":1,\"text\":\"x\"}\n{broken\n\n{\"id\":1,\"text\":\"y\"}\n{\"id\":\"q\"}\n")
            .unwrap();
        let r = read_inputs(&path, "text", "id").unwrap();
        let ids: Vec<&str> = r.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["1", "line-2", "1#2", "q"]);
        assert!(r[1].text.as_ref().unwrap_err().contains("not valid JSON"));
        assert!(r[3].text.as_ref().unwrap_err().contains("missing"));
        let csv = dir.join("in.csv");
        std::fs::write(&csv, "id,text\nr1,\"hello, world\"\n,second\n").unwrap();
        let r = read_inputs(&csv, "text", "id").unwrap();
        assert_eq!(r[0], InputRecord { id: "r1".into(), text: Ok("hello, world".into()) });
        assert_eq!(r[1].id, "row-2");
        assert!(read_inputs(&csv, "body", "id").unwrap_err().contains("no column"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
