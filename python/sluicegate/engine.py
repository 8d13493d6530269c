"""The engine API, for callers with their own inference loop.

A :class:`Grammar` (JSON Schema, regex, choice list, GBNF, Lark) is compiled
for a :class:`Tokenizer`'s vocabulary with :func:`compile`; the resulting
``CompiledGrammar`` is immutable and thread-safe, and hands out one
``Matcher`` per sequence. At each decoding step a matcher fills a row of an
int32 bitmask (:func:`allocate_token_bitmask`) that
:func:`apply_token_bitmask_inplace` applies to the logits.
"""

from __future__ import annotations

import json
import os
from typing import Any, Iterable, List, Optional, Sequence, Tuple, Union

from . import _native
from ._native import CompiledGrammar, Matcher

PathLike = Union[str, "os.PathLike[str]"]

__all__ = [
    "Tokenizer",
    "Grammar",
    "CompiledGrammar",
    "Matcher",
    "compile",
    "schema_of",
]


class Tokenizer:
    """A model's vocabulary: the bytes of every token id and the EOS ids."""

    __slots__ = ("_native",)

    def __init__(self, native: _native.Tokenizer) -> None:
        self._native = native

    @classmethod
    def from_file(
        cls,
        path: PathLike,
        *,
        eos_token_ids: Optional[Sequence[int]] = None,
        vocab_size: Optional[int] = None,
        verify: bool = True,
    ) -> "Tokenizer":
        """Load a Hugging Face ``tokenizer.json`` (or ``tokenizer.json.gz``).

        ``eos_token_ids`` overrides the EOS tokens found by name; ``vocab_size``
        is the model's logit count when it is larger than the tokenizer's;
        ``verify`` checks every token against the reference decoder.
        """
        ids = list(eos_token_ids) if eos_token_ids is not None else None
        return cls(_native.Tokenizer.from_file(os.fspath(path), eos_token_ids=ids, vocab_size=vocab_size, verify=verify))

    @classmethod
    def from_gguf(cls, path: PathLike) -> "Tokenizer":
        """Read the vocabulary of a GGUF model file (its weights are not loaded)."""
        return cls(_native.Tokenizer.from_gguf(os.fspath(path)))

    @classmethod
    def from_transformers(
        cls,
        tokenizer: Any,
        *,
        eos_token_ids: Optional[Sequence[int]] = None,
        vocab_size: Optional[int] = None,
    ) -> "Tokenizer":
        """From a ``transformers`` fast tokenizer (``PreTrainedTokenizerFast``).

        ``vocab_size`` should be the model's ``config.vocab_size`` when the
        logit vector is padded past the tokenizer.
        """
        backend = getattr(tokenizer, "backend_tokenizer", None)
        if backend is None:
            from .errors import TokenizerError

            raise TokenizerError(
                f"{type(tokenizer).__name__} is not a fast tokenizer; load it with use_fast=True "
                "or pass its tokenizer.json to Tokenizer.from_file"
            )
        if eos_token_ids is None and getattr(tokenizer, "eos_token_id", None) is not None:
            eos_token_ids = [int(tokenizer.eos_token_id)]
        if vocab_size is None:
            vocab_size = len(tokenizer)
        ids = list(eos_token_ids) if eos_token_ids is not None else None
        native = _native.Tokenizer.from_json_str(backend.to_str(), eos_token_ids=ids, vocab_size=vocab_size)
        return cls(native)

    @classmethod
    def from_vocab(
        cls,
        tokens: Sequence[Union[str, bytes, None]],
        eos_token_ids: Sequence[int],
        *,
        special_token_ids: Optional[Sequence[int]] = None,
        vocab_size: Optional[int] = None,
    ) -> "Tokenizer":
        """From explicit token texts: ``tokens[i]`` spells id ``i`` (``None``: unused).

        ``str`` tokens are encoded as UTF-8; give ``bytes`` for tokens that are
        not whole characters. EOS and ``special_token_ids`` never spell text.
        """
        raw: List[Optional[bytes]] = [t.encode("utf-8") if isinstance(t, str) else t for t in tokens]
        return cls(
            _native.Tokenizer.from_vocab(
                raw,
                list(eos_token_ids),
                special_token_ids=list(special_token_ids) if special_token_ids is not None else None,
                vocab_size=vocab_size,
            )
        )

    @property
    def vocab_size(self) -> int:
        """Width of a mask row: the number of logits the model produces."""
        return self._native.vocab_size

    @property
    def bitmask_words(self) -> int:
        """32-bit words in one bitmask row."""
        return self._native.bitmask_words

    @property
    def eos_token_ids(self) -> List[int]:
        """The ids that end generation."""
        return self._native.eos_token_ids

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes of token ``token_id`` (a special token's spelling; empty for unused ids)."""
        return self._native.token_bytes(token_id)

    def decode(self, token_ids: Iterable[int]) -> bytes:
        """The text bytes a token sequence spells (special tokens are skipped)."""
        return self._native.decode(list(token_ids))

    def __repr__(self) -> str:
        return repr(self._native)


def schema_of(schema: Any) -> Union[dict, bool]:
    """A JSON Schema as a dict, from a dict, JSON text, or a Pydantic model class."""
    if isinstance(schema, dict):
        return schema
    if isinstance(schema, (str, bytes)):
        from .errors import SchemaError

        try:
            value = json.loads(schema)
        except ValueError as e:
            raise SchemaError(f"the schema is not valid JSON: {e}") from None
        if not isinstance(value, (dict, bool)):
            raise SchemaError("a JSON Schema must be an object or a boolean")
        return value
    if isinstance(schema, bool):
        return schema
    json_schema = getattr(schema, "model_json_schema", None)
    if callable(json_schema):
        return json_schema()
    raise TypeError(f"expected a JSON Schema (dict or JSON text) or a Pydantic model class, not {type(schema).__name__}")


class Grammar:
    """A constraint on the output, checked but not yet compiled for a vocabulary."""

    __slots__ = ("_native", "schema")

    def __init__(self, native: _native.Grammar, schema: Union[dict, bool, None] = None) -> None:
        self._native = native
        #: The JSON Schema, for ``json_schema`` grammars.
        self.schema = schema

    @classmethod
    def json_schema(
        cls,
        schema: Any,
        *,
        whitespace: str = "flexible",
        max_whitespace: Optional[int] = None,
        indent: int = 2,
        additional_properties: str = "spec",
        lenient: bool = False,
        integers_without_fraction: bool = False,
        any_order_max: int = 12,
    ) -> "Grammar":
        """A JSON value valid against ``schema`` (a dict, JSON text, or a Pydantic model class).

        Options:
          * ``whitespace``: ``"flexible"`` (any whitespace between tokens, as
            JSON allows: ``json.dumps`` output and indented JSON; with
            ``max_whitespace``, runs of at most that many characters, which
            keeps a loop that samples freely from looping on whitespace), ``"compact"`` (none), or ``"indent"``
            (exactly ``json.dumps(value, indent=indent)``; schemas whose nesting
            is unbounded are refused with :class:`SchemaError`).
          * ``additional_properties``: ``"spec"`` (absent means allowed, as the
            specification says) or ``"forbid"``.
          * ``lenient``: drop keywords that cannot be enforced exactly instead
            of raising :class:`SchemaError`; :attr:`dropped` lists them.
          * ``integers_without_fraction``: integers are never written ``2.0``.
          * ``any_order_max``: objects with at most this many properties take
            them in any order; larger ones in schema order (0: always).

        Raises :class:`SchemaError` naming the keyword and its JSON pointer.
        """
        value = schema_of(schema)
        native = _native.Grammar.json_schema(
            json.dumps(value),
            whitespace=whitespace,
            max_whitespace=max_whitespace,
            indent=indent,
            additional_properties=additional_properties,
            lenient=lenient,
            integers_without_fraction=integers_without_fraction,
            any_order_max=any_order_max,
        )
        return cls(native, value)

    @classmethod
    def regex(cls, pattern: str) -> "Grammar":
        """The whole output matches ``pattern`` (Rust regex syntax, anchored at both ends)."""
        return cls(_native.Grammar.regex(pattern))

    @classmethod
    def choice(cls, options: Sequence[str]) -> "Grammar":
        """The output is exactly one of ``options``."""
        if isinstance(options, str):
            raise TypeError("choice() takes a list of strings, not one string")
        return cls(_native.Grammar.choice(list(options)))

    @classmethod
    def gbnf(cls, text: str) -> "Grammar":
        """A GBNF grammar (llama.cpp's format; the start rule is ``root``)."""
        return cls(_native.Grammar.gbnf(text))

    @classmethod
    def lark(cls, text: str) -> "Grammar":
        """A Lark grammar (the start rule is ``start``)."""
        return cls(_native.Grammar.lark(text))

    @classmethod
    def builtin(cls, name: str) -> "Grammar":
        """One of the bundled grammars; :meth:`builtin_names` lists them."""
        return cls(_native.Grammar.builtin(name))

    @staticmethod
    def builtin_names() -> List[str]:
        """Names of the bundled grammars."""
        return _native.Grammar.builtin_names()

    @property
    def kind(self) -> str:
        """``json_schema``, ``regex``, ``choice``, ``gbnf``, ``lark`` or ``builtin``."""
        return self._native.kind

    @property
    def dropped(self) -> List[Tuple[str, str, str]]:
        """Keywords lenient mode dropped, as ``(json_pointer, keyword, reason)``."""
        return self._native.dropped

    def __repr__(self) -> str:
        return f"Grammar(kind={self.kind!r})"


def compile(grammar: Grammar, tokenizer: Tokenizer, *, time_budget_s: Optional[float] = None) -> CompiledGrammar:
    """Compile ``grammar`` for ``tokenizer``'s vocabulary.

    The result is immutable and may be shared by any number of matchers on
    any threads; compile once per (grammar, vocabulary) and reuse it.
    """
    if not isinstance(grammar, Grammar):
        raise TypeError(f"compile() takes a Grammar, not {type(grammar).__name__}")
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"compile() takes a Tokenizer, not {type(tokenizer).__name__}")
    return _native.compile(grammar._native, tokenizer._native, time_budget_s=time_budget_s)
