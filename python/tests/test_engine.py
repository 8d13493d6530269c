"""The engine API on real tokenizers: grammars, matchers, bitmasks, errors."""

from __future__ import annotations

import enum
import gzip
import json
import random
import threading
from typing import List, Literal, Optional

import jsonschema
import numpy as np
import pytest
from pydantic import BaseModel, Field

import sluicegate as sg
from conftest import tokenizer_path


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"


class Address(BaseModel):
    street: str = Field(max_length=40)
    zip: str = Field(pattern=r"^[0-9]{5}$")


class Person(BaseModel):
    name: str = Field(min_length=1, max_length=20)
    age: int = Field(ge=0, le=130)
    kind: Literal["customer", "supplier"]
    color: Color
    nickname: Optional[str] = None
    tags: List[str] = Field(default_factory=list, max_length=3)
    address: Address


def allowed_ids(bitmask_row: np.ndarray, vocab_size: int) -> np.ndarray:
    bits = np.unpackbits(bitmask_row.view(np.uint8), bitorder="little")[:vocab_size]
    return np.flatnonzero(bits)


_CLOSERS: dict = {}


def closer_tokens(tok: sg.Tokenizer) -> np.ndarray:
    """Boolean array over the vocabulary: the token contains `"`, `]` or `}` (ends a value)."""
    key = id(tok)
    if key not in _CLOSERS:
        _CLOSERS[key] = np.array(
            [any(c in tok.token_bytes(t) for c in b'"]}') for t in range(tok.vocab_size)], dtype=bool
        )
    return _CLOSERS[key]


def random_walk(matcher: sg.Matcher, tok: sg.Tokenizer, rng: random.Random, max_steps: int = 300) -> Optional[bytes]:
    """Sample allowed tokens until EOS is taken; the output bytes, or None if the bound was hit.

    Half the steps pick among tokens that close a string, array or object (when any is allowed), so
    walks finish; the other half pick uniformly among all allowed text tokens.
    """
    bitmask = sg.allocate_token_bitmask(1, tok.vocab_size)
    closers = closer_tokens(tok)
    eos = np.array(tok.eos_token_ids)
    out = b""
    for _ in range(max_steps):
        matcher.fill_next_token_bitmask(bitmask, 0)
        ids = allowed_ids(bitmask[0], tok.vocab_size)
        assert len(ids) > 0, f"dead end after {out!r}"
        text_ids = ids[~np.isin(ids, eos)]
        if matcher.is_accepting() and (len(text_ids) == 0 or rng.random() < 0.3):
            matcher.consume_token(tok.eos_token_ids[0])
            return out
        pool = text_ids[closers[text_ids]] if rng.random() < 0.5 else text_ids
        if len(pool) == 0:
            pool = text_ids
        t = int(pool[rng.randrange(len(pool))])
        matcher.consume_token(t)
        out += tok.token_bytes(t)
    return None


def test_tokenizer_loads_and_reports(llama3: sg.Tokenizer) -> None:
    assert llama3.vocab_size == 128256
    assert llama3.bitmask_words == 4008
    assert 128009 in llama3.eos_token_ids or 128001 in llama3.eos_token_ids
    assert llama3.decode([llama3.eos_token_ids[0]]) == b""
    with pytest.raises(IndexError):
        llama3.token_bytes(10**7)


@pytest.mark.parametrize("name", ["llama2", "qwen3", "gemma3"])
def test_other_tokenizers_load(name: str) -> None:
    tok = sg.Tokenizer.from_file(tokenizer_path(name))
    compiled = sg.compile(sg.Grammar.choice(["yes", "no"]), tok)
    m = compiled.matcher()
    bitmask = sg.allocate_token_bitmask(1, tok.vocab_size)
    m.fill_next_token_bitmask(bitmask)
    ids = allowed_ids(bitmask[0], tok.vocab_size)
    spelled = {tok.token_bytes(int(i)) for i in ids}
    assert spelled, "something must be allowed"
    assert all(b"yes".startswith(s) or b"no".startswith(s) for s in spelled)


