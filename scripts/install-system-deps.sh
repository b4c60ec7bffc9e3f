#!/bin/sh
# System packages:
# - g++, which `attnkit csim` needs to build the HLS C++ kernels (required: csim and its tests fail without it);
# - Icarus Verilog, a second HDL simulator (its tests skip without it);
# - Chromium, which the report test uses to open the HTML report headless (skips without it);
# - ccache, through which Verilator builds share the runtime objects every build compiles (without it
#   each build compiles them again: slower, the same result).
# Installed only where apt-get is usable (root on Debian-like machines).
missing=""
command -v g++ >/dev/null 2>&1 || missing="$missing g++"
command -v iverilog >/dev/null 2>&1 || missing="$missing iverilog"
command -v chromium >/dev/null 2>&1 || missing="$missing chromium"
command -v ccache >/dev/null 2>&1 || missing="$missing ccache"
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "install-system-deps: installing$missing with apt-get" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) >/dev/null 2>&1 \
        || echo "install-system-deps: apt-get could not install$missing; csim needs g++, the others' tests skip" >&2
else
    echo "install-system-deps: apt-get not usable here;$missing missing (csim needs g++; the others' tests skip)" >&2
fi
exit 0
