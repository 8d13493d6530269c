"""Shared fixtures: the real tokenizers from ../shared/data and the default model."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import sluicegate as sg

REPO = Path(__file__).resolve().parents[2]
DATA = Path(os.environ.get("SLUICEGATE_DATA", REPO.parent / "shared" / "data"))
TOKENIZERS = DATA / "tokenizers"


def tokenizer_path(name: str) -> Path:
    path = TOKENIZERS / f"{name}.tokenizer.json.gz"
    if not path.exists():
        raise FileNotFoundError(f"test data missing: {path} (the tests read ../shared/data)")
    return path


@pytest.fixture(scope="session")
def llama3() -> sg.Tokenizer:
    return sg.Tokenizer.from_file(tokenizer_path("llama3_1"))


@pytest.fixture(scope="session")
def model() -> sg.Llama:
    # Two threads: llama.cpp's default oversubscribes small machines.
    return sg.Llama(n_ctx=2048, n_threads=min(2, os.cpu_count() or 1))
