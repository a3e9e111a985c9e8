#!/usr/bin/env bash
# A real single-node SLURM cluster on 127.0.0.1, to try `snakemake --profile` on a laptop and
# to test the scheduler path (tests/test_slurm.py). Debian's Slurm 22.05 + MUNGE; all state,
# configuration, logs and PID files live in STATE_DIR, nothing is written to /etc.
#
#   eval "$(scripts/slurm_local.sh start [STATE_DIR])"   # default .slurm-local; prints the exports
#   scripts/slurm_local.sh stop [STATE_DIR]    # cancels jobs, stops the three daemons by PID
#   scripts/slurm_local.sh env  [STATE_DIR]    # prints the exports again
#
# The exports: SLURM_CONF, and PATH with STATE_DIR/bin first. That directory holds an `srun` that
# sets SLURM_CONF: the executor plugin's job step drops SLURM_* variables before its nested srun,
# which on a real site finds /etc/slurm/slurm.conf, and here would find no configuration.
#
# The node has 8 CPUs (SLURM_LOCAL_CPUS; at least this machine's), its memory less a reserve, and two fake GPUs (gres
# gpu:fake:2 on /dev/null and /dev/zero): a job asking --gpus=1 runs with CUDA_VISIBLE_DEVICES=0
# and natpipe's scripts fall back to the CPU there. Two partitions share the node, `cpu`
# (default) and `gpu`, as on a real site. Job status: `squeue` (no slurmdbd), so completed jobs
# are kept in slurmctld's memory for MinJobAge seconds (SLURM_LOCAL_MIN_JOB_AGE, default 3600).
#
# Needs root (slurmd launches jobs, munged/slurmctld run as root here). Missing packages are
# installed with apt-get. Exit status 3: SLURM cannot be had here (no root, no apt-get, or the
# install failed); the tests skip on it. Environment: SLURM_LOCAL_PORT (slurmctld's port,
# default 6817; slurmd uses the next one), SLURM_LOCAL_CPUS, SLURM_LOCAL_RESERVE_MB (memory kept
# back, 2048), SLURM_LOCAL_MIN_JOB_AGE.
set -euo pipefail

log() { echo "[slurm-local] $*" >&2; }
die() { echo "[slurm-local] error: $*" >&2; exit 1; }
unavailable() { echo "[slurm-local] unavailable: $*" >&2; exit 3; }

