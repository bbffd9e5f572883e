#!/usr/bin/env bash
# Runs hypdbg; with no arguments, the built-in world-switch demo. Installs what it needs first.
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
source "$top/scripts/bootstrap.sh"
if [ $# -eq 0 ]; then set -- demo; fi
exec "$top/.venv/bin/hypdbg" "$@"
