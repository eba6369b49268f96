#!/usr/bin/env bash
# Creates /work/main/.venv-peer: Quix Streams (requirements.txt) and streamml (editable).
# Idempotent: skipped when the venv was built from the same requirements.txt and pyproject.toml.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="${PEER_VENV:-$repo/.venv-peer}"
stamp="$venv/.peer-requirements.sha256"
want="$(cat "$here/requirements.txt" "$repo/pyproject.toml" | sha256sum | cut -d' ' -f1)"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "peer venv $venv is up to date (requirements $want)"
    exit 0
fi

# The main venv's interpreter when there is one (same CPython), else python3.11.
python="python3.11"
if [[ -x "$repo/.venv/bin/python" ]]; then
    python="$("$repo/.venv/bin/python" -c 'import sys; print(sys.base_prefix)')/bin/python3"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    echo "creating $venv with $python"
    "$python" -m venv "$venv"
fi
echo "upgrading pip"
"$venv/bin/python" -m pip install --quiet --upgrade pip
echo "installing $here/requirements.txt and streamml (editable) from $repo"
# One resolution: streamml's own ranges must accept Quix's pins (confluent-kafka <2.13).
"$venv/bin/python" -m pip install --quiet -r "$here/requirements.txt" -e "$repo"
echo "checking the imports"
"$venv/bin/python" -c 'import quixstreams, confluent_kafka, streamml.fraud_flow; print("quixstreams", quixstreams.__version__, "confluent-kafka", confluent_kafka.version(), "librdkafka", confluent_kafka.libversion()[0])'
echo "$want" > "$stamp"
echo "peer venv ready: $venv"
