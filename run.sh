#!/usr/bin/env bash
# FabriX Agent Chat on Linux and macOS: finds Python 3.11+ and hands over to launcher.py,
# which does the rest on every system (see its docstring):
#   ./run.sh               development mode (hot reload, this machine only)
#   ./run.sh service       service mode (built front end, one port, host/port from secrets.toml)
#   ./run.sh test [ARGS]   the whole test suite, browser tests included (ARGS go to pytest)
#   ./run.sh manage CMD    administration commands (python -m fabrix_chat.manage CMD ...)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

for candidate in python3.13 python3.12 python3.11 python3 python; do
  if command -v "$candidate" >/dev/null 2>&1 &&
     "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' 2>/dev/null; then
    exec "$candidate" launcher.py "$@"
  fi
done
printf '\nERROR: Python 3.11 or newer was not found.\n' >&2
printf 'What to do: install Python 3.11+ (Debian/Ubuntu: apt-get install python3 python3-venv), then run this again.\n' >&2
exit 1
