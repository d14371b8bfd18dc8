#!/usr/bin/env bash
# Install everything casework needs into .venv (idempotent). Used by the README's two commands and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
# Debian packages: Pango for WeasyPrint; Chromium for the browser tests (test tools cannot download browsers here)
NEED=""
python3 -c "import ctypes.util, sys; sys.exit(0 if ctypes.util.find_library('pango-1.0') and ctypes.util.find_library('pangoft2-1.0') and ctypes.util.find_library('harfbuzz-subset') else 1)" \
  || NEED="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core"
[ -x /usr/bin/chromium ] || NEED="$NEED chromium"
# poppler's pdftotext: the bundle's redaction check reads every page's text with it (pypdf is the slower fallback)
command -v pdftotext >/dev/null || NEED="$NEED poppler-utils"
if [ -n "$NEED" ]; then
  echo "installing Debian packages: $NEED"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $NEED >/dev/null
fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[dev]"
# GOV.UK Frontend 6.3 (the version govuk-frontend-jinja 4.1 ports), served from web/static/vendor, never committed
npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix web/static/vendor govuk-frontend@6.3.0
# axe-core for the browser tests' accessibility checks (tests/browser), never committed
npm install --silent --no-save --no-package-lock --no-audit --no-fund --prefix tests/browser/vendor axe-core@4.11
