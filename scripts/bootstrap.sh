#!/usr/bin/env bash
# Installs what hypdbg needs on a Debian machine: the ARM toolchain, gdb-multiarch and
# qemu-system-arm from Debian when missing, and the Python packages into ./.venv.
# Sourced by run.sh and test.sh; safe to run again (it only installs what is missing).
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
need=()
for pair in arm-none-eabi-as:binutils-arm-none-eabi arm-none-eabi-gcc:gcc-arm-none-eabi \
            gdb-multiarch:gdb-multiarch qemu-system-arm:qemu-system-arm gcc:gcc \
            tmux:tmux dtc:device-tree-compiler cpio:cpio; do
    command -v "${pair%%:*}" >/dev/null 2>&1 || need+=("${pair#*:}")
done
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    echo "bootstrap: installing Debian packages: ${need[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${need[@]}" >&2
fi
venv="$top/.venv"
stamp="$venv/.hypdbg-installed"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
if [ ! -f "$stamp" ] || [ "$top/setup.cfg" -nt "$stamp" ]; then
    "$venv/bin/pip" install -q --upgrade pip >&2
    "$venv/bin/pip" install -q -e "$top[test]" >&2
    touch "$stamp"
fi
# The instruction-counting helper (C); hypdbg falls back to Python when it is absent.
"$venv/bin/python" -m hypdbg.core.fastcount --build >&2 || echo "bootstrap: C helper not built; using the Python fallback" >&2
export PATH="$venv/bin:$PATH"
