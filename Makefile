# make demo: set up and annotate the bundled example.   make test: set up and run the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup demo test bench clean

$(BIN)/cellannotate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# The markers model's database: data files only, without pegasus's own dependencies.
	$(BIN)/pip install --quiet --no-deps pegasuspy==1.10.2
	touch $@

setup: $(BIN)/cellannotate

demo: setup
	mkdir -p demo
	$(BIN)/cellannotate example --out demo/example_filtered_feature_bc_matrix.h5 --truth demo/example_truth.csv
	$(BIN)/python bin/validate_matrix.py --matrix demo/example_filtered_feature_bc_matrix.h5 --out demo/validation.json
	$(BIN)/cellannotate annotate --id demo --matrix demo/example_filtered_feature_bc_matrix.h5 \
		--cell-annotation-model markers --outdir demo/run

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python benchmarks/validate_bench.py

clean:
	rm -rf demo $(VENV) .pytest_cache