def test_pydantic_schema_random_walks_validate(llama3: sg.Tokenizer) -> None:
    # Extra properties forbidden: with the spec's default, uniform walks wander through made-up keys.
    grammar = sg.Grammar.json_schema(Person, additional_properties="forbid")
    assert grammar.kind == "json_schema"
    compiled = sg.compile(grammar, llama3)
    rng = random.Random(7)
    completed = 0
    for _ in range(12):
        out = random_walk(compiled.matcher(), llama3, rng)
        if out is None:
            continue
        completed += 1
        Person.model_validate_json(out)  # raises if the mask let anything invalid through
        jsonschema.validate(json.loads(out), Person.model_json_schema())
    assert completed >= 3, f"only {completed} walks completed"


def test_bitmask_bits_agree_with_consume_token(llama3: sg.Tokenizer) -> None:
    compiled = sg.compile(sg.Grammar.json_schema({"type": "object", "properties": {"n": {"type": "integer"}}}), llama3)
    m = compiled.matcher()
    rng = random.Random(3)
    bitmask = sg.allocate_token_bitmask(2, llama3.vocab_size)
    for _step in range(6):
        m.fill_next_token_bitmask(bitmask, 1)
        allowed = set(int(i) for i in allowed_ids(bitmask[1], llama3.vocab_size))
        assert (m.next_token_bitmask() == bitmask[1]).all()
        sample = rng.sample(range(llama3.vocab_size), 300) + rng.sample(sorted(allowed), min(50, len(allowed)))
        for t in sample:
            assert m.is_token_allowed(t) == (t in allowed), f"token {t} {llama3.token_bytes(t)!r}"
            ok = m.try_consume_token(t)
            assert ok == (t in allowed), f"token {t} {llama3.token_bytes(t)!r}"
            if ok:
                m.rollback(1)
        text = sorted(t for t in allowed if t not in llama3.eos_token_ids)
        m.consume_token(rng.choice(text))
    assert (bitmask[0] == -1).all(), "row 0 was never written"


def test_force_feed_json_dumps_and_forced_tokens(llama3: sg.Tokenizer) -> None:
    person = Person(name="Ada", age=36, kind="customer", color=Color.RED, address=Address(street="Main", zip="12345"))
    grammar = sg.Grammar.json_schema(Person)
    m = sg.compile(grammar, llama3).matcher()
    m.consume_bytes(json.dumps(person.model_dump(mode="json")).encode())
    assert m.is_accepting()
    m.reset()
    assert m.num_consumed == 0
    m.consume_bytes(b'{"name": "Ada", "age": 3')
    assert not m.is_accepting()
    with pytest.raises(sg.MatcherError):
        m.consume_bytes(b"x")
    # After the age field only `,` (with whitespace) or digits may follow; the key is then forced.
    strict = sg.compile(sg.Grammar.json_schema(Person, whitespace="compact", any_order_max=0, additional_properties="forbid"), llama3).matcher()
    strict.consume_bytes(b'{"name":"Ada","age":36,')
    assert strict.forced_bytes() == b'"kind":"'
    forced = strict.forced_tokens()
    assert forced and llama3.decode(forced) == b'"kind":"'[: len(llama3.decode(forced))]


def test_indented_json_is_exactly_json_dumps_indent(llama3: sg.Tokenizer) -> None:
    value = {"name": "Ada", "tags": ["a", "b"], "empty": []}
    schema = {
        "type": "object",
        "properties": {"name": {"type": "string"}, "tags": {"type": "array", "items": {"type": "string"}},
                       "empty": {"type": "array", "items": {"type": "integer"}}},
        "additionalProperties": False,
    }
    m = sg.compile(sg.Grammar.json_schema(schema, whitespace="indent", indent=4), llama3).matcher()
    m.consume_bytes(json.dumps(value, indent=4).encode())
    assert m.is_accepting()
    m.reset()
    with pytest.raises(sg.MatcherError):
        m.consume_bytes(json.dumps(value, indent=2).encode())
    tree = {"$defs": {"node": {"type": "array", "items": {"$ref": "#/$defs/node"}}}, "$ref": "#/$defs/node"}
    with pytest.raises(sg.SchemaError) as e:
        sg.Grammar.json_schema(tree, whitespace="indent")
    assert "indent" in str(e.value)


