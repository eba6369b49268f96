#!/usr/bin/env bash
# The programs the user-facing tests drive: Debian's Chromium (the report, rendered) and
# tmux (the demo's dashboard, in a real terminal). Installed when missing (as root); the
# Chromium path printed as an export line for the tests (STREAMML_TEST_CHROMIUM).
set -euo pipefail
say() { printf 'test-tools.sh: %s\n' "$*" >&2; }
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v tmux >/dev/null || missing+=(tmux)
if ((${#missing[@]})); then
    if ((EUID != 0)); then
        say "missing ${missing[*]}; install them as root (apt-get install ${missing[*]})"
        exit 1
    fi
    say "installing ${missing[*]} (first time only)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
printf 'export STREAMML_TEST_CHROMIUM=%q\n' "$(command -v chromium)"
