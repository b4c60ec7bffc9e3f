# attnkit: every target creates and uses the virtual environment in .venv by itself.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
KIT    := $(VENV)/bin/attnkit
STAMP  := $(VENV)/.installed
SCALESIM_VENV  := .venv-scalesim
SCALESIM_STAMP := $(SCALESIM_VENV)/.installed
PYTEST := $(PY) -m pytest
# Two workers on this kind of machine (three are slower); override with `make test JOBS=1`. The tests
# range from milliseconds to 20 s, so an idle worker takes queued tests from the busy one (worksteal).
JOBS   ?= 2

.PHONY: setup test test-slow demo reproduce sweep sweep-numerics golden csim synth verilog rtl mutate lint docs bench clean

# The package's bytecode is compiled here (an editable install has none, and with PYTHONDONTWRITEBYTECODE
# set every command would compile its modules again): up to date, it is a no-op.
setup: $(STAMP) $(SCALESIM_STAMP)
	@$(PY) -m compileall -q attnkit params models sim hw testbench reports hls scripts

# SCALE-Sim (the cross-check for our GEMM cycles) pins numpy < 2.4, so it lives in its own venv.
$(SCALESIM_STAMP): scripts/requirements-scalesim.txt
	test -x $(SCALESIM_VENV)/bin/python || $(PYTHON) -m venv $(SCALESIM_VENV)
	$(SCALESIM_VENV)/bin/python -m pip install -q -r scripts/requirements-scalesim.txt
	touch $(SCALESIM_STAMP)

$(STAMP): pyproject.toml scripts/install-system-deps.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	sh scripts/install-system-deps.sh
	@echo "setup: compiling the YoWASP tools once for this machine (about a minute, cached in ~/.cache/YoWASP)"
	$(PY) -c "from attnkit.hw.synth import warm_up; warm_up()"
	touch $(STAMP)

test: setup
	$(PYTEST) -q -n $(JOBS) --dist worksteal -m "not slow"

test-slow: setup
	$(PYTEST) -q -n $(JOBS) --dist worksteal -m slow

