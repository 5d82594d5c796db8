#!/usr/bin/env bash
# ensure-engines.sh — make sure Docker and Podman answer on their Unix sockets.
#
# Idempotent: run it as often as you like (as root, on Debian 12). It
#   1. installs the engine packages that are missing (apt-get update only then),
#   2. starts dockerd / `podman system service` when their socket does not answer,
#   3. waits (bounded) until both answer GET /version,
#   4. proves both can run a container with the hardened flags mcp-lok sends
#      (skip with --no-verify).
# Progress goes to stderr; stdout stays empty.
#
# Usage: scripts/ensure-engines.sh [--no-verify] [--engine docker|podman|all]
#
# Environment:
#   MCP_LOK_LOG_DIR        daemon logs (default /var/log/mcp-lok)
#   MCP_LOK_ENGINE_WAIT    seconds to wait for each socket (default 60)
#   MCP_LOK_DOCKERD_FLAGS  extra dockerd flags, word-split (default none)
#
# What this sandbox needed (measured on Debian 12, kernel 6.x, cgroup v1; root
# here lacks CAP_SYS_RESOURCE; hard limits: nofile 20000, nproc 96365):
#   * dockerd 20.10 runs with NO extra flags: overlay2 on ext4 works, iptables
#     (nft backend) works, cgroupfs driver on cgroup v1 works. It starts its own
#     containerd. Only warnings: "kernel does not support cgroup blkio weight".
#     Nested (Debian 12 inside a privileged container, root fs = overlay),
#     overlay2 fails ("failed to mount overlay: invalid argument") and dockerd
#     picks fuse-overlayfs by itself — one reason fuse-overlayfs is installed.
#     The fallbacks below (vfs storage, --iptables=false) are only tried if
#     dockerd dies with a matching error.
#   * podman 4.3 service needs no flags; it uses runc, conmon, netavark, overlay.
#   * Podman sets default rlimits above what this host allows, and root cannot
#     raise hard limits without CAP_SYS_RESOURCE: a container WITHOUT explicit
#     nofile AND nproc ulimits fails to start, on the CLI and on the compat API
#     alike ("error setting rlimit type 7" = nofile, "type 6" = nproc; via the
#     docker CLI it only shows as "unable to upgrade to tcp, received 409").
#     Explicit values must not exceed podman's own limits: nofile <= 20000,
#     nproc <= 32768 (podman lowers its own RLIMIT_NPROC to 32768).
#     Docker sets no rlimits by default; its containers inherit 20000/96365.
#   * Podman's --init uses /usr/libexec/podman/catatonit, which on Debian is a
#     symlink shipped by the `catatonit` package; podman only *recommends* it.
#   * Packages are installed with --no-install-recommends and a temporary
#     policy-rc.d, so apt does not try to start daemons itself (no systemd here).
set -euo pipefail

LOG_DIR=${MCP_LOK_LOG_DIR:-/var/log/mcp-lok}
WAIT_SECS=${MCP_LOK_ENGINE_WAIT:-60}
STATE_DIR=/run/mcp-lok
DOCKER_SOCK=/var/run/docker.sock
PODMAN_SOCK=/run/podman/podman.sock
# The hardened flags of the baseline (docs/baseline.md), as the engine's CLI spells them.
HARDENED=(--read-only --cap-drop ALL --security-opt no-new-privileges
  --user 65534:65534 --network none --init --pids-limit 128 --memory 512m
  --ulimit nofile=1024:1024 --ulimit nproc=512:512 -i)

VERIFY=1
ENGINES=all
while [ $# -gt 0 ]; do
  case $1 in
    --no-verify) VERIFY=0 ;;
    --engine) ENGINES=${2:?--engine needs docker|podman|all}; shift ;;
    --engine=*) ENGINES=${1#*=} ;;
    -h|--help) sed -n '2,16p' "$0" >&2; exit 0 ;;
    *) echo "ensure-engines: unknown argument: $1" >&2; exit 2 ;;
  esac
  shift
done
case $ENGINES in docker|podman|all) ;; *) echo "ensure-engines: --engine must be docker, podman or all" >&2; exit 2 ;; esac
want() { [ "$ENGINES" = all ] || [ "$ENGINES" = "$1" ]; }

