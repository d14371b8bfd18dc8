#!/usr/bin/env bash
# Set up, load the demo authority into a fresh SQLite database and start the app.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
rm -f instance/casework.db instance/casework.db-wal instance/casework.db-shm
.venv/bin/casework init --demo
export CASEWORK_INSECURE_COOKIES=1  # the demo is served over plain http on this machine
exec .venv/bin/casework serve --host "${HOST:-127.0.0.1}" --port "${PORT:-5000}"