def test_regex_choice_gbnf_lark_builtin(llama3: sg.Tokenizer) -> None:
    cases = [
        (sg.Grammar.regex(r"[0-9]{3}-[a-z]{2}"), b"123-ab", b"12-ab"),
        (sg.Grammar.choice(["alpha", "beta"]), b"beta", b"gamma"),
        (sg.Grammar.gbnf('root ::= "a" root | "b"'), b"aaab", b"aaa"),
        (sg.Grammar.lark('start: "x"+ "y"'), b"xxy", b"y"),
        (sg.Grammar.builtin("json.gbnf"), b'{"a": [1, 2]}', b"{"),
    ]
    for grammar, good, bad in cases:
        m = sg.compile(grammar, llama3).matcher()
        m.consume_bytes(good)
        assert m.is_accepting(), grammar
        m.reset()
        try:
            m.consume_bytes(bad)
            accepted = m.is_accepting()
        except sg.MatcherError:
            accepted = False
        assert not accepted, (grammar, bad)
    assert "json.gbnf" in sg.Grammar.builtin_names()


def test_batch_fill_matches_single_fills(llama3: sg.Tokenizer) -> None:
    compiled = sg.compile(sg.Grammar.json_schema(Person), llama3)
    rng = random.Random(11)
    matchers = []
    for i in range(6):
        m = compiled.matcher()
        for _ in range(i * 3):
            ids = allowed_ids(m.next_token_bitmask(), llama3.vocab_size)
            ids = ids[~np.isin(ids, llama3.eos_token_ids)]
            m.consume_token(int(ids[rng.randrange(len(ids))]))
        matchers.append(m)
    batch = sg.allocate_token_bitmask(8, llama3.vocab_size)
    sg.fill_next_token_bitmasks(matchers, batch, indices=[7, 0, 1, 2, 3, 4])
    for m, row in zip(matchers, [7, 0, 1, 2, 3, 4]):
        assert (batch[row] == m.next_token_bitmask()).all()
    assert (batch[5] == -1).all() and (batch[6] == -1).all()
    with pytest.raises(ValueError):
        sg.fill_next_token_bitmasks(matchers[:2], batch, indices=[1, 1])
    with pytest.raises(IndexError):
        sg.fill_next_token_bitmasks(matchers[:1], batch, indices=[8])


