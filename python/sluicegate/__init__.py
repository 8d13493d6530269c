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

from . import bitmask, engine, errors, model

# Each submodule lists its public names once; the package exports them all.
__all__ = ["__version__"]
__all__ += engine.__all__
__all__ += bitmask.__all__
__all__ += model.__all__
__all__ += errors.__all__
