#!/usr/bin/env bash
# Installs everything mcucompile needs on a Debian/Ubuntu machine, then the package itself
# into ./.venv. Safe to run again: it only installs what is missing.
#   Debian packages: gcc, make, cmake, arm-none-eabi-gcc + newlib, qemu-system-arm, openocd, python3 + venv
#   Python packages: mcucompile and its dependencies (TensorFlow, tflite-micro, ...), pytest
set -euo pipefail
cd "$(dirname "$0")"

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for pkg in gcc make cmake gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm openocd python3 python3-venv python3-pip; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv"
    python3 -m venv .venv
fi
echo "setup: installing mcucompile and its Python dependencies into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q ".[test]"
echo "setup: done ($(.venv/bin/mcucompile --help >/dev/null && echo 'mcucompile is on .venv/bin'))"
