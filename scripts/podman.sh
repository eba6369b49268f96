#!/usr/bin/env bash
# Serve the Docker API from Podman for testcontainers, the docker CLI and podman-compose.
#
#   eval "$(scripts/podman.sh)"      # or: scripts/podman.sh >/dev/null; source <cache>/podman/podman.env
#
# Idempotent and fast once done: installs the Debian packages only when missing, writes a
# containers.conf into the cache, starts `podman system service` detached only when its
# socket does not answer, waits for it, and prints the `export` lines a shell needs.
# Progress goes to stderr, the export lines to stdout (and to <cache>/podman/podman.env).
#
# Environment: STREAMML_CACHE_DIR (default ~/.cache/streamml),
#              STREAMML_PODMAN_WAIT_SECONDS (default 30).
set -euo pipefail

cache_dir="${STREAMML_CACHE_DIR:-$HOME/.cache/streamml}"
podman_dir="$cache_dir/podman"
conf="$podman_dir/containers.conf"
sock="$podman_dir/podman.sock"
log="$podman_dir/service.log"
pid_file="$podman_dir/service.pid"
env_file="$podman_dir/podman.env"
wait_seconds="${STREAMML_PODMAN_WAIT_SECONDS:-30}"
# dnsname: containers on a podman network (compose) find each other by name.
packages=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs curl
    golang-github-containernetworking-plugin-dnsname)

say() { printf 'podman.sh: %s\n' "$*" >&2; }

install_missing_packages() {
    local missing=() pkg
    for pkg in "${packages[@]}"; do
        if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]]; then
            missing+=("$pkg")
        fi
    done
    ((${#missing[@]} == 0)) && return 0
    if ((EUID != 0)); then
        say "missing Debian packages: ${missing[*]}; install them as root (apt-get install ${missing[*]})"
        exit 1
    fi
    say "installing ${missing[*]}"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
}

write_containers_conf() {
    # runc: crun refuses this machine's hybrid (v1 + unified) cgroups. Ulimits no higher
    # than the host's: raising them inside a container is not permitted here.
    local wanted
    wanted='# Written by scripts/podman.sh; edit the script, not this file.
[containers]
default_ulimits = ["nofile=4096:4096", "nproc=4096:4096"]

[engine]
runtime = "runc"'
    mkdir -p "$podman_dir"
    if [[ ! -f "$conf" || "$(cat "$conf")" != "$wanted" ]]; then
        printf '%s\n' "$wanted" >"$conf"
    fi
}

answers() {
    [[ -S "$sock" ]] && curl -sf --max-time 2 --unix-socket "$sock" http://d/_ping >/dev/null 2>&1
}

start_service() {
    local pid
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null \
        && grep -q 'system' "/proc/$pid/cmdline" 2>/dev/null; then
        say "service (pid $pid) is starting; waiting for it"
        return 0
    fi
    rm -f "$sock"
    say "starting podman system service on $sock (log: $log)"
    # setsid + nohup: the service outlives this shell and the job that ran it. From /:
    # conmon needs the service's working directory, and a clone's may be deleted later.
    (cd / && CONTAINERS_CONF="$conf" exec setsid nohup podman system service --time=0 \
        "unix://$sock") >>"$log" 2>&1 </dev/null &
    echo $! >"$pid_file"
}

wait_until_answering() {
    local deadline=$((SECONDS + wait_seconds))
    until answers; do
        if ((SECONDS >= deadline)); then
            say "the socket $sock did not answer within ${wait_seconds}s; last log lines:"
            tail -n 20 "$log" >&2 || true
            exit 1
        fi
        sleep 0.2
    done
}

stop_if_cwd_deleted() {
    # A service started by an older script from a since-deleted directory answers the
    # socket but cannot start containers ("write child: broken pipe"): replace it.
    local pid
    pid="$(cat "$pid_file" 2>/dev/null || true)"
    if [[ -n "$pid" ]] && [[ "$(readlink "/proc/$pid/cwd" 2>/dev/null)" == *"(deleted)" ]]; then
        say "the service (pid $pid) runs in a deleted directory; restarting it"
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        rm -f "$sock"
    fi
}

install_missing_packages
write_containers_conf
stop_if_cwd_deleted
if ! answers; then
    start_service
    wait_until_answering
    # overlay when the kernel offers it on the storage's filesystem (ext4 here); vfs, the
    # fallback, copies every layer in full and makes image builds and starts slow.
    say "ready; storage driver: $(CONTAINERS_CONF="$conf" podman info --format '{{.Store.GraphDriverName}}')"
fi

cat >"$env_file" <<EOF
CONTAINERS_CONF=$conf
DOCKER_HOST=unix://$sock
TESTCONTAINERS_RYUK_DISABLED=true
TESTCONTAINERS_CONNECTION_MODE=docker_host
EOF
sed 's/^/export /' "$env_file"
