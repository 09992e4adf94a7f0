# Everything the demo, tests and benchmarks need is installed here, into .venv, from pinned versions.
PYTHON ?= python3
VENV := .venv
PY := $(abspath $(VENV))/bin/python
STAMP := $(VENV)/.installed
# Spark workers and Ray on Spark run this environment's python and its `ray` command.
RUN_ENV := PYSPARK_PYTHON=$(PY) PYSPARK_DRIVER_PYTHON=$(PY) PATH="$(abspath $(VENV))/bin:$$PATH"
PYTEST_ARGS ?= --durations=30

.PHONY: demo test bench bench-full accuracy docs check-java check-chromium clean freeze

$(STAMP): pyproject.toml requirements/constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[all,mlflow,dev]'
	touch $(STAMP)

check-java:
	@command -v java >/dev/null 2>&1 || { \
	  echo "ERROR: 'java' is not on PATH. The Spark and Ray-on-Spark tests need Java 17:"; \
	  echo "       apt-get install -y openjdk-17-jre-headless (or set JAVA_HOME and PATH)."; exit 1; }

# The report test opens the backtest report in a real browser: a headless Chromium (Debian's).
check-chromium:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  echo "Installing Chromium for the report test: apt-get install chromium"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || { \
	  echo "ERROR: could not install Chromium (apt-get needs root). Install it: apt-get install -y chromium"; exit 1; }; }

demo: $(STAMP)
	$(RUN_ENV) $(PY) -m prophet_grouped.demo

test: $(STAMP) check-java check-chromium
	$(RUN_ENV) $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP) check-java
	$(RUN_ENV) $(PY) benchmarks/bench.py

bench-full: $(STAMP) check-java
	$(RUN_ENV) $(PY) benchmarks/bench.py --full

# Accuracy on the real data sets in ../shared/data against untuned Prophet (docs/accuracy.md);
# statsforecast's AutoETS as the alternative users weigh ([accuracy] extra, pinned).
accuracy: $(STAMP)
	$(PY) -m pip install --quiet -c requirements/constraints.txt -e '.[accuracy]'
	$(PY) benchmarks/accuracy.py $(ACCURACY_ARGS)

# docs/api.md from the docstrings (tests/test_docs.py checks it is up to date).
docs: $(STAMP)
	$(PY) -m prophet_grouped._apidoc > docs/api.md

# Refresh the pins from the current environment (after changing dependencies).
freeze:
	$(PY) -m pip freeze --exclude-editable | grep -v '^-e' > requirements/constraints.txt

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache
