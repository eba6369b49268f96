#!/usr/bin/env bash
# Build the project's container images locally (no registry is needed or reachable):
#
#   scripts/images.sh            # prints STREAMML_*_IMAGE=name:tag lines, writes <cache>/images.env
#
#   localhost/streamml-java17:<tag>  Debian bookworm (debootstrap minbase) + OpenJDK 17 JRE
#   localhost/streamml-kafka:<tag>   java17 + Kafka's jars (Maven) + docker/kafka/*
#   localhost/streamml-minio:<tag>   FROM scratch + the static MinIO binary (go install)
#   localhost/streamml-python311:<tag> Debian bookworm (debootstrap minbase) + Python 3.11
#   localhost/streamml-app:<tag>     python311 + the worker, from the host's wheels
#
# Each tag is the first 12 hex digits of a SHA-256 over the image's recipe (the build
# function below, the Containerfile and the files it copies, the Kafka POM, the MinIO
# binary, the base image's tag), so an image is rebuilt exactly when its recipe changes
# and a warm run only hashes a few files. Older tags of the same image are removed.
# The first run needs root (debootstrap) and takes about a minute; later ones < 1 s.
#
# Environment: STREAMML_CACHE_DIR (default ~/.cache/streamml),
#   STREAMML_CONTAINER_CLI (podman, else docker), STREAMML_DEBIAN_MIRROR (default: the
#   bookworm mirror in /etc/apt/sources.list{,.d}), STREAMML_MINIO_BIN (skip the lookup).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cache_dir="${STREAMML_CACHE_DIR:-$HOME/.cache/streamml}"
images_dir="$cache_dir/images"
env_file="$cache_dir/images.env"
pom="$repo/src/streamml/services/resources/kafka-pom.xml"
python="${STREAMML_PYTHON:-$repo/.venv/bin/python}"
cli="${STREAMML_CONTAINER_CLI:-$(command -v podman >/dev/null && echo podman || echo docker)}"

say() { printf 'images.sh: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

# sha256 over named inputs: each contributes its label and its bytes, so renaming or
# moving content between inputs changes the hash too.
recipe_hash() {
    local input
    for input in "$@"; do
        if [[ -f "$input" ]]; then
            printf '== file %s\n' "${input#"$repo"/}"
            cat "$input"
        else
            printf '== text %s\n' "$input"
        fi
    done | sha256sum | cut -c 1-12
}

image_exists() { "$cli" image inspect "$1" >/dev/null 2>&1; }

# Drop the other tags of a repository once a new one is built (best effort: an image
# that a container still uses stays).
remove_older_tags() {
    local repository="$1" keep="$2" name
    "$cli" images --format '{{.Repository}}:{{.Tag}}' --filter "reference=$repository" \
        | while read -r name; do
            [[ "$name" == "$keep" || "$name" == *"<none>"* ]] && continue
            if "$cli" rmi "$name" >/dev/null 2>&1; then say "removed old image $name"; fi
        done
}

debian_mirror() {
    if [[ -n "${STREAMML_DEBIAN_MIRROR:-}" ]]; then
        echo "$STREAMML_DEBIAN_MIRROR"
        return
    fi
    local found
    # deb822 stanzas (URIs:/Suites:) and one-line entries (deb URL bookworm ...).
    found="$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '
        /^$/ { if (suites ~ /(^| )bookworm( |$)/ && uris != "") { print uris; exit } uris = ""; suites = "" }
        /^URIs:/ { uris = $2 } /^Suites:/ { $1 = ""; suites = $0 " " }
        END { if (suites ~ /(^| )bookworm( |$)/ && uris != "") print uris }' | head -n 1)"
    if [[ -z "$found" ]]; then
        found="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
            | awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^[a-z]+:\/\//) {
                   if ($(i + 1) == "bookworm") { print $i; exit } } }' | head -n 1)"
    fi
    echo "${found:-http://deb.debian.org/debian}"
}

