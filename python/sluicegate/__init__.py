"""sluicegate: structured generation that is exact or an error.

Two ways in:

* **Model API**: :class:`Llama` generates Pydantic models, JSON Schema
  values, regex matches, choices and tool calls with a GGUF model through
  llama.cpp (``Llama()`` loads the default SmolLM2-135M-Instruct).
* **Engine API** for your own inference loop: compile a :class:`Grammar` for
  a :class:`Tokenizer` with :func:`compile`, then per step
  ``matcher.fill_next_token_bitmask(bitmask, i)``,
  :func:`apply_token_bitmask_inplace` and ``matcher.consume_token(t)``.

Errors are in :mod:`sluicegate.errors` (also exported here).
"""

from ._native import __version__
from .bitmask import allocate_token_bitmask, apply_token_bitmask_inplace, fill_next_token_bitmasks
from .engine import CompiledGrammar, Grammar, Matcher, Tokenizer, compile, schema_of
from .errors import (
    GenerationError,
    GenerationIncomplete,
    GrammarError,
    InternalError,
    LimitError,
    MatcherError,
    ModelError,
    SchemaError,
    SluicegateError,
    TokenizerError,
    TokenRejected,
)
from .model import Llama, ToolCall

__all__ = [
    "__version__",
    "Tokenizer",
    "Grammar",
    "CompiledGrammar",
    "Matcher",
    "compile",
    "schema_of",
    "allocate_token_bitmask",
    "apply_token_bitmask_inplace",
    "fill_next_token_bitmasks",
    "Llama",
    "ToolCall",
    "SluicegateError",
    "SchemaError",
    "GrammarError",
    "LimitError",
    "TokenizerError",
    "ModelError",
    "MatcherError",
    "TokenRejected",
    "GenerationError",
    "GenerationIncomplete",
    "InternalError",
]
