#!/usr/bin/env bash
# Integration tests on a real Kafka and a real MinIO. Sets up Podman (Docker API) and the
# project's images when it can; the fixtures fall back to local processes otherwise, and
# KAFKA_BOOTSTRAP_SERVERS / STREAMML_TEST_S3_ENDPOINT point them at existing services.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${KAFKA_BOOTSTRAP_SERVERS:-}" && "${STREAMML_TEST_CONTAINERS:-1}" != "0" ]]; then
    if env_lines="$(scripts/podman.sh)"; then
        eval "$env_lines"
        scripts/images.sh >/dev/null
    else
        echo "test-integration: no container engine; the fixtures use local processes" >&2
    fi
fi
if tool_lines="$(scripts/test-tools.sh)"; then
    eval "$tool_lines"
else
    echo "test-integration: no chromium or tmux; the report and dashboard tests fail" >&2
fi
exec .venv/bin/pytest -q tests/integration "$@"