# Removes what a JRE image never reads: package archives and lists, docs, man pages,
# locales (about a third of the root filesystem).
trim_rootfs() {
    local rootfs="$1"
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
        "$rootfs"/usr/share/locale/* "$rootfs"/var/log/* "$rootfs"/var/cache/debconf/*-old
}

build_java17() {
    build_rootfs "$1" java17 openjdk-17-jre-headless \
        --change "ENV JAVA_HOME=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)"
}

build_python311() {
    build_rootfs "$1" python311 python3,python3-venv,ca-certificates
}

# A debootstrapped bookworm (minbase plus $3) imported as image $1; more --change args after.
build_rootfs() {
    local image="$1" name="$2" include="$3" rootfs="$images_dir/$2-rootfs" started=$SECONDS
    shift 3
    (( EUID == 0 )) || die "debootstrap needs root to build $image"
    command -v debootstrap >/dev/null || die "debootstrap is missing (scripts/podman.sh installs it)"
    remove_rootfs "$rootfs"
    mkdir -p "$images_dir"
    say "debootstrap bookworm + $include from $(debian_mirror) (about 40 s)"
    if ! debootstrap --variant=minbase --include="$include" \
        bookworm "$rootfs" "$(debian_mirror)" >"$images_dir/debootstrap-$name.log" 2>&1; then
        tail -n 20 "$images_dir/debootstrap-$name.log" >&2
        die "debootstrap failed; full log: $images_dir/debootstrap-$name.log"
    fi
    say "debootstrap took $((SECONDS - started)) s"
    trim_rootfs "$rootfs"
    tar -C "$rootfs" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' \
        --exclude='./sys/*' -cf - . \
        | "$cli" import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            "$@" - "$image" >/dev/null 2>"$images_dir/import-$name.log" \
        || { tail -n 20 "$images_dir/import-$name.log" >&2; die "importing $rootfs failed"; }
    remove_rootfs "$rootfs"
}

# debootstrap mounts /proc (and, inside containers, binds /dev) in the root filesystem; a
# failed run can leave them mounted, and rm must never descend into the host's.
remove_rootfs() {
    local rootfs="$1" mount_point
    [[ -d "$rootfs" ]] || return 0
    awk -v root="$rootfs/" 'index($2, root) == 1 { print $2 }' /proc/mounts | sort -r \
        | while read -r mount_point; do umount -l "$mount_point" || true; done
    rm -rf --one-file-system "$rootfs"
}

# Ask streamml's own services package (the cache the local broker and MinIO use too) for a
# path: $1 is kafka_jars or minio_binary. Its progress goes to stderr.
streamml_path() {
    [[ -x "$python" ]] || return 1
    "$python" - "$1" <<'PY'
import sys

from streamml.services import binaries
from streamml.settings import Settings

print(getattr(binaries, sys.argv[1])(Settings(), lambda line: print(line, file=sys.stderr)))
PY
}

# Kafka's jars; straight from Maven when the package cannot run (a half-installed venv).
kafka_jars() {
    local dir
    if dir="$(streamml_path kafka_jars)" && [[ -d "$dir" ]]; then
        echo "$dir"
        return
    fi
    dir="$images_dir/jars-$(recipe_hash "$pom")"
    say "streamml could not resolve the Kafka jars; running Maven into $dir"
    if [[ ! -f "$dir/.complete" ]]; then
        rm -rf "$dir"
        mvn -q -B -f "$pom" -Dmaven.repo.local="$cache_dir/m2" dependency:copy-dependencies \
            -DoutputDirectory="$dir" -DincludeScope=runtime >"$images_dir/maven.log" 2>&1 \
            || { tail -n 20 "$images_dir/maven.log" >&2; die "Maven failed"; }
        touch "$dir/.complete"
    fi
    echo "$dir"
}

minio_binary() {
    local binary
    if [[ -n "${STREAMML_MINIO_BIN:-}" ]]; then
        echo "$STREAMML_MINIO_BIN"
    elif binary="$(streamml_path minio_binary)" && [[ -x "$binary" ]]; then
        echo "$binary"
    elif [[ -x "$cache_dir/bin/minio" ]]; then
        say "streamml could not provide the MinIO binary; using $cache_dir/bin/minio"
        echo "$cache_dir/bin/minio"
    else
        die "no MinIO binary: run '.venv/bin/streamml services minio-bin' or set STREAMML_MINIO_BIN"
    fi
}

# The binary's SHA-256 identifies exactly what goes into the image; it is remembered per
# (path, size, mtime) so that warm runs do not re-read 150 MB.
minio_digest() {
    local binary="$1" key stamp="$images_dir/minio-binary.sha256"
    key="$(stat -c '%n %s %Y' "$binary")"
    if [[ -f "$stamp" && "$(head -n 1 "$stamp")" == "$key" ]]; then
        tail -n 1 "$stamp"
        return
    fi
    printf '%s\n%s\n' "$key" "$(sha256sum "$binary" | cut -d ' ' -f 1)" >"$stamp"
    tail -n 1 "$stamp"
}

# A throwaway build context: the Containerfile's directory plus generated inputs.
# Hard links where possible: the jars and the binary are not copied byte by byte.
make_context() {
    local name="$1" context="$images_dir/context-$1"
    rm -rf "$context"
    mkdir -p "$context"
    cp -a "$repo/docker/$name/." "$context/"
    echo "$context"
}

link_into() { cp -al "$1" "$2" 2>/dev/null || cp -a "$1" "$2"; }

build_kafka() {
    local image="$1" base="$2" context
    context="$(make_context kafka)"
    link_into "$(kafka_jars)" "$context/libs"
    rm -f "$context/libs/.complete"
    "$cli" build --quiet --build-arg "BASE=$base" -t "$image" -f "$context/Containerfile" \
        "$context" >/dev/null
    rm -rf "$context"
}

# The worker: the host resolves and builds the wheels (the container cannot verify PyPI
# behind this machine's TLS proxy), the image installs them offline.
build_app() {
    local image="$1" base="$2" context
    context="$(make_context app)"
    [[ -x "$python" ]] || die "no $python to build the wheels with (make setup-venv)"
    "$python" -m pip wheel --quiet --disable-pip-version-check --wheel-dir "$context/wheels" \
        "$repo" >&2
    "$cli" build --quiet --build-arg "BASE=$base" -t "$image" -f "$context/Containerfile" \
        "$context" >/dev/null
    rm -rf "$context"
}

build_minio() {
    local image="$1" binary="$2" context
    context="$(make_context minio)"
    link_into "$binary" "$context/minio"
    "$cli" build --quiet -t "$image" -f "$context/Containerfile" "$context" >/dev/null
    rm -rf "$context"
}

ensure() {
    local kind="$1" image="$2" started=$SECONDS
    shift 2
    if image_exists "$image"; then
        say "$image is up to date"
        return
    fi
    say "building $image"
    "build_$kind" "$image" "$@"
    image_exists "$image" || die "building $image did not produce it"
    say "built $image in $((SECONDS - started)) s"
    remove_older_tags "${image%:*}" "$image"
}

main() {
    mkdir -p "$images_dir"
    command -v "$cli" >/dev/null || die "no container CLI: install podman (scripts/podman.sh)"
    # One build at a time: parallel test sessions call this script too.
    exec 9>"$images_dir/.lock"
    flock 9

    local java17 python311 app kafka minio minio_bin sources
    java17="localhost/streamml-java17:$(recipe_hash \
        "$(declare -f build_java17 build_rootfs trim_rootfs)" \
        "$(dpkg --print-architecture 2>/dev/null)")"
    python311="localhost/streamml-python311:$(recipe_hash \
        "$(declare -f build_python311 build_rootfs trim_rootfs)" \
        "$(dpkg --print-architecture 2>/dev/null)")"
    mapfile -t sources < <(find "$repo/src" "$repo/schemas" -type f \
        \( -name '*.py' -o -name '*.avsc' -o -name '*.xml' -o -name '*.typed' \) | sort)
    app="localhost/streamml-app:$(recipe_hash "$python311" "$(declare -f build_app)" \
        "$repo/docker/app/Containerfile" "$repo/pyproject.toml" "$repo/README.md" \
        "${sources[@]}")"
    kafka="localhost/streamml-kafka:$(recipe_hash "$java17" \
        "$repo/docker/kafka/Containerfile" "$repo/docker/kafka/entrypoint.sh" \
        "$repo/docker/kafka/log4j2.properties" "$pom")"
    minio_bin="$(minio_binary)"
    minio="localhost/streamml-minio:$(recipe_hash \
        "$repo/docker/minio/Containerfile" "minio sha256 $(minio_digest "$minio_bin")")"

    ensure java17 "$java17"
    ensure kafka "$kafka" "$java17"
    ensure minio "$minio" "$minio_bin"
    ensure python311 "$python311"
    ensure app "$app" "$python311"

    local tmp="$env_file.tmp"
    printf 'STREAMML_JAVA17_IMAGE=%s\nSTREAMML_KAFKA_IMAGE=%s\nSTREAMML_MINIO_IMAGE=%s\n' \
        "$java17" "$kafka" "$minio" >"$tmp"
    printf 'STREAMML_PYTHON311_IMAGE=%s\nSTREAMML_APP_IMAGE=%s\n' "$python311" "$app" >>"$tmp"
    mv "$tmp" "$env_file"
    cat "$env_file"
}

main "$@"
