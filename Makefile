# Everything a fresh machine needs: `make test` and `make demo` create .venv themselves.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python

.PHONY: test demo notebooks bench gradcheck clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install when the package metadata changes; the stamp records which extras are in.
$(VENV)/.test-installed: setup.cfg pyproject.toml | $(PY)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $@

$(VENV)/.notebooks-installed: $(VENV)/.test-installed
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[test,notebooks]'
	touch $@

test: $(VENV)/.test-installed  ## run the whole test suite (notebooks included)
	$(PY) -m pytest

demo: $(VENV)/.test-installed  ## the paper's Figure 1, ReLU vs tanh (CIFAR-10, else Fashion-MNIST)
	$(PY) -m tinyalex relu-vs-tanh

gradcheck: $(VENV)/.test-installed  ## check every op's backward pass by finite differences
	$(PY) -m tinyalex gradcheck

bench: $(VENV)/.test-installed  ## time every op and model step (against PyTorch where installed)
	$(PY) benchmarks/ops.py

notebooks: $(VENV)/.notebooks-installed  ## open the course notebooks in Jupyter
	$(VENV)/bin/jupyter lab notebooks/

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
