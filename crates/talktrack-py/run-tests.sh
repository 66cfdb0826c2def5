#!/usr/bin/env bash
# Builds the talktrack Python package (an abi3 wheel, with maturin) into a virtual
# environment and runs its pytest tests (gymnasium, numpy and pytest only).
#
# The wheel is built with cargo's dev profile, so it reuses the dependencies the
# workspace's tests already compiled. From anywhere:
#
#     bash crates/talktrack-py/run-tests.sh [pytest arguments]
#
# TALKTRACK_PY_VENV chooses the virtual environment (default target/python-venv);
# PYTHON the interpreter that creates it (default python3, 3.9 or later).
set -euo pipefail
cd "$(dirname "$0")/../.."

venv="${TALKTRACK_PY_VENV:-target/python-venv}"
python="${PYTHON:-python3}"

if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -m pip --version >/dev/null 2>&1; then
  "$python" -m venv --clear "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  "maturin>=1.5,<2" "gymnasium>=0.29" "numpy>=1.21" "pytest>=7"

wheels="target/python-wheels"
rm -f "$wheels"/talktrack-*.whl
"$venv/bin/maturin" build --quiet --profile dev \
  --manifest-path crates/talktrack-py/Cargo.toml \
  --interpreter "$venv/bin/python" --out "$wheels"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --force-reinstall --no-deps "$wheels"/talktrack-*.whl

# Run from the tests' directory so `import talktrack` is the installed wheel.
cd crates/talktrack-py/tests
exec "../../../$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
