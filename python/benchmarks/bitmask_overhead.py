"""Per-call overhead of the Python bitmask API over the Rust call it wraps.

For a few matcher states of a JSON Schema on the Llama 3.1 tokenizer
(128,256 tokens, 4,008 words a row), times N warm calls of
`matcher.fill_next_token_bitmask(bitmask, i)` from Python and N calls of the
same Rust `compute_mask` in a Rust loop (`Matcher._time_fill_in_rust`); the
difference is the cost of crossing into Rust (argument parsing, the numpy
borrow, releasing the GIL). Then the batch call `fill_next_token_bitmasks`
over 32 matchers, in masks per second.

    python python/benchmarks/bitmask_overhead.py [--tokenizer PATH] [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import sluicegate as sg

SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 40},
        "age": {"type": "integer", "minimum": 0},
        "tags": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["name", "age"],
}
PREFIXES = [b"", b'{"name": "Al', b'{"name": "Al", "age": 4', b'{"name": "Al", "age": 42, "tags": ["x']


def main() -> None:
    default_tok = Path(__file__).resolve().parents[3] / "shared/data/tokenizers/llama3_1.tokenizer.json.gz"
    ap = argparse.ArgumentParser()
    ap.add_argument("--tokenizer", default=str(default_tok))
    ap.add_argument("--n", type=int, default=20000)
    args = ap.parse_args()
    tok = sg.Tokenizer.from_file(args.tokenizer)
    compiled = sg.compile(sg.Grammar.json_schema(SCHEMA), tok)
    bitmask = sg.allocate_token_bitmask(1, tok.vocab_size)
    rows = []
    for prefix in PREFIXES:
        m = compiled.matcher()
        m.consume_bytes(prefix)
        m.fill_next_token_bitmask(bitmask, 0)  # warm the state's cache
        fill = m.fill_next_token_bitmask
        # Best of 5 rounds each: the machine may be busy, and the minimum is the repeatable figure.
        py_s = rust_s = float("inf")
        for _round in range(5):
            start = time.perf_counter()
            for _ in range(args.n):
                fill(bitmask, 0)
            py_s = min(py_s, time.perf_counter() - start)
            rust_s = min(rust_s, m._time_fill_in_rust(bitmask, args.n))
        rows.append((prefix.decode(), py_s / args.n * 1e6, rust_s / args.n * 1e6))
    print(f"tokenizer: {Path(args.tokenizer).name}, vocab {tok.vocab_size}, {tok.bitmask_words} words a row, "
          f"{args.n} warm calls per state, best of 5 rounds")
    print("| state after | Python call (µs) | Rust call (µs) | overhead (µs) |")
    print("|---|---|---|---|")
    for prefix, py_us, rust_us in rows:
        print(f"| `{json.dumps(prefix)}` | {py_us:.2f} | {rust_us:.2f} | {py_us - rust_us:.2f} |")
    batch = 32
    matchers = []
    for i in range(batch):
        m = compiled.matcher()
        m.consume_bytes(PREFIXES[i % len(PREFIXES)])
        matchers.append(m)
    masks = sg.allocate_token_bitmask(batch, tok.vocab_size)
    sg.fill_next_token_bitmasks(matchers, masks)
    rounds = max(1, args.n // batch // 4)
    start = time.perf_counter()
    for _ in range(rounds):
        sg.fill_next_token_bitmasks(matchers, masks)
    s = time.perf_counter() - start
    threads = os.environ.get("RAYON_NUM_THREADS", str(os.cpu_count()))
    print(f"\nbatch of {batch} (fill_next_token_bitmasks, {threads} threads): "
          f"{rounds * batch / s:,.0f} masks/s, {s / rounds * 1e6:.1f} µs per batch")


if __name__ == "__main__":
    main()
