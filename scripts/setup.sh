#!/usr/bin/env bash
# Install everything casework needs into .venv (idempotent). Used by the README's two commands and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! python3 -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('pango-1.0') and ctypes.util.find_library('pangoft2-1.0') and ctypes.util.find_library('harfbuzz-subset') else 1)"; then
  echo "installing Pango for WeasyPrint (Debian packages)..."
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
# GOV.UK Frontend 6.3 (the version govuk-frontend-jinja 4.1 ports), served from web/static/vendor, never committed
npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix web/static/vendor govuk-frontend@6.3.0
