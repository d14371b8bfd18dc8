#!/usr/bin/env bash
# Set up and run the whole test suite. SQLite by default; PostgreSQL when CASEWORK_TEST_DATABASE_URL is set.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