def test_compiled_grammar_shared_across_threads(llama3: sg.Tokenizer) -> None:
    compiled = sg.compile(sg.Grammar.json_schema(Person), llama3)
    prefix = b'{"name": "Bo", "age": 4'

    def mask_after_prefix() -> np.ndarray:
        m = compiled.matcher()
        m.consume_bytes(prefix)
        return m.next_token_bitmask()

    expected = mask_after_prefix()
    results: List[np.ndarray] = []
    errors: List[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(5):
                results.append(mask_after_prefix())
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 40 and all((r == expected).all() for r in results)


def test_apply_token_bitmask_numpy() -> None:
    vocab = 70
    bitmask = np.zeros((2, 3), dtype=np.int32)
    bitmask[0, 0] = 0b101  # tokens 0 and 2
    bitmask[1, 2] = 1 << 5  # token 69
    logits = np.zeros((2, vocab), dtype=np.float32)
    sg.apply_token_bitmask_inplace(logits, bitmask)
    assert np.isfinite(logits[0]).nonzero()[0].tolist() == [0, 2]
    assert np.isfinite(logits[1]).nonzero()[0].tolist() == [69]
    one = np.ones(vocab, dtype=np.float64)
    sg.apply_token_bitmask_inplace(one, bitmask[0])
    assert np.isfinite(one).nonzero()[0].tolist() == [0, 2]
    partial = np.zeros((2, vocab), dtype=np.float32)
    sg.apply_token_bitmask_inplace(partial, bitmask, indices=[1])
    assert np.isfinite(partial[0]).all() and np.isfinite(partial[1]).sum() == 1
    # Logits wider than the mask: the ids past it are forbidden.
    wide = np.zeros(100, dtype=np.float32)
    sg.apply_token_bitmask_inplace(wide, bitmask[1])
    assert np.isfinite(wide).nonzero()[0].tolist() == [69]
    with pytest.raises(ValueError):
        sg.apply_token_bitmask_inplace(np.zeros((3, vocab), dtype=np.float32), bitmask)
    with pytest.raises(TypeError):
        sg.apply_token_bitmask_inplace(np.zeros(vocab, dtype=np.int64), bitmask[0])


def _torch_devices() -> List[str]:
    try:
        import torch
    except ImportError:
        return ["cpu"]
    return ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _allowed_reference(bitmask: np.ndarray, vocab: int) -> np.ndarray:
    """The allowed tokens of ``bitmask`` rows, bit by bit in Python."""
    rows = np.atleast_2d(bitmask)
    out = np.zeros((rows.shape[0], vocab), dtype=bool)
    for r, row in enumerate(rows):
        for t in range(min(vocab, 32 * row.shape[0])):
            out[r, t] = (int(row[t // 32]) >> (t % 32)) & 1 == 1
    return out.reshape(bitmask.shape[:-1] + (vocab,))


@pytest.mark.parametrize("device", _torch_devices())
def test_apply_token_bitmask_torch(device: str) -> None:
    torch = pytest.importorskip("torch")
    bitmask = np.zeros((1, 2), dtype=np.int32)
    bitmask[0, 1] = 1 << 3  # token 35
    logits = torch.zeros((1, 40), device=device)
    sg.apply_token_bitmask_inplace(logits, bitmask)
    assert torch.isfinite(logits[0]).nonzero().flatten().tolist() == [35]
    # Every bit pattern (the sign bit too), each float type, 1-D, rows by
    # index, logits wider than the mask, and a bitmask already on the device.
    rng = np.random.default_rng(5)
    for vocab in (40, 100, 1000):
        words = (vocab + 31) // 32
        bm = rng.integers(-(2**31), 2**31 - 1, size=(4, words), dtype=np.int64).astype(np.int32)
        for dtype in (torch.float32, torch.float16, torch.bfloat16):
            x = torch.randn((4, vocab), device=device).to(dtype)
            sg.apply_token_bitmask_inplace(x, bm)
            assert np.array_equal(torch.isfinite(x).cpu().numpy(), _allowed_reference(bm, vocab))
        one = torch.zeros(vocab, device=device)
        sg.apply_token_bitmask_inplace(one, torch.as_tensor(bm[2], device=device))
        assert np.array_equal(torch.isfinite(one).cpu().numpy(), _allowed_reference(bm[2], vocab))
        part = torch.zeros((4, vocab), device=device)
        sg.apply_token_bitmask_inplace(part, bm, indices=[1, 3])
        expected = np.ones((4, vocab), dtype=bool)
        expected[[1, 3]] = _allowed_reference(bm[[1, 3]], vocab)
        assert np.array_equal(torch.isfinite(part).cpu().numpy(), expected)
    wide = torch.zeros((1, 100), device=device)
    sg.apply_token_bitmask_inplace(wide, np.full((1, 2), -1, dtype=np.int32))
    assert torch.isfinite(wide).sum().item() == 64, "ids past the mask are forbidden"


def test_from_vocab_and_byte_tokens() -> None:
    tok = sg.Tokenizer.from_vocab(["a", "b", "ab", b"\xc3", b"\xa9", None, "</s>"], eos_token_ids=[6])
    assert tok.vocab_size == 7
    m = sg.compile(sg.Grammar.regex("(ab|é)+"), tok).matcher()
    m.consume_token(3)  # first byte of é
    assert not m.is_accepting()
    assert not m.is_token_allowed(0)
    m.consume_token(4)
    assert m.is_accepting()
    with pytest.raises(IndexError):
        m.consume_token(99)
    with pytest.raises(sg.TokenRejected) as e:
        m.consume_token(1)
    assert e.value.token == 1
    with pytest.raises(sg.MatcherError):
        m.rollback(5)
    m.consume_token(6)
    assert m.is_finished()
    with pytest.raises(sg.TokenizerError):
        sg.Tokenizer.from_vocab(["a", "a"], eos_token_ids=[9])


def test_from_gguf_matches_model_vocabulary() -> None:
    path = sg.Llama.default_model_path()
    tok = sg.Tokenizer.from_gguf(path)
    assert tok.vocab_size == 49152
    assert tok.eos_token_ids
    assert tok.decode([]) == b""


def test_from_transformers(tmp_path) -> None:
    transformers = pytest.importorskip("transformers")
    raw = gzip.decompress(tokenizer_path("qwen3").read_bytes())
    (tmp_path / "tokenizer.json").write_bytes(raw)
    hf = transformers.PreTrainedTokenizerFast(tokenizer_file=str(tmp_path / "tokenizer.json"), eos_token="<|im_end|>")
    tok = sg.Tokenizer.from_transformers(hf)
    assert tok.eos_token_ids == [hf.eos_token_id]
    ids = hf.encode('{"a": 1}')
    m = sg.compile(sg.Grammar.json_schema({"type": "object"}), tok).matcher()
    m.consume_tokens(ids)
    assert m.is_accepting()


# --- errors -----------------------------------------------------------------------------------------------------


def test_schema_errors_carry_pointer_and_keyword() -> None:
    with pytest.raises(sg.SchemaError) as e:
        sg.Grammar.json_schema({"type": "object", "properties": {"a": {"type": "strin"}}})
    assert e.value.pointer == "#/properties/a" and e.value.keyword == "type"
    assert isinstance(e.value, ValueError)
    with pytest.raises(sg.SchemaError) as e:
        sg.Grammar.json_schema('{"type": ')
    assert "not valid JSON" in str(e.value)
    with pytest.raises(sg.SchemaError) as e:
        sg.Grammar.json_schema({"$ref": "https://example.com/other.json"})
    assert e.value.keyword == "$ref"
    with pytest.raises(TypeError):
        sg.Grammar.json_schema(42)


def test_lenient_lists_what_it_dropped() -> None:
    schema = {"type": "object", "properties": {"a": {"$dynamicRef": "#meta"}}}
    with pytest.raises(sg.SchemaError):
        sg.Grammar.json_schema(schema)
    g = sg.Grammar.json_schema(schema, lenient=True)
    assert g.dropped and g.dropped[0][1] == "$dynamicRef" and g.dropped[0][0] == "#/properties/a"


def test_grammar_errors() -> None:
    with pytest.raises(sg.GrammarError):
        sg.Grammar.regex("(unclosed")
    with pytest.raises(sg.GrammarError) as e:
        sg.Grammar.gbnf('root ::= "a"\nroot ::= missing')
    assert e.value.line == 2
    with pytest.raises(sg.GrammarError):
        sg.Grammar.choice([])
    with pytest.raises(ValueError):
        sg.Grammar.builtin("no-such-grammar")
    with pytest.raises(ValueError):
        sg.Grammar.json_schema({}, whitespace="sometimes")


def test_bad_tokenizer_files(tmp_path) -> None:
    with pytest.raises(sg.TokenizerError):
        sg.Tokenizer.from_file(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text('{"model": {"type": "BPE", "vocab": ')
    with pytest.raises(sg.TokenizerError):
        sg.Tokenizer.from_file(broken)
    truncated = tmp_path / "truncated.json.gz"
    truncated.write_bytes(tokenizer_path("llama3_1").read_bytes()[:5000])
    with pytest.raises(sg.TokenizerError):
        sg.Tokenizer.from_file(truncated)
    with pytest.raises(sg.ModelError):
        sg.Tokenizer.from_gguf(broken)


def test_bad_bitmask_buffers(llama3: sg.Tokenizer) -> None:
    m = sg.compile(sg.Grammar.choice(["x"]), llama3).matcher()
    with pytest.raises(ValueError):
        m.fill_next_token_bitmask(np.zeros((1, 10), dtype=np.int32))
    with pytest.raises(IndexError):
        m.fill_next_token_bitmask(sg.allocate_token_bitmask(1, llama3.vocab_size), 1)
    with pytest.raises(TypeError):
        m.fill_next_token_bitmask(np.zeros((1, llama3.bitmask_words), dtype=np.float32))
    with pytest.raises(ValueError):
        m.fill_next_token_bitmask(sg.allocate_token_bitmask(2, llama3.vocab_size * 2)[:, ::2])
