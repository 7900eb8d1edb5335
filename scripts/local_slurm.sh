#!/usr/bin/env bash
# A single-node SLURM cluster on this machine, to try `hydra/launcher=slurm` without a cluster
# (docs/cluster.md). Needs root; installs Debian's slurmctld, slurmd, slurm-client and munge
# with apt when they are missing. One partition, `debug`, with every CPU of this machine; no
# accounting database
# (sacct has nothing to say: the sweep does not need it).
#
#   sudo scripts/local_slurm.sh start     # install if needed, write the config, start the daemons
#   sudo scripts/local_slurm.sh status    # sinfo and squeue
#   sudo scripts/local_slurm.sh stop      # stop the daemons (the config stays)
#
# It writes /etc/slurm/slurm.conf (refusing to touch one it did not write) and keeps the daemons'
# state and logs under $SLURM_STATE_DIR (default /var/tmp/coreset-bench-slurm). Exit status 3:
# this machine cannot run it (not root, no packages and no apt, another cluster's config: the
# one line says why; the test suite then skips its SLURM tests); 4: it should have worked and
# did not (a daemon did not start: the tests fail).
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by coreset-bench scripts/local_slurm.sh"
STATE=${SLURM_STATE_DIR:-/var/tmp/coreset-bench-slurm}
HOST=$(hostname -s)

cannot() { echo "local_slurm: cannot run a local SLURM here: $*" >&2; exit 3; }
broken() { echo "local_slurm: failed: $*" >&2; exit 4; }
ours() { [ -e "$CONF" ] && grep -qF "$MARK" "$CONF"; }

install_if_missing() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v munged >/dev/null \
     && command -v sbatch >/dev/null; then
    return
  fi
  command -v apt-get >/dev/null || cannot "slurm-wlm and munge are not installed and there is no apt-get"
  echo "local_slurm: installing slurmctld, slurmd, slurm-client and munge with apt-get ..."
  export DEBIAN_FRONTEND=noninteractive
  local pkgs="slurmctld slurmd slurm-client munge"
  if ! apt-get install -y -q --no-install-recommends $pkgs >"$STATE/apt.log" 2>&1; then
    apt-get update -q >>"$STATE/apt.log" 2>&1 || true
    apt-get install -y -q --no-install-recommends $pkgs >>"$STATE/apt.log" 2>&1 \
      || cannot "apt-get install $pkgs failed (see $STATE/apt.log)"
  fi
}

refuse_foreign() {
  if [ -e "$CONF" ] && ! ours; then
    cannot "$CONF exists and was not written by this script (a real cluster's config?)"
  fi
}

write_conf() {
  local cpus mem
  cpus=$(nproc)
  mem=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
  mkdir -p /etc/slurm "$STATE/ctld" "$STATE/d"
  cat >"$CONF" <<EOF
$MARK
ClusterName=coreset-bench
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/slurmctld.log
SlurmdLogFile=$STATE/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
# a time limit's SIGTERM is followed by SIGKILL after KillWait seconds
KillWait=5
MinJobAge=60
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=debug Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
  if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  [ -s /etc/munge/munge.key ] || { mkdir -p /etc/munge; mungekey --create --force 2>/dev/null \
    || dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; }
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  if id munge >/dev/null 2>&1; then
    chown munge:munge /etc/munge /etc/munge/munge.key /run/munge /var/log/munge /var/lib/munge
    chmod 600 /etc/munge/munge.key
    runuser -u munge -- munged --force || broken "munged did not start"
  else
    munged --force || broken "munged did not start"
  fi
  for _ in $(seq 50); do
    munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
    sleep 0.1
  done
  broken "munge does not answer"
}

start() {
  [ "$(id -u)" = 0 ] || cannot "it needs root (to install packages and run slurmctld/slurmd)"
  mkdir -p "$STATE"
  refuse_foreign
  install_if_missing
  write_conf
  start_munge
  if running slurmctld; then
    timeout 10 scontrol reconfigure >/dev/null 2>&1 || true   # the config just written
  else
    slurmctld || broken "slurmctld did not start (see $STATE/slurmctld.log)"
  fi
  running slurmd || slurmd -N "$HOST" || broken "slurmd did not start (see $STATE/slurmd.log)"
  local state
  for _ in $(seq 100); do
    state=$(timeout 5 sinfo -h -o %T 2>/dev/null || true)
    if echo "$state" | grep -qE '^(idle|mixed|allocated)$'; then
      echo "local_slurm: up: partition debug, node $HOST, $(nproc) CPUs (state and logs in $STATE)"
      return
    fi
    if echo "$state" | grep -qE '^(down|drain)'; then
      timeout 5 scontrol update nodename="$HOST" state=resume >/dev/null 2>&1 || true
    fi
    sleep 0.2
  done
  broken "the node did not come up (see $STATE/slurmd.log and $STATE/slurmctld.log)"
}

running() {   # the daemon this script started (its pid file) is alive
  local pid
  pid=$(cat "$STATE/$1.pid" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(cat /proc/"$pid"/comm 2>/dev/null)" = "$1" ]
}

stop() {
  ours || { echo "local_slurm: $CONF was not written by this script: nothing stopped" >&2; exit 3; }
  local d
  for d in slurmd slurmctld; do
    running "$d" && kill "$(cat "$STATE/$d.pid")" 2>/dev/null || true
  done
  for _ in $(seq 50); do   # gone before a start can follow
    running slurmd || running slurmctld || break
    sleep 0.2
  done
  for d in slurmd slurmctld; do
    running "$d" && kill -9 "$(cat "$STATE/$d.pid")" 2>/dev/null || true
  done
  echo "local_slurm: stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) timeout 10 sinfo; timeout 10 squeue ;;
  *) echo "usage: $0 start|stop|status" >&2; exit 2 ;;
esac
