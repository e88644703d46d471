#!/usr/bin/env bash
# CI: start a real single-node SLURM cluster on this machine, so that tests/test_slurm.py can run the
# tiny workflow through `snakemake --executor slurm`.
#
# Debian's slurmctld + slurmd + slurm-client with munge; no accounting daemon (slurmdbd), so job states
# come from `squeue` (config/profiles/slurm: slurm-status-command: squeue). No systemd either: the
# daemons run in the background, started directly. Run as root; idempotent (a second run only checks
# that the cluster is up). Logs: /var/log/slurm/, /var/log/munge/.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-setup: must run as root" >&2
  exit 1
fi

host=$(hostname -s)
conf=/etc/slurm/slurm.conf
wait_s=${SLURM_SETUP_WAIT:-90}

say() { echo "slurm-setup: $*"; }
die() {
  echo "slurm-setup: ERROR: $*" >&2
  for f in /var/log/slurm/slurmctld.log /var/log/slurm/slurmd.log /var/log/munge/munged.log; do
    [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 20 "$f" >&2; }
  done
  exit 1
}
node_state() { sinfo -h -N -n "$host" -o %t 2>/dev/null | head -n 1 | tr -d '*~#!%$@^-'; }
# pidof only reports; nothing here stops a process.
running() { pidof -q "$1"; }

# 1. Packages (only when something is missing).
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v sinfo >/dev/null \
  || ! command -v munged >/dev/null; then
  say "installing slurmctld slurmd slurm-client munge"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
fi

# 2. munge: key and daemon.
if [ ! -s /etc/munge/munge.key ]; then
  say "creating /etc/munge/munge.key"
  mkdir -p /etc/munge
  if command -v mungekey >/dev/null; then
    mungekey --create --keyfile=/etc/munge/munge.key --force
  else
    dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
  fi
fi
munge_user=root
id munge >/dev/null 2>&1 && munge_user=munge
mkdir -p /run/munge /var/lib/munge /var/log/munge
chown "$munge_user": /etc/munge /etc/munge/munge.key /run/munge /var/lib/munge /var/log/munge
chmod 0700 /etc/munge && chmod 0400 /etc/munge/munge.key && chmod 0755 /run/munge
if ! running munged; then
  say "starting munged"
  if [ "$munge_user" = munge ]; then
    runuser -u munge -- munged
  else
    munged --force
  fi
fi
for _ in $(seq 20); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.5; done
munge -n | unmunge >/dev/null 2>&1 || die "munge does not work (munge -n | unmunge)"

# 3. slurm.conf: one node (this machine), one partition `debug`, no accounting, no cgroups.
cpus=$(nproc)
mem_mb=$(awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo)
real_mb=$((mem_mb * 9 / 10))  # below what slurmd detects, or the node is drained for "Low RealMemory"
mkdir -p /etc/slurm /var/spool/slurmctld /var/spool/slurmd /var/log/slurm /run/slurm
new_conf=$(cat <<EOF
# Written by .ci/slurm-setup.sh: single-node CI cluster, no accounting, no cgroups.
ClusterName=ci
SlurmctldHost=${host}(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# Finished jobs stay visible to squeue for MinJobAge seconds; the SLURM executor needs at least
# 3 x its first status-check delay to use squeue instead of sacct.
MinJobAge=600
ReturnToService=2
SlurmdTimeout=300
NodeName=${host} NodeAddr=127.0.0.1 CPUs=${cpus} RealMemory=${real_mb} State=UNKNOWN
PartitionName=debug Nodes=${host} Default=YES MaxTime=INFINITE State=UP
EOF
)
changed=0
if [ ! -f "$conf" ] || [ "$(cat "$conf")" != "$new_conf" ]; then
  printf '%s\n' "$new_conf" >"$conf"
  changed=1
fi

# 4. Daemons.
if ! running slurmctld; then
  say "starting slurmctld"
  slurmctld
  changed=0
fi
for _ in $(seq 30); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 1; done
scontrol ping 2>/dev/null | grep -q UP || die "slurmctld does not answer (scontrol ping)"
if [ "$changed" = 1 ]; then
  say "slurm.conf changed: scontrol reconfigure"
  scontrol reconfigure
fi
if ! running slurmd; then
  say "starting slurmd"
  slurmd
fi

# 5. Wait (bounded) until the node is idle (or already running jobs).
state=""
resumed=0
for _ in $(seq "$wait_s"); do
  state=$(node_state)
  case "$state" in
    idle | mix | alloc) break ;;
    drain | drng | down | fail)
      if [ "$resumed" = 0 ]; then
        scontrol update NodeName="$host" State=RESUME 2>/dev/null || true
        resumed=1
      fi
      ;;
  esac
  sleep 1
done
case "$state" in
  idle | mix | alloc) ;;
  *) sinfo -N -l >&2 || true
     scontrol show node "$host" >&2 || true
     die "node $host is not idle after ${wait_s}s (state: '${state:-none}')" ;;
esac
say "up: node $host ($cpus CPUs, ${real_mb} MB), partition debug, state $state"
sinfo
