#!/usr/bin/env bash
# A throw-away one-node cluster for trying and testing emma's scale-out paths on this machine:
#
#   scripts/local-cluster.sh [--slurm] [--ray] [--keep] -- CMD ARGS...
#
# Runs CMD inside a private network namespace (`unshare -n`, needs root) whose only interface is
# loopback (127.0.0.1 and 127.0.0.2), so every daemon started here is reachable from this namespace
# alone. --slurm brings up munge, slurmctld and slurmd (Debian: `bash scripts/setup.sh --with slurm`)
# as a one-node cluster with the machine's real CPU count and memory, partition `debug`, and exports
# SLURM_CONF; --ray starts a local Ray head (only where `ray` imports in .venv) and exports RAY_ADDRESS.
# Everything lives in a temporary folder (logs in it; --keep leaves it behind and prints its path) and
# is torn down on exit, error or Ctrl-C. The exit code is CMD's (or 3 when the cluster did not start).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
usage() { echo "usage: scripts/local-cluster.sh [--slurm] [--ray] [--keep] -- CMD ARGS..." >&2; exit 2; }
fail() { echo "local-cluster: $*" >&2; exit 3; }

if [ -z "${EMMA_LOCAL_CLUSTER_NS:-}" ]; then  # outside: parse, check, then re-enter in a new namespace
    args=("$@")
    while [ $# -gt 0 ]; do
        case "$1" in
            --slurm|--ray|--keep) shift ;;
            --) shift; break ;;
            -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
            *) usage ;;
        esac
    done
    [ $# -gt 0 ] || usage
    [ "$(id -u)" = 0 ] || fail "needs root (for unshare -n and the daemons)"
    command -v unshare >/dev/null || fail "unshare not found (util-linux)"
    command -v ip >/dev/null || fail "ip not found (iproute2)"
    # the namespace it leaves, so the inside can tell it really is in a new one
    EMMA_LOCAL_CLUSTER_NS=$(readlink /proc/self/ns/net) exec unshare --net -- bash "$0" "${args[@]}"
fi

SLURM=0 RAY=0 KEEP=0
while [ "$1" != "--" ]; do
    case "$1" in --slurm) SLURM=1 ;; --ray) RAY=1 ;; --keep) KEEP=1 ;; esac
    shift
