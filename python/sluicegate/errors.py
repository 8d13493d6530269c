"""Exceptions raised by sluicegate.

Every error sluicegate raises derives from :class:`SluicegateError`. Errors
about the caller's input also derive from :class:`ValueError`, so code that
already catches ``ValueError`` keeps working.
"""

from __future__ import annotations

from typing import Any, Optional


class SluicegateError(Exception):
    """Base class of every sluicegate error."""

    def __init__(self, message: str, **attrs: Any) -> None:
        super().__init__(message)
        self.message = message
        for key, value in attrs.items():
            setattr(self, key, value)


class SchemaError(SluicegateError, ValueError):
    """A JSON Schema is malformed, or uses a keyword that cannot be enforced exactly.

    ``pointer`` is the JSON pointer of the schema object holding the keyword
    (``#`` is the root) and ``keyword`` the keyword, when known.
    """

    pointer: Optional[str] = None
    keyword: Optional[str] = None


class GrammarError(SluicegateError, ValueError):
    """A regex, choice list, GBNF or Lark grammar is malformed or matches nothing.

    For GBNF and Lark, ``line`` and ``column`` locate the problem.
    """

    line: Optional[int] = None
    column: Optional[int] = None
    kind: Optional[str] = None


class LimitError(SluicegateError, ValueError):
    """A constraint exceeds a resource limit: automaton size, grammar size, enum size, the
    compile time budget, or the configurations a matcher step may hold (the message names
    the limit and its value). Large grammars build some rules on first use: a limit met
    there is raised by the step or mask that needed the rule, the matcher unchanged."""


class TokenizerError(SluicegateError, ValueError):
    """A tokenizer file or token list cannot be used."""


class ModelError(SluicegateError, OSError):
    """A model file cannot be read or loaded, or the default model is not installed."""


class MatcherError(SluicegateError, ValueError):
    """A matcher was driven wrongly (rollback past the start, feeding after EOS...)."""


class TokenRejected(MatcherError):
    """``consume_token`` was given a token the grammar does not allow here (``token``)."""

    token: Optional[int] = None


class GenerationError(SluicegateError, RuntimeError):
    """Generation failed (llama.cpp decode error, output of the wrong type...)."""


class GenerationIncomplete(GenerationError):
    """Generation stopped before the output was complete.

    ``reason`` is ``"max_tokens"`` or ``"context_full"``; ``text`` holds the
    partial output, which is never returned as if it were valid.
    """

    reason: Optional[str] = None
    text: str = ""


class InternalError(SluicegateError, RuntimeError):
    """A bug inside sluicegate (a Rust panic caught at the boundary). Please report it."""


__all__ = [
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