command=${1:-}
state=${2:-.slurm-local}
[[ "$command" =~ ^(start|stop|env)$ && $# -le 2 ]] || die "usage: $0 start|stop|env [STATE_DIR]"
mkdir -p "$state"
state=$(cd "$state" && pwd)
conf=$state/slurm.conf
port=${SLURM_LOCAL_PORT:-6817}
packages=(slurmctld slurmd slurm-client munge)

# --- stop -----------------------------------------------------------------------------------
stop_daemon() {  # NAME: TERM by PID file, KILL after 10 s
    local pidfile=$state/$1.pid pid
    [[ -f "$pidfile" ]] || return 0
    pid=$(cat "$pidfile")
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -0 "$pid" 2>/dev/null && { log "$1 ($pid) ignored TERM; killing"; kill -KILL "$pid" 2>/dev/null || true; }
    fi
    rm -f "$pidfile"
}

if [[ "$command" == stop ]]; then
    if [[ -f "$conf" && -f "$state/slurmctld.pid" ]] && kill -0 "$(cat "$state/slurmctld.pid")" 2>/dev/null; then
        jobs=$(SLURM_CONF=$conf squeue -h -o %i 2>/dev/null || true)
        if [[ -n "$jobs" ]]; then
            log "cancelling jobs: $(echo $jobs)"
            # shellcheck disable=SC2086
            SLURM_CONF=$conf scancel $jobs 2>/dev/null || true
            for _ in $(seq 50); do
                [[ -z "$(SLURM_CONF=$conf squeue -h -t R,CG -o %i 2>/dev/null || true)" ]] && break
                sleep 0.2
            done
        fi
    fi
    for daemon in slurmd slurmctld munged; do stop_daemon "$daemon"; done
    log "stopped (state kept in $state)"
    exit 0
fi

exports() { echo "export SLURM_CONF=$conf PATH=$state/bin:\$PATH"; }
if [[ "$command" == env ]]; then
    exports
    exit 0
fi

# --- start: packages ------------------------------------------------------------------------
started=$SECONDS
# shellcheck source=scripts/debian.sh
source "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
read -ra missing <<<"$(missing_debian_packages "${packages[@]}")"
if [[ ${#missing[@]} -gt 0 ]]; then
    [[ $(id -u) -eq 0 ]] || unavailable "not root; install by hand: sudo apt-get install -y --no-install-recommends ${missing[*]}"
    command -v apt-get >/dev/null 2>&1 || unavailable "no apt-get to install ${missing[*]}"
    log "installing ${missing[*]} (apt-get, ~10 s)"
    export DEBIAN_FRONTEND=noninteractive
    # The package install starts nothing here (no systemd); the daemons are started below.
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >"$state/apt.log" 2>&1; then
        apt-get update -q >>"$state/apt.log" 2>&1 || true
        apt-get install -y -q --no-install-recommends "${missing[@]}" >>"$state/apt.log" 2>&1 \
            || unavailable "apt-get install ${missing[*]} failed (see $state/apt.log)"
    fi
fi
[[ $(id -u) -eq 0 ]] || unavailable "slurmd must run as root to launch jobs"
for daemon in munged slurmctld slurmd; do
    [[ -f "$state/$daemon.pid" ]] && kill -0 "$(cat "$state/$daemon.pid")" 2>/dev/null \
        && die "$daemon already running from $state (pid $(cat "$state/$daemon.pid")); run: $0 stop $state"
done
for p in "$port" "$((port + 1))"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
        die "port $p on 127.0.0.1 is in use; set SLURM_LOCAL_PORT to a free port"
    fi
done

# --- configuration --------------------------------------------------------------------------
# More CPUs than the machine has (config_overrides below): the tiny test jobs are dominated by
# Snakemake's start-up inside each allocation, so they overlap well even on 2 real cores.
cpus=${SLURM_LOCAL_CPUS:-$(( $(nproc) > 8 ? $(nproc) : 8 ))}
reserve=${SLURM_LOCAL_RESERVE_MB:-2048}
memory=$(( $(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo) - reserve ))
(( memory > 512 )) || die "too little memory for a node (${memory} MB after a ${reserve} MB reserve)"
mkdir -p "$state/spool/ctld" "$state/spool/d" "$state/munge"
chmod 755 "$state/munge"  # the socket must be reachable; the key itself is 0600
[[ -s "$state/munge/munge.key" ]] || { head -c 1024 /dev/urandom >"$state/munge/munge.key"; chmod 600 "$state/munge/munge.key"; }

cat >"$conf.tmp" <<EOF
# Written by scripts/slurm_local.sh: one node on loopback, two fake GPUs.
ClusterName=natpipe-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$state/munge/munge.socket
StateSaveLocation=$state/spool/ctld
SlurmdSpoolDir=$state/spool/d
SlurmctldPidFile=$state/slurmctld.pid
SlurmdPidFile=$state/slurmd.pid
SlurmctldLogFile=$state/slurmctld.log
SlurmdLogFile=$state/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$(( memory / cpus ))
GresTypes=gpu
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
MinJobAge=${SLURM_LOCAL_MIN_JOB_AGE:-3600}
SlurmctldTimeout=30
SlurmdTimeout=30
MpiDefault=none
SlurmdParameters=config_overrides
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$memory Gres=gpu:fake:2 State=UNKNOWN
PartitionName=cpu Nodes=localhost Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=localhost MaxTime=INFINITE State=UP
EOF
mv "$conf.tmp" "$conf"
cat >"$state/gres.conf" <<EOF
AutoDetect=off
NodeName=localhost Name=gpu Type=fake File=/dev/null
NodeName=localhost Name=gpu Type=fake File=/dev/zero
EOF
mkdir -p "$state/bin"
real_srun=$(PATH=$(tr ':' '\n' <<<"$PATH" | grep -vxF "$state/bin" | paste -sd:) command -v srun) || die "srun not found"
cat >"$state/bin/srun.tmp" <<EOF
#!/bin/sh
SLURM_CONF=$conf exec $real_srun "\$@"
EOF
chmod 755 "$state/bin/srun.tmp"
mv "$state/bin/srun.tmp" "$state/bin/srun"
export SLURM_CONF=$conf

# --- daemons --------------------------------------------------------------------------------
failed() { for f in munged slurmctld slurmd; do [[ -f "$state/$f.log" ]] && tail -n 15 "$state/$f.log" >&2; done
           "$0" stop "$state" || true; die "$*"; }
munged --force --key-file="$state/munge/munge.key" --socket="$state/munge/munge.socket" \
    --pid-file="$state/munged.pid" --log-file="$state/munged.log" --seed-file="$state/munge/seed" \
    || failed "munged did not start"
slurmctld -i -f "$conf" || failed "slurmctld did not start"
slurmd -N localhost -f "$conf" || failed "slurmd did not start"
for _ in $(seq 120); do
    if [[ "$(sinfo -h -n localhost -p cpu -o %T 2>/dev/null || true)" == idle* ]]; then
        log "cluster up in $((SECONDS - started)) s: node localhost, $cpus CPUs, $memory MB, gres gpu:fake:2, partitions cpu (default) and gpu"
        exports
        exit 0
    fi
    sleep 0.5
done
failed "node localhost did not become idle within 60 s"
