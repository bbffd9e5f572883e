#!/usr/bin/env bash
# Runs the test suite. Installs what it needs first.
set -euo pipefail
top=$(cd "$(dirname "$0")" && pwd)
source "$top/scripts/bootstrap.sh"
cd "$top"
set +e
"$top/.venv/bin/python" -m pytest -q "$@"
rc=$?
if [ $rc -eq 5 ]; then echo "test.sh: pytest collected no tests" >&2; exit 1; fi
exit $rc
