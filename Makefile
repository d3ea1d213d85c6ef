# copier-ml: `make demo` to see a generated project work, `make test` to test the template.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
DEST ?= build/demo

.PHONY: help demo test test-fast coverage lint docs bench bench-smoke bench-trainer bench-serving clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements-dev.txt
	python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet --upgrade pip
	$(PYTHON) -m pip install --quiet -r requirements-dev.txt
	touch $@

# The demo project is installed into the template's virtualenv, which already holds its dependencies.
DEMO := cd $(DEST) && $(abspath $(PYTHON)) -m demo_project

demo: $(VENV)/.installed  ## render the default project into DEST (build/demo), train, evaluate, score
	rm -rf $(DEST)
	$(VENV)/bin/copier copy --trust --defaults --quiet --vcs-ref HEAD -d "project_name=Demo Project" . $(DEST)
	$(PYTHON) -m pip install --quiet --no-deps --no-build-isolation -e $(DEST)
	$(DEMO) train
	$(DEMO) evaluate
	$(DEMO) predict --input data/processed/test.parquet --limit 3
	$(DEMO) score data/processed/test.parquet reports/predictions.csv
	@echo
	@echo "demo project:   $(DEST)"
	@echo "model bundle:   $(DEST)/models/model/"
	@echo "test metrics:   $(DEST)/reports/metrics.json and $(DEST)/reports/evaluation.md"
	@echo "predictions:    $(DEST)/reports/predictions.csv"
	@echo "try next:       cd $(DEST) && make help"

test: $(VENV)/.installed  ## the template's full test suite (under 20 minutes on 2 cores)
	$(PYTHON) -m pytest -n 2 --dist loadgroup

test-fast: $(VENV)/.installed  ## a subset for iteration (under 2 minutes): one project, no fresh installs
	$(PYTHON) -m pytest -n 2 --dist loadgroup --fast

coverage: $(VENV)/.installed  ## the full test suite, measuring the coverage of extensions/ (build/coverage.json)
	$(PYTHON) -m pytest -n 2 --dist loadgroup --cov --cov-report=term --cov-report=json:build/coverage.json

lint: $(VENV)/.installed  ## ruff on the template's own Python
	$(VENV)/bin/ruff check extensions tests benchmarks docs/_hooks
	$(VENV)/bin/ruff format --check extensions tests benchmarks docs/_hooks

docs: $(VENV)/.installed  ## build the documentation site into build/site (mkdocs --strict, offline)
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --site-dir build/site

bench: $(VENV)/.installed  ## copier copy timings, drift on 1M rows (benchmarks/)
	$(PYTHON) benchmarks/generate.py
	$(PYTHON) benchmarks/drift.py

bench-smoke: $(VENV)/.installed  ## every benchmark in a tiny run that only checks it works; nothing saved (CI)
	$(PYTHON) benchmarks/generate.py --smoke
	$(PYTHON) benchmarks/drift.py --smoke
	$(PYTHON) benchmarks/trainer_overhead.py --smoke
	$(PYTHON) benchmarks/serving.py --smoke

bench-trainer: $(VENV)/.installed  ## generated PyTorch trainer vs a bare loop (benchmarks/trainer_overhead.py)
	$(PYTHON) benchmarks/trainer_overhead.py

bench-serving: $(VENV)/.installed  ## /predict and batch scoring against baselines (benchmarks/serving.py)
	$(PYTHON) benchmarks/serving.py

clean:  ## remove build/ and caches (keeps .venv)
	rm -rf build .pytest_cache .ruff_cache
