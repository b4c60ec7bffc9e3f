#!/bin/sh
# System packages the kit can use but does not require: Icarus Verilog (a second
# HDL simulator). Installed only where apt-get is usable; without it, Icarus
# tests skip with a reason.
if command -v iverilog >/dev/null 2>&1; then
    exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: installing iverilog with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iverilog) >/dev/null 2>&1 \
        || echo "install-system-deps: apt-get could not install iverilog; Icarus tests will skip" >&2
else
    echo "install-system-deps: apt-get not usable here; Icarus tests will skip" >&2
fi
exit 0