# The main job on the shipped defaults: reproduce FuseMax, sweep its design space,
# check the RTL against the golden models under Verilator, and draw the report.
DEMO := build/demo
demo: setup
	@mkdir -p $(DEMO)
	$(KIT) reproduce fusemax --out build/reproduce/fusemax > $(DEMO)/reproduce.txt
	@tail -n 30 $(DEMO)/reproduce.txt
	$(KIT) reproduce leanattention --out build/reproduce/leanattention > $(DEMO)/reproduce-lean.txt
	$(KIT) reproduce llm --out build/reproduce/llm > $(DEMO)/reproduce-llm.txt
	$(KIT) reproduce edgemoe --out build/reproduce/edgemoe > $(DEMO)/reproduce-edgemoe.txt
	$(KIT) validate h200-pytorch-sdpa --arch h200 -o build/validate/h200 > $(DEMO)/validate-h200.txt
	$(KIT) reproduce requests --models llama3-8b mixtral-8x7b --seq-lens 1024 4096 16384 \
		--out build/reproduce/requests > $(DEMO)/reproduce-requests.txt
	$(KIT) sweep llm-arrays --out build/sweeps/llm-arrays --resume
	$(KIT) sweep fusemax-arrays --out build/sweeps/fusemax-arrays --resume
	$(KIT) pareto build/sweeps/fusemax-arrays/results.csv --minimize latency_s energy_pj area_mm2 \
		--by workload workload.seq_len -o build/sweeps/fusemax-arrays/pareto.csv > /dev/null
	$(KIT) rtl-test mac --vectors 10000 --seed 2026 --json > $(DEMO)/rtl-mac.json
	$(KIT) rtl-test attention --vectors 8 --seed 2026 --json > $(DEMO)/rtl-attention.json
	$(KIT) rtl-test attention --fast --vectors 100 --seed 2026 --json > $(DEMO)/rtl-attention-fast.json
	$(KIT) rtl-test gelu --vectors 10000 --seed 2026 --json > $(DEMO)/rtl-gelu.json
	$(KIT) rtl-test softmax --vectors 10000 --seed 2026 --json > $(DEMO)/rtl-softmax.json
	$(KIT) rtl-test edgemoe_linear --vectors 200 --seed 2026 --json > $(DEMO)/rtl-edgemoe-linear.json
	$(KIT) rtl-test edgemoe_attention --vectors 200 --seed 2026 --json > $(DEMO)/rtl-edgemoe-attention.json
	$(KIT) rtl-test attention --set workload.causal=true --vectors 4 --seed 2026 --json > $(DEMO)/rtl-attention-causal.json
	$(KIT) rtl-test attention --sim icarus --set array_2d.rows=2 --set array_2d.cols=2 --set workload.head_dim=8 \
		--set workload.seq_len=7 --vectors 8 --seed 2026 --json > $(DEMO)/rtl-attention-coverage.json
	$(KIT) rtl-test attention --set array_2d.rows=2 --set array_2d.cols=2 --set workload.head_dim=8 --set numerics.acc_frac_bits=16 --set numerics.acc_rounding=AP_RND --vectors 8 --seed 2026 --json > $(DEMO)/rtl-attention-f16.json
	$(KIT) golden-report --quick --numerics --out $(DEMO)/golden-numerics.md > $(DEMO)/golden-numerics.txt
	$(KIT) rtl-test merge --vectors 10000 --seed 2026 --json > $(DEMO)/rtl-merge.json
	$(KIT) rtl-test decode --vectors 8 --seed 2026 --json > $(DEMO)/rtl-decode.json
	$(KIT) csim layer --vectors 1 --json > $(DEMO)/csim-layer.json
	$(KIT) synth mac --target xcup --json > $(DEMO)/synth-mac-xcup.json
	$(KIT) synth mac --target ecp5 --pnr --json > $(DEMO)/synth-mac-ecp5.json
	$(KIT) report build/reproduce/fusemax build/reproduce/leanattention build/reproduce/llm build/reproduce/edgemoe build/reproduce/requests build/validate/h200 build/sweeps/fusemax-arrays build/sweeps/llm-arrays $(DEMO)/rtl-*.json $(DEMO)/synth-*.json -o build/reports/demo
	@echo "demo: report at build/reports/demo/report.html (and report.md)"

reproduce: setup
	$(KIT) reproduce fusemax

sweep: setup
	$(KIT) sweep fusemax-arrays --resume
	$(KIT) pareto build/sweeps/fusemax-arrays/results.csv --minimize latency_s energy_pj area_mm2 \
		--by workload workload.seq_len -o build/sweeps/fusemax-arrays/pareto.csv

golden: setup
	$(KIT) golden-report

# Attention number formats: accuracy vs accumulator width/rounding and input/probability formats, ECP5 LUTs/FFs
# for the accumulator axis (synthesis: minutes per design, cached under build/synth).
sweep-numerics: setup
	$(KIT) sweep attention-numerics --resume --jobs 1
	$(KIT) pareto build/sweeps/attention-numerics/results.csv --minimize max_abs_err luts ffs \
		-o build/sweeps/attention-numerics/pareto.csv
	$(KIT) report build/sweeps/attention-numerics -o build/reports/numerics

# The Edge-MoE HLS kernels C-simulated with g++ against the golden models (builds cached in build/hls/).
csim: setup
	$(KIT) csim linear --vectors 300
	$(KIT) csim attention --vectors 100
	$(KIT) csim gelu --vectors 20000
	$(KIT) csim layernorm --vectors 300
	$(KIT) csim gate --vectors 300
	$(KIT) csim layer --vectors 2

