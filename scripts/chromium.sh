#!/usr/bin/env bash
# Debian's Chromium for the report's browser test: installed when missing (as root), and
# its path printed as an export line for the tests (STREAMML_TEST_CHROMIUM).
set -euo pipefail
say() { printf 'chromium.sh: %s\n' "$*" >&2; }
if ! command -v chromium >/dev/null; then
    if ((EUID != 0)); then
        say "chromium is missing; install it as root (apt-get install chromium)"
        exit 1
    fi
    say "installing Debian's chromium (first time only)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2
fi
printf 'export STREAMML_TEST_CHROMIUM=%q\n' "$(command -v chromium)"