log() { printf 'ensure-engines: %s\n' "$*" >&2; }
die() { printf 'ensure-engines: ERROR: %s\n' "$*" >&2; exit 1; }
fail_with_log() { # fail_with_log MESSAGE LOGFILE
  log "ERROR: $1"
  if [ -f "$2" ]; then
    log "last lines of $2:"
    tail -n 25 "$2" >&2
  fi
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "must run as root (it installs packages and starts daemons)"

mkdir -p "$LOG_DIR" "$STATE_DIR"
# Serialise concurrent runs (e.g. parallel CI jobs) so only one starts daemons.
exec 9>"$STATE_DIR/ensure-engines.lock"
flock -w 600 9 || die "another ensure-engines.sh holds $STATE_DIR/ensure-engines.lock"

# ---------------------------------------------------------------- packages --
# docker.io pulls containerd, runc, tini (docker-init); podman needs conmon and
# a network stack (netavark + aardvark-dns; listed explicitly because
# containers-common only depends on the virtual container-network-stack).
# catatonit: podman --init. uidmap/slirp4netns/fuse-overlayfs: rootless podman
# and podman's usual helpers. iptables: dockerd bridge networks and netavark.
# debootstrap: scripts/build_images.py. curl: the socket probes below.
PKGS=(docker.io containerd runc tini podman conmon golang-github-containers-common
  netavark aardvark-dns catatonit uidmap slirp4netns fuse-overlayfs iptables
  debootstrap curl ca-certificates util-linux)

missing=()
for p in "${PKGS[@]}"; do
  [ "$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null)" = "ii " ] || missing+=("$p")
done
# The image build resolves wheels with the host's pip; add it only if absent.
if ! python3 -m pip --version >/dev/null 2>&1; then
  missing+=(python3 python3-pip)
fi
# Engines need cgroup hierarchies; a bare host may not have them mounted.
if ! mountpoint -q /sys/fs/cgroup 2>/dev/null; then
  missing+=(cgroupfs-mount)
fi

if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  # Keep apt from starting services itself: we start them below with our
  # flags and logs. Only add policy-rc.d if the host has none.
  policy_added=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    policy_added=1
  fi
  trap 'if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; fi' EXIT
  # dpkg's "Setting up …" chatter goes to a log; shown only on failure.
  apt_log=$LOG_DIR/apt.log
  apt-get -qq update >>"$apt_log" 2>&1 || fail_with_log "apt-get update failed" "$apt_log"
  apt-get -qq -y --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    install "${missing[@]}" >>"$apt_log" 2>&1 \
    || fail_with_log "apt-get install ${missing[*]} failed" "$apt_log"
  log "installed (apt log: $apt_log)"
  if [ "$policy_added" = 1 ]; then rm -f /usr/sbin/policy-rc.d; policy_added=0; fi
else
  log "packages present"
fi

if ! mountpoint -q /sys/fs/cgroup 2>/dev/null && command -v cgroupfs-mount >/dev/null; then
  log "mounting cgroup hierarchies (cgroupfs-mount)"
  cgroupfs-mount >&2 || die "cgroupfs-mount failed"
fi

# ----------------------------------------------------------------- daemons --
answers() { curl -sf --max-time 3 --unix-socket "$1" http://localhost/version >/dev/null 2>&1; }

have_systemd() { [ -d /run/systemd/system ]; }

# wait_for SOCK PID SECS: 0 = answers, 1 = timed out, 2 = PID died first.
wait_for() {
  local sock=$1 pid=$2 secs=$3 i
  for ((i = 0; i < secs; i++)); do
    answers "$sock" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      answers "$sock" && return 0
      return 2
    fi
    sleep 1
  done
  answers "$sock"
}

# Launch a daemon detached from this script (own session, no stdin, log file),
# so it outlives the shell that called us. Prints its pid.
spawn() { # spawn LOGFILE CMD...
  local logf=$1; shift
  printf '\n=== %s: %s\n' "$(date -u +%FT%TZ)" "$*" >>"$logf"
  # 9>&-: the daemon must not inherit our lock fd, or it would hold the lock
  # for its whole life and the next run of this script would block on it.
  # cd /: daemons keep the working directory for life, and Podman's conmon writes
  # files there (an `oom` marker when a container hits its memory limit), so they must
  # never run in the checkout that started them.
  (cd / && exec setsid nohup "$@" >>"$logf" 2>&1 </dev/null 9>&-) &
  echo $!
}

ensure_docker() {
  if answers "$DOCKER_SOCK"; then log "docker: $DOCKER_SOCK answers"; return; fi
  if have_systemd && systemctl list-unit-files docker.service >/dev/null 2>&1; then
    log "docker: systemctl start docker"
    systemctl start docker.service >&2 || true
    wait_for "$DOCKER_SOCK" "" "$WAIT_SECS" && return
  fi
  local logf=$LOG_DIR/dockerd.log flags=() pid rc offset
  # shellcheck disable=SC2206 # word-splitting of extra flags is intended
  [ -n "${MCP_LOK_DOCKERD_FLAGS:-}" ] && flags=(${MCP_LOK_DOCKERD_FLAGS})
  # A dockerd that is still starting (pidfile, live pid) just needs waiting.
  if [ -f /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    pid=$(cat /var/run/docker.pid)
    log "docker: dockerd (pid $pid) is running but not answering yet; waiting"
  else
    offset=$(stat -c %s "$logf" 2>/dev/null || echo 0)
    log "docker: starting dockerd${flags[*]:+ ${flags[*]}} (log: $logf)"
    pid=$(spawn "$logf" dockerd "${flags[@]}")
  fi
  rc=0; wait_for "$DOCKER_SOCK" "$pid" "$WAIT_SECS" || rc=$?
  [ $rc -eq 0 ] && { log "docker: up (pid $pid)"; return; }
  [ $rc -eq 1 ] && fail_with_log "docker: $DOCKER_SOCK did not answer within ${WAIT_SECS}s" "$logf"
  # dockerd died: retry once with the fallback for the error it reported.
  local tail_txt retry=()
  tail_txt=$(tail -c +"$((${offset:-0} + 1))" "$logf" 2>/dev/null || true)
  if grep -qiE 'overlay|graphdriver|storage-driver|driver not supported' <<<"$tail_txt"; then
    retry+=(--storage-driver=vfs)
  fi
  if grep -qiE 'iptables|nf_tables|netfilter' <<<"$tail_txt"; then
    retry+=(--iptables=false --ip-masq=false)
  fi
  [ ${#retry[@]} -gt 0 ] || fail_with_log "docker: dockerd exited during startup" "$logf"
  log "docker: dockerd exited; retrying with fallback flags: ${retry[*]}"
  pid=$(spawn "$logf" dockerd "${flags[@]}" "${retry[@]}")
  rc=0; wait_for "$DOCKER_SOCK" "$pid" "$WAIT_SECS" || rc=$?
  [ $rc -eq 0 ] || fail_with_log "docker: dockerd did not come up (also with ${retry[*]})" "$logf"
  log "docker: up (pid $pid, flags ${flags[*]} ${retry[*]})"
}

ensure_podman() {
  if answers "$PODMAN_SOCK"; then log "podman: $PODMAN_SOCK answers"; return; fi
  if have_systemd && systemctl list-unit-files podman.socket >/dev/null 2>&1; then
    log "podman: systemctl start podman.socket"
    systemctl start podman.socket >&2 || true
    wait_for "$PODMAN_SOCK" "" "$WAIT_SECS" && return
  fi
  local logf=$LOG_DIR/podman.log pidf=$STATE_DIR/podman-service.pid pid rc
  if [ -f "$pidf" ] && kill -0 "$(cat "$pidf")" 2>/dev/null; then
    pid=$(cat "$pidf")
    log "podman: service (pid $pid) is running but not answering yet; waiting"
  else
    # A socket file nobody serves makes the new service fail to bind.
    rm -f "$PODMAN_SOCK"
    mkdir -p "$(dirname "$PODMAN_SOCK")"
    log "podman: starting podman system service (log: $logf)"
    # --time=0: never exit on idle (the default is 5 s).
    pid=$(spawn "$logf" podman system service --time=0 "unix://$PODMAN_SOCK")
    echo "$pid" >"$pidf"
  fi
  rc=0; wait_for "$PODMAN_SOCK" "$pid" "$WAIT_SECS" || rc=$?
  case $rc in
    0) log "podman: up (pid $pid)" ;;
    1) fail_with_log "podman: $PODMAN_SOCK did not answer within ${WAIT_SECS}s" "$logf" ;;
    *) fail_with_log "podman: service exited during startup" "$logf" ;;
  esac
}

want docker && ensure_docker
want podman && ensure_podman

[ "$VERIFY" = 1 ] || exit 0

# ------------------------------------------------------------------ verify --
# A tiny local image (the host's dash + libc, ~2 MB, no registry needed) run
# through the Docker API of each socket — the same API mcp-lok uses, also on
# Podman (its compat API) — with the hardened flags. The probe prints what the
# kernel says about the process, and we check every hardened property.
command -v docker >/dev/null || die "docker CLI not found (package docker.io)"

probe_files=(/usr/bin/dash /lib/x86_64-linux-gnu/libc.so.6 /lib64/ld-linux-x86-64.so.2)
probe_tag=$( (cat "${probe_files[@]}"; echo probe-v2) | sha256sum | cut -c1-12)
PROBE_IMAGE=mcp-lok/probe:$probe_tag

build_probe_tar() {
  local d; d=$(mktemp -d)
  # mktemp makes a 0700 dir, which would become the image root: uid 65534
  # could then not even reach /sbin/docker-init (seen with the vfs driver).
  chmod 755 "$d"
  mkdir -p "$d"/usr/bin "$d"/bin "$d"/lib/x86_64-linux-gnu "$d"/lib64 "$d"/tmp "$d"/etc "$d"/proc "$d"/sys "$d"/dev
  cp /usr/bin/dash "$d"/usr/bin/dash
  ln -s ../usr/bin/dash "$d"/bin/sh
  cp -L /lib/x86_64-linux-gnu/libc.so.6 "$d"/lib/x86_64-linux-gnu/
  cp -L /lib64/ld-linux-x86-64.so.2 "$d"/lib64/
  chmod 1777 "$d"/tmp
  tar -C "$d" --numeric-owner --owner=0 --group=0 -cf "$1" .
  rm -rf "$d"
}

# dash builtins only: the image has no coreutils.
# shellcheck disable=SC2016 # expanded by the shell inside the container
PROBE_SCRIPT='read -r line; echo "stdin=$line"
while read -r k v _; do case $k in Uid:|Gid:|CapEff:|NoNewPrivs:) echo "$k$v";; esac; done </proc/self/status
read -r p1 </proc/1/comm; echo "pid1=$p1"
for i in /sys/class/net/*; do echo "if=${i##*/}"; done
if (: >/probe-write) 2>/dev/null; then echo rootfs=rw; else echo rootfs=ro; fi
while read -r a b c d _; do case "$a $b" in "Max open") echo "nofile=$d";; "Max processes") echo "nproc=$c";; esac; done </proc/self/limits'

