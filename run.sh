#!/usr/bin/env bash
# FabriX Agent Chat on Linux/macOS. Sets up whatever is missing, then:
#   ./run.sh               development mode (hot reload, this machine only)
#   ./run.sh service       service mode (production build, one port, host/port from secrets.toml)
#   ./run.sh test [ARGS]   the whole test suite, browser tests included (ARGS go to pytest)
#   ./run.sh manage CMD    administration commands (python -m fabrix_chat.manage CMD ...)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")"
ROOT="$PWD"
VENV="$ROOT/.venv"
TOOLS="$ROOT/.tools"
BUN_VERSION="1.4.5"

step() { printf '\n==> %s\n' "$*"; }
fail() { printf '\nERROR: %s\n' "$1" >&2; [ -n "${2:-}" ] && printf 'What to do: %s\n' "$2" >&2; exit 1; }

# Reflex must not call out: no telemetry, no version check, the npm client's own registry.
export REFLEX_TELEMETRY_ENABLED=false
export REFLEX_CHECK_LATEST_VERSION=false
export PYTHONUNBUFFERED=1

find_python() {
  for candidate in python3.11 python3.12 python3.13 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

setup_python() {
  if [ ! -x "$VENV/bin/python" ]; then
    step "Creating the Python virtual environment in .venv"
    PYTHON=$(find_python) || fail "Python 3.11 or newer was not found." \
      "Install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv), then run this again."
    "$PYTHON" -m venv "$VENV" || fail "Could not create .venv." "Install the venv module (apt-get install python3-venv)."
  fi
  local want stamp="$VENV/.installed"
  want=$(cat requirements.txt "$@" | sha256sum | cut -d' ' -f1)
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    step "Installing the pinned Python packages (requirements.txt $*)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q --upgrade pip ||
      fail "pip could not upgrade itself." "Check that this machine can reach the Python package index."
    local args=(-r requirements.txt)
    for extra in "$@"; do args+=(-r "$extra"); done
    "$VENV/bin/python" -m pip install --disable-pip-version-check -q "${args[@]}" ||
      fail "Installing the Python packages failed." "Read the pip error above; check the package index is reachable."
    echo "$want" >"$stamp"
  else
    step "Python packages are up to date"
  fi
}

setup_bun() {
  # Reflex builds the front end with bun. Its own installer downloads from the internet, so bun
  # comes from the npm registry into .tools/ instead (the binary ships inside the package).
  export PATH="$TOOLS/bin:$PATH"
  if [ -x "$TOOLS/bin/bun" ] && [ "$("$TOOLS/bin/bun" --version 2>/dev/null)" = "$BUN_VERSION" ]; then
    step "bun $BUN_VERSION is installed"
  else
    command -v npm >/dev/null 2>&1 || fail "npm was not found; it is needed once to install bun." \
      "Install Node.js 20 or newer with npm (Debian/Ubuntu: apt-get install nodejs npm), then run this again."
    step "Installing bun $BUN_VERSION from the npm registry into .tools/"
    npm install -g --prefix "$TOOLS" --allow-scripts=bun --no-fund --no-audit "bun@$BUN_VERSION" >/dev/null ||
      npm install -g --prefix "$TOOLS" --no-fund --no-audit "bun@$BUN_VERSION" >/dev/null ||
      fail "Installing bun failed." "Check that npm can reach its registry (npm ping)."
  fi
  export REFLEX_BUN_PATH="$TOOLS/bin/bun"
  local registry
  registry=$(npm config get registry 2>/dev/null || true)
  [ -n "$registry" ] && export NPM_CONFIG_REGISTRY="$registry"
  return 0
}

check_config() {
  step "Reading the configuration (${FABRIX_CHAT_SECRETS:-secrets.toml})"
  "$VENV/bin/python" -m fabrix_chat.manage show-mode ||
    fail "The configuration cannot be used (see the message above)." \
      "Fix the file named above (compare with secrets.toml.example), or remove it to start in demo mode."
}

migrate() {
  step "Applying database migrations"
  "$VENV/bin/python" -m fabrix_chat.manage migrate ||
    fail "The database migration failed." "Read the error above; './run.sh manage check' tests the database."
}

setup_chromium() {
  # Korean fonts so screenshots of the Korean UI show letters, not boxes (best effort).
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1 && ! fc-list 2>/dev/null | grep -qi nanum; then
    step "Installing Korean fonts for the browser tests' screenshots (fonts-nanum)"
    (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-nanum >/dev/null) ||
      echo "WARNING: could not install fonts-nanum; Korean text in screenshots will show as boxes."
  fi
  if [ -x /usr/bin/chromium ]; then
    step "Chromium for browser tests: /usr/bin/chromium"
    return 0
  fi
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    step "Installing Debian's chromium for the browser tests (apt-get)"
    (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null) ||
      fail "Installing chromium failed." "Run: sudo apt-get install chromium"
  else
    fail "Browser tests need /usr/bin/chromium." "Run: sudo apt-get install chromium   (then ./run.sh test again)"
  fi
}

setup_services_for_tests() {
  # Optional: Redis and PostgreSQL servers let the scale-out tests run; without them they skip.
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    local missing=()
    command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
    [ -n "$(ls /usr/lib/postgresql/*/bin/postgres 2>/dev/null)" ] || missing+=(postgresql)
    if [ ${#missing[@]} -gt 0 ]; then
      step "Installing ${missing[*]} for the scale-out tests (apt-get)"
      (apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}" >/dev/null) ||
        echo "WARNING: could not install ${missing[*]}; the tests that need them will be skipped."
    fi
  fi
}

mode="${1:-dev}"
[ $# -gt 0 ] && shift

case "$mode" in
  dev)
    setup_python
    setup_bun
    check_config
    migrate
    step "Starting development mode (front end http://localhost:3000, back end :8000; Ctrl+C stops)"
    exec "$VENV/bin/reflex" run --env dev
    ;;
  service)
    setup_python
    setup_bun
    check_config
    migrate
    read -r HOST PORT < <("$VENV/bin/python" -m fabrix_chat.manage show-bind)
    step "Starting service mode on http://$HOST:$PORT (production build; Ctrl+C stops)"
    exec "$VENV/bin/reflex" run --env prod --backend-host "$HOST" --frontend-port "$PORT" --backend-port "$PORT"
    ;;
  test)
    setup_python requirements-test.txt
    setup_bun
    setup_chromium
    setup_services_for_tests
    step "Running the test suite (unit, integration, browser)"
    set +e
    "$VENV/bin/python" -m pytest "$@"
    code=$?
    set -e
    [ $code -eq 0 ] || fail "Some tests failed (exit code $code)." "Read the failures above; tests/artifacts/ has screenshots."
    ;;
  manage)
    setup_python
    exec "$VENV/bin/python" -m fabrix_chat.manage "$@"
    ;;
  *)
    fail "Unknown mode '$mode'." "Use: ./run.sh | ./run.sh service | ./run.sh test | ./run.sh manage COMMAND"
    ;;
esac