# Every RTL block through Yosys for UltraScale+ and ECP5 (the attention engine at 2x2, 4x4 and 8x8, with
# exact and with 16-fraction-bit accumulators), the small blocks and the finite 4x4 attention engine placed
# and routed on ECP5, then the report. Slow: the exact 8x8 engine takes about an hour per target; results are
# cached in build/synth, so a rerun redoes only what changed. Each record is written to a .tmp file and moved
# into place when done, so an interrupted run leaves no half-written record. A block that does not fit its
# device prints its numbers and exit status 2; the table goes on.
# every RTL block in the registry (plugins included), so a new block joins lint and synth by itself
BLOCKS = $(shell $(PY) -c "import attnkit; print(' '.join(attnkit.blocks()))")
SYNTH := build/synth/table
SYNTH_BLOCKS = $(filter-out attention,$(BLOCKS))
# decode takes 88% of the LFE5UM-85F's LUTs: placing and routing it would take hours here, so it is left out;
# edgemoe_linear's 256 32 x 16 multipliers need more than the part's 156 multipliers, so it has no ECP5 layout
SYNTH_PNR = $(filter-out decode edgemoe_linear,$(SYNTH_BLOCKS))
SYNTH_F16 = --set numerics.acc_frac_bits=16 --set numerics.acc_rounding=AP_RND
# Edge-MoE's linear unit beside the fit check (configs/synthesis/edgemoe-xcup.yaml): 4 x 8, and 16 x 16 with
# banks of M3ViT's largest layer
SYNTH_LINEAR_4X8 = --set linear.in_size=4 --set linear.out_size=8 --set gelu.units=8
SYNTH_LINEAR_M3VIT = --set in_dim=768 --set out_dim=192
# $(call synth_record,NAME,ARGS): attnkit synth ARGS --json into $(SYNTH)/NAME.json
synth_record = echo "synth $(1)"; $(KIT) synth $(2) --json > $(SYNTH)/$(1).tmp; s=$$?; \
	if [ $$s = 0 ] || [ $$s = 2 ]; then mv $(SYNTH)/$(1).tmp $(SYNTH)/$(1).json; else rm -f $(SYNTH)/$(1).tmp; exit 1; fi
synth: setup
	@mkdir -p $(SYNTH)
	@for t in xcup ecp5; do for b in $(SYNTH_BLOCKS); do $(call synth_record,$$b-$$t,$$b --target $$t); done; \
		for r in 2 4 8; do size="--set array_2d.rows=$$r --set array_2d.cols=$$r"; \
		$(call synth_record,attention$${r}x$${r}-$$t,attention --target $$t $$size); \
		$(call synth_record,attention$${r}x$${r}-f16-$$t,attention --target $$t $$size $(SYNTH_F16)); done; done
	@$(call synth_record,edgemoe_linear4x8-xcup,edgemoe_linear --target xcup $(SYNTH_LINEAR_4X8))
	@$(call synth_record,edgemoe_linear-m3vit-xcup,edgemoe_linear --target xcup $(SYNTH_LINEAR_M3VIT))
	@for b in $(SYNTH_PNR); do $(call synth_record,$$b-ecp5-pnr,$$b --target ecp5 --pnr); done
	@$(call synth_record,attention4x4-f16-ecp5-pnr,attention --target ecp5 $(SYNTH_F16) --pnr)
	$(KIT) report $(SYNTH) -o build/reports/synth

verilog: setup
	@for b in $(BLOCKS); do echo "attnkit verilog $$b -o build/verilog"; $(KIT) verilog $$b -o build/verilog || exit 1; done