done
shift
T0=$(date +%s.%N)
NETNS=$(readlink /proc/self/ns/net)
# teardown stops every process in NETNS: never let that be the machine's own namespace
[ -n "$NETNS" ] && [ "$NETNS" != "$EMMA_LOCAL_CLUSTER_NS" ] || fail "not in a private network namespace (unshare -n failed?)"
unset EMMA_LOCAL_CLUSTER_NS
# short: Ray's socket paths must stay under 107 characters
TMP=$(mktemp -d /tmp/emma-cluster.XXXXXX)
chmod 700 "$TMP"
mkdir "$TMP/log"
down() {  # a daemon did not start: the end of its logs, then out
    local f
    for f in "$TMP"/log/*; do [ -s "$f" ] && { echo "== $f"; tail -n 15 "$f"; }; done >&2
    fail "$*"
}

teardown() {
    local rc=$?
    trap - EXIT INT TERM
    # every process left in this private namespace is one this script started (daemons, jobs, Ray
    # workers): stop them by id, politely first
    local me=$$ pids pid p sig alive
    for sig in TERM KILL; do
        pids=()
        for p in /proc/[0-9]*; do
            pid=${p#/proc/}
            [ "$pid" != "$me" ] && [ "$(readlink "$p/ns/net" 2>/dev/null)" = "$NETNS" ] && pids+=("$pid")
        done
        [ ${#pids[@]} -gt 0 ] || break
        kill -s "$sig" "${pids[@]}" 2>/dev/null || true
        for _ in $(seq 20); do  # up to 2 s for them to go (slurmstepd ignores TERM: its state is thrown away anyway)
            alive=0
            for pid in "${pids[@]}"; do [ -d "/proc/$pid" ] && alive=1; done
            [ $alive = 0 ] && break
            sleep 0.1
        done
    done
    if [ $KEEP = 1 ]; then echo "local-cluster: kept $TMP" >&2; else rm -rf "$TMP"; fi
    exit $rc
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ip link set lo up
ip addr add 127.0.0.2/8 dev lo 2>/dev/null || true  # glibc never answers a name with 127.0.0.1; slurmd needs an address

wait_for() {  # wait_for SECONDS WHAT CMD...: poll CMD until it succeeds
    local limit=$1 what=$2 i
    shift 2
    for i in $(seq $((limit * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    down "$what did not come up in ${limit}s (--keep keeps its logs in $TMP)"
}

if [ $SLURM = 1 ]; then
    for b in munged slurmctld slurmd sinfo sbatch; do
        command -v $b >/dev/null || fail "$b not found: bash scripts/setup.sh --with slurm"
    done
    NODE=$(hostname -s)
    mkdir -p "$TMP/munge" "$TMP/state" "$TMP/spool"
    chmod 700 "$TMP/munge"
    head -c 1024 /dev/urandom >"$TMP/munge/munge.key"
    chmod 400 "$TMP/munge/munge.key"
    munged --foreground --force --socket="$TMP/munge/munge.sock" --key-file="$TMP/munge/munge.key" \
        --pid-file="$TMP/munge/munged.pid" --log-file="$TMP/log/munged.log" --seed-file="$TMP/munge/seed" \
        >>"$TMP/log/munged.log" 2>&1 &
    wait_for 10 munged test -S "$TMP/munge/munge.sock"

    # the node as slurmd sees it (CPUs, sockets, cores, threads, memory), so its registration matches
    HW=$(slurmd -C 2>/dev/null | head -1 | sed -e 's/^NodeName=[^ ]* //' -e 's/ *$//')
    [ -n "$HW" ] || HW="CPUs=$(nproc) RealMemory=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024))"
    MEM=$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$HW")
    CPUS=$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$HW")
    export SLURM_CONF="$TMP/slurm.conf"
    cat >"$SLURM_CONF" <<EOF
# written by scripts/local-cluster.sh: one node on loopback, in a private network namespace
ClusterName=emma-local
SlurmctldHost=$NODE(127.0.0.2)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$TMP/munge/munge.sock
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$TMP/state
SlurmdSpoolDir=$TMP/spool
SlurmctldPidFile=$TMP/slurmctld.pid
SlurmdPidFile=$TMP/slurmd.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$((MEM / CPUS))
ReturnToService=2
MailProg=/bin/true
SlurmdTimeout=30
MinJobAge=60
NodeName=$NODE NodeAddr=127.0.0.2 $HW State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
    slurmctld -D -i -f "$SLURM_CONF" >>"$TMP/log/slurmctld.out" 2>&1 &
    wait_for 20 slurmctld scontrol ping
    slurmd -D -N "$NODE" -f "$SLURM_CONF" >>"$TMP/log/slurmd.out" 2>&1 &
    node_idle() { [ "$(sinfo -h -N -n "$NODE" -o %t 2>/dev/null)" = idle ]; }
    wait_for 30 "slurmd (node $NODE idle in sinfo)" node_idle
fi

if [ $RAY = 1 ]; then
    RAYBIN="$ROOT/.venv/bin/ray"
    if [ -x "$RAYBIN" ] && "$ROOT/.venv/bin/python" -c "import ray" 2>/dev/null; then
        export RAY_AUTH_MODE=disabled RAY_USAGE_STATS_ENABLED=0
        "$RAYBIN" start --head --node-ip-address=127.0.0.2 --port=6379 --include-dashboard=false \
            --temp-dir="$TMP/ray" --num-cpus="$(nproc)" --disable-usage-stats >"$TMP/log/ray.log" 2>&1 ||
            down "ray start failed (--keep keeps its logs in $TMP)"
        export RAY_ADDRESS=127.0.0.2:6379
    else
        echo "local-cluster: ray is not installed in .venv; --ray skipped (.venv/bin/pip install ray)" >&2
    fi
fi

# nothing outside this namespace is reachable from here: the hub must not be tried
export HF_HUB_OFFLINE=${HF_HUB_OFFLINE:-1}
echo "local-cluster: up in $(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') s$([ $SLURM = 1 ] && echo ", slurm node $NODE (partition debug, SLURM_CONF=$SLURM_CONF)")$([ -n "${RAY_ADDRESS:-}" ] && echo ", ray at $RAY_ADDRESS")" >&2

set +e
"$@"
rc=$?
set -e
exit $rc