verify_engine() { # verify_engine NAME SOCKET
  local name=$1 sock=$2 out expect tar
  if ! DOCKER_HOST=unix://$sock docker image inspect "$PROBE_IMAGE" >/dev/null 2>&1; then
    tar=$(mktemp --suffix=.tar)
    build_probe_tar "$tar"
    # podman import, not the compat API: same storage, and it names the image
    # localhost/mcp-lok/probe, which the compat API also resolves as mcp-lok/probe.
    if [ "$name" = podman ]; then podman import -q "$tar" "$PROBE_IMAGE" >/dev/null
    else DOCKER_HOST=unix://$sock docker import "$tar" "$PROBE_IMAGE" >/dev/null; fi
    rm -f "$tar"
  fi
  out=$(echo ping | DOCKER_HOST=unix://$sock timeout 120 docker run --rm "${HARDENED[@]}" \
    "$PROBE_IMAGE" /bin/sh -c "$PROBE_SCRIPT" 2>&1) \
    || { log "$name: hardened run failed:"; printf '%s\n' "$out" >&2; return 1; }
  # pid1 must be the engine's init (docker-init = tini, podman-init = catatonit).
  for expect in stdin=ping Uid:65534 Gid:65534 CapEff:0000000000000000 NoNewPrivs:1 \
    if=lo rootfs=ro nofile=1024 nproc=512; do
    grep -qxF -- "$expect" <<<"$out" \
      || { log "$name: hardened run: expected '$expect' in:"; printf '%s\n' "$out" >&2; return 1; }
  done
  if grep '^if=' <<<"$out" | grep -vqx 'if=lo'; then
    log "$name: container has interfaces besides lo:"; printf '%s\n' "$out" >&2; return 1
  fi
  if grep -qx 'pid1=sh' <<<"$out"; then
    log "$name: --init had no effect (pid 1 is the shell)"; return 1
  fi
  log "$name: hardened run OK ($(grep '^pid1=' <<<"$out"), uid 65534, no caps, no-new-privs, lo only, ro rootfs, nofile 1024, nproc 512)"
}

ok=1
want docker && { verify_engine docker "$DOCKER_SOCK" || ok=0; }
want podman && { verify_engine podman "$PODMAN_SOCK" || ok=0; }
[ $ok = 1 ] || die "engine verification failed"
log "engines ready"