# The RTL blocks against their golden models under Verilator, then Icarus.
rtl: setup
	$(KIT) rtl-test mac --vectors 66000 --seed 2026
	$(KIT) rtl-test attention --vectors 20 --seed 2026
	$(KIT) rtl-test attention --set array_2d.rows=8 --set array_2d.cols=8 --set workload.head_dim=16 \
		--set workload.seq_len=100 --vectors 20 --seed 2026
	$(KIT) rtl-test gelu --vectors 10000 --seed 2026
	$(KIT) rtl-test softmax --vectors 10000 --seed 2026
	$(KIT) rtl-test edgemoe_linear --vectors 200 --seed 2026
	$(KIT) rtl-test edgemoe_linear --set linear.in_size=4 --set linear.out_size=8 --set gelu.units=8 --vectors 24 --seed 2026
	$(KIT) rtl-test edgemoe_attention --vectors 200 --seed 2026
	$(KIT) rtl-test edgemoe_attention --set attention.lanes=2 --set attention.dims=4 --set head_dim=16 --set tokens=6 \
		--vectors 24 --seed 2026
	$(KIT) rtl-test edgemoe_attention --set attention.lanes=8 --set heads=1 --set tokens=12 --vectors 12 --seed 2026
	$(KIT) rtl-test exp --vectors 65536 --seed 2026
	$(KIT) rtl-test recip --vectors 65536 --seed 2026
	$(KIT) rtl-test merge --vectors 10000 --seed 2026
	$(KIT) rtl-test decode --vectors 20 --seed 2026
	$(KIT) rtl-test decode --set units=4 --set workload.heads=8 --set workload.kv_heads=2 \
		--set workload.context=50 --vectors 12 --seed 2026
	$(KIT) rtl-test mac --sim icarus --vectors 10000 --seed 2026
	$(KIT) rtl-test gelu --sim icarus --set gelu.units=4 --vectors 3000 --seed 2026
	$(KIT) rtl-test merge --sim icarus --vectors 2000 --seed 2026
	$(KIT) rtl-test decode --sim icarus --vectors 4 --seed 2026
	$(KIT) rtl-test softmax --sim icarus --vectors 1500 --seed 2026
	$(KIT) rtl-test edgemoe_linear --sim icarus --vectors 200 --seed 2026
	$(KIT) rtl-test edgemoe_attention --sim icarus --set attention.lanes=2 --set attention.dims=4 --set head_dim=16 \
		--set tokens=6 --vectors 200 --seed 2026
	$(KIT) rtl-test exp --sim icarus --vectors 3000 --seed 2026
	$(KIT) rtl-test recip --sim icarus --vectors 3000 --seed 2026
	$(KIT) rtl-test attention --sim icarus --set array_2d.rows=2 --set array_2d.cols=2 \
		--set workload.head_dim=8 --set workload.seq_len=13 --set workload.causal=true --vectors 8 --seed 31

# Injected faults: every mutant of mac, exp, recip and attention through the block's ordinary testbench
# under Icarus (a few minutes); fails if one survives that is not proven equivalent; then the table as a report.
mutate: setup
	@mkdir -p build/mutants
	$(KIT) rtl-mutate all --json -o build/mutants/mutants.json > /dev/null
	$(KIT) report build/mutants/mutants.json -o build/reports/mutants

# ruff (lint and format), mypy (strict on the parameter layer), the import contract (the levels import
# downwards, pyproject's [tool.importlinter]), then verilator --lint-only -Wall on the exported Verilog of
# every block, warnings counted by kind (testbench/lint.py). mypy and lint-imports read the package from
# build/package-tree (scripts/package_tree.py lays it out as it installs).
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) scripts/package_tree.py > /dev/null
	cd build/package-tree && MYPYPATH=. ../../$(VENV)/bin/mypy --config-file ../../pyproject.toml -p attnkit
	cd build/package-tree && PYTHONPATH=. ../../$(VENV)/bin/lint-imports ../../pyproject.toml
	@for b in $(BLOCKS); do echo "$(PY) -m attnkit.testbench.lint $$b"; $(PY) -m attnkit.testbench.lint $$b || exit 1; done

# The documentation site (mkdocs.yml, docs/) into build/docs, --strict: a broken link or anchor, a page left
# out of the nav or an API reference that no longer resolves fails the build. Its tools are the `docs` extra,
# installed into .venv once (their own stamp, so `make test` does not need them).
DOCS_STAMP := $(VENV)/.installed-docs
$(DOCS_STAMP): $(STAMP) pyproject.toml
	$(PY) -m pip install -q -e '.[docs]'
	touch $(DOCS_STAMP)

docs: $(DOCS_STAMP)
	$(PY) scripts/package_tree.py > /dev/null
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --clean -f mkdocs.yml -d build/docs
	@echo "docs: open build/docs/index.html"

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf build .pytest_cache .hypothesis
	find . -name __pycache__ -not -path './$(VENV)/*' -prune -exec rm -rf {} +
