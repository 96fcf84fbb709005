# Shared shell helpers for scripts/test, scripts/run-local and scripts/bench.  Source it; do not run it.
# Everything here installs or starts only what is missing, and records what it
# started so that `services_stop` stops exactly that and nothing else.  Runs at
# the same time share one dockerd and each removes only its own containers (see
# start_dockerd); tests/integration/test_scripts_lib.py drives two at once.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${AIRFLOW_MESOS_VENV:-$ROOT/.venv}
# dockerd's socket lives at a fixed place so that runs share one daemon (its
# image layers, its start-up time) rather than each starting its own.  Runs
# that are at the same time register in $DOCKER_DIR/users; see start_dockerd.
DOCKER_DIR=${AIRFLOW_MESOS_DOCKER_DIR:-/tmp/airflow-mesos-docker}
DOCKER_DATA=${AIRFLOW_MESOS_DOCKER_DATA:-/var/tmp/airflow-mesos/docker}
# Everything else a run starts lives in a directory of its own.
RUN_DIR=$(mktemp -d /tmp/airflow-mesos-run.XXXXXX)
PY=${PYTHON:-python3}
# Every container this run makes is labelled airflow-mesos.run=$AIRFLOW_MESOS_RUN_ID
# (airflow_mesos/run_labels.py), and stop_dockerd removes exactly those.  Always
# fresh, never inherited: a run started inside another one (a test of these
# scripts) must not remove its parent's containers.
export AIRFLOW_MESOS_RUN_ID="run-$$-${RUN_DIR##*.}"
# What *this* run started or joined; services_stop stops only these.
USING_DOCKERD=""
STARTED_ZOOKEEPER=""
STARTED_POSTGRES=""
# Set while this shell holds $DOCKER_DIR/lock (on fd 200, see docker_lock).
DOCKER_LOCKED=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian packages: docker.io (dockerd), zookeeper, postgresql, busybox-static (image rootfs).
ensure_debian_packages() {
    local missing=()
    [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
    [ -e /usr/share/java/zookeeper.jar ] || ls /usr/share/java/zookeeper-*.jar >/dev/null 2>&1 || missing+=(zookeeper)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    [ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && file_is_static /bin/busybox || missing+=(busybox-static)
    # The browser test of the Mesos UI page (Playwright drives this chromium; it never downloads one).
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

# What the venv is installed from: when any of these changed since the last
# install, ensure_venv installs again (the version, too, is in the installed metadata).
VENV_INPUTS=(pyproject.toml setup.py airflow_mesos/_version.py constraints.txt)

# The virtualenv with the package (editable) and its test extra, at the
# versions constraints.txt pins, the same file the image installs from.
# Reinstalls when one of VENV_INPUTS changed since the last install: pip then
# moves every pinned package to its pin (a package the new pins no longer name
# stays; `rm -rf .venv` for an exact venv).
ensure_venv() {
    local stamp="$VENV/.airflow-mesos-setup.sha"
    local want
    want=$(cd "$ROOT" && sha256sum "${VENV_INPUTS[@]}" | sha256sum | cut -d' ' -f1)
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtualenv $VENV"
        "$PY" -m venv "$VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing airflow-mesos and its test extra into $VENV (about a minute the first time)"
        # pip's output (and this machine's warnings about local index folders) goes to a log, shown on failure.
        # setuptools and wheel as in the image: tests/integration/test_packaging.py builds the wheel with them.
        if ! "$VENV/bin/pip" install -q --disable-pip-version-check --constraint "$ROOT/constraints.txt" \
                setuptools wheel -e "$ROOT[test]" >"$RUN_DIR/pip.log" 2>&1; then
            tail -40 "$RUN_DIR/pip.log" >&2
            die "pip install of airflow-mesos[test] failed (above: the end of its log)"
        fi
        echo "$want" > "$stamp"
    fi
}

# SIGTERM, wait up to $2 seconds, then SIGKILL.
terminate_pid() {
    local pid=$1 seconds=$2
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 $((seconds * 5))); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
    kill -KILL "$pid" 2>/dev/null || true
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# The start time of process $1 (field 22 of /proc/PID/stat): with the pid it names
# one process, so a pid the kernel has reused for another process is not taken
# for it.  Fails if there is no such process, or it has exited and awaits reaping.
proc_start_time() {
    local stat fields
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }  # past the command name, which may hold spaces and parentheses
    read -r -a fields <<<"$stat"
    case "${fields[0]:-}" in Z|X|"") return 1 ;; esac
    [ -n "${fields[19]:-}" ] || return 1
    printf '%s\n' "${fields[19]}"
}

# Print "pid start-time" of process $1 (what identity_alive checks).
proc_identity() {
    local start
    start=$(proc_start_time "$1") || return 1
    printf '%s %s\n' "$1" "$start"
}

# True if file $1 holds "pid start-time" of a process that is still running.
identity_alive() {
    local pid="" start="" now
    read -r pid start 2>/dev/null <"$1" || return 1
    [ -n "$pid" ] && now=$(proc_start_time "$pid") && [ "$now" = "$start" ]
}

# True if a Docker engine answers /_ping on $DOCKER_DIR/docker.sock (stdlib
# only: fast, and usable before the virtualenv exists).
docker_answers() {
    "$PY" - "$DOCKER_DIR/docker.sock" <<'PY' 2>/dev/null
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(5)
s.connect(sys.argv[1])
s.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
reply = b""
while chunk := s.recv(4096):
    reply += chunk
sys.exit(0 if reply.split(b"\r\n", 1)[0].split(b" ")[1:2] == [b"200"] else 1)
PY
}

# $DOCKER_DIR/lock serializes every change to the users directory and every
# start and stop of the daemon, so runs that start or end at the same moment
# cannot both start a daemon, or stop one that the other just joined.
docker_lock() {
    mkdir -p "$DOCKER_DIR/users"
    exec 200>>"$DOCKER_DIR/lock"
    if ! flock -w 120 200; then
        docker_unlock
        die "$DOCKER_DIR/lock has been held by another run for 2 minutes"
    fi
    DOCKER_LOCKED=1
}

docker_unlock() {
    exec 200>&-
    DOCKER_LOCKED=""
}

# Under the lock: forget runs that ended without unregistering (killed -9).
prune_docker_users() {
    local user
    for user in "$DOCKER_DIR"/users/*; do
        [ -e "$user" ] || continue
        identity_alive "$user" || rm -f "$user"
    done
}

# dockerd on a private socket and data root, so it never fights a system daemon.
# The data root persists across runs (image layers are reused); exec root,
# socket and log live in $DOCKER_DIR.
#
# Runs share the daemon: each one registers as a user ($DOCKER_DIR/users/<pid>,
# holding its pid and start time) and unregisters in stop_dockerd, and the last
# one to leave stops the daemon, but only one that these scripts started
# ($DOCKER_DIR/dockerd.owner names it), never a daemon someone else runs on
# that socket.  A run killed before it could unregister counts as gone once its
# process is.
start_dockerd() {
    mkdir -p "$DOCKER_DIR"
    export DOCKER_HOST="unix://$DOCKER_DIR/docker.sock"
    docker_lock
    prune_docker_users
    if docker_answers; then
        if identity_alive "$DOCKER_DIR/dockerd.owner"; then
            log "dockerd (started by an earlier run) answers on $DOCKER_HOST; sharing it"
        else
            rm -f "$DOCKER_DIR/dockerd.owner"
            log "dockerd answers on $DOCKER_HOST; using it (not started by these scripts: never stopped by them)"
        fi
    else
        launch_dockerd
    fi
    proc_identity $$ >"$DOCKER_DIR/users/$$" || die "cannot read /proc/$$/stat"
    USING_DOCKERD=1
    docker_unlock
}

# Under the lock, with no daemon answering: start one and record it as ours.
launch_dockerd() {
    mkdir -p "$DOCKER_DATA" "$DOCKER_DIR/exec"
    log "starting dockerd ($DOCKER_HOST, data root $DOCKER_DATA)"
    # setsid: the daemon outlives this run while other runs still use it.  It
    # must not inherit the lock's fd, or the lock would be held as long as it runs.
    # No iptables rules: the host's firewall is left alone.  Containers on the
    # bridge reach the host; builds that need the package registry use the host
    # network.  (Each dockerd claims the host's docker0 bridge, and one started
    # with --bridge=none deletes it: a reason to share one daemon, not start more.)
    setsid /usr/sbin/dockerd -H "$DOCKER_HOST" --data-root "$DOCKER_DATA" --exec-root "$DOCKER_DIR/exec" \
        --pidfile "$DOCKER_DIR/dockerd.pid" --storage-driver=overlay2 \
        --iptables=false --ip6tables=false \
        </dev/null >"$DOCKER_DIR/dockerd.log" 2>&1 200>&- &
    local pid
    for _ in $(seq 1 100); do
        if docker_answers; then
            # setsid may have forked, so $! need not be the daemon: dockerd's own pidfile is.
            pid=$(cat "$DOCKER_DIR/dockerd.pid" 2>/dev/null) && proc_identity "$pid" >"$DOCKER_DIR/dockerd.owner" \
                || die "dockerd answers but $DOCKER_DIR/dockerd.pid names no live process"
            return 0
        fi
        sleep 0.2
    done
    tail -20 "$DOCKER_DIR/dockerd.log" >&2
    pid=$(cat "$DOCKER_DIR/dockerd.pid" 2>/dev/null) && terminate_pid "$pid" 5
    die "dockerd did not answer within 20 s (log: $DOCKER_DIR/dockerd.log)"
}

# Force-remove the containers labelled with this run's id, and no others.
remove_run_containers() {
    local removed
    if removed=$("$VENV/bin/python" - "$AIRFLOW_MESOS_RUN_ID" <<'PY' 2>&1
import sys
import docker
client = docker.from_env()
containers = client.containers.list(all=True, filters={"label": f"airflow-mesos.run={sys.argv[1]}"})
for container in containers:
    container.remove(force=True)
print(len(containers))
PY
    ); then
        [ "$removed" = 0 ] || log "removed $removed container(s) this run left behind"
    else
        log "warning: could not remove this run's containers: $(printf '%s' "$removed" | tail -1)"
    fi
}

stop_dockerd() {
    [ -n "$USING_DOCKERD" ] || return 0
    # A die() between docker_lock and docker_unlock leaves the lock held by this very shell.
    [ -z "$DOCKER_LOCKED" ] || docker_unlock
    remove_run_containers
    docker_lock
    rm -f "$DOCKER_DIR/users/$$"
    USING_DOCKERD=""
    prune_docker_users
    local others pid
    others=$(find "$DOCKER_DIR/users" -mindepth 1 -maxdepth 1 | wc -l)
    if [ "$others" -gt 0 ]; then
        log "leaving dockerd running: $others other run(s) still use it"
    elif identity_alive "$DOCKER_DIR/dockerd.owner"; then
        read -r pid _ <"$DOCKER_DIR/dockerd.owner"
        log "stopping dockerd (pid $pid): no other run uses it"
        terminate_pid "$pid" 15
        for _ in $(seq 1 50); do identity_alive "$DOCKER_DIR/dockerd.owner" || break; sleep 0.1; done
        rm -f "$DOCKER_DIR/dockerd.owner"
        # dockerd leaves its bridge behind; remove it unless another daemon may be using it.
        pgrep -x dockerd >/dev/null || ip link del docker0 2>/dev/null || true
    fi
    docker_unlock
}

zk_classpath() {
    ls /usr/share/java/zookeeper*.jar /usr/share/java/slf4j*.jar /usr/share/java/log4j*.jar \
       /usr/share/java/netty*.jar /usr/share/java/jline*.jar /usr/share/java/commons-*.jar 2>/dev/null | tr '\n' ':'
}

start_zookeeper() {
    local dir="$RUN_DIR/zookeeper" port
    mkdir -p "$dir/data"
    port=$(free_port)
    cat > "$dir/zoo.cfg" <<CFG
tickTime=2000
dataDir=$dir/data
clientPort=$port
clientPortAddress=127.0.0.1
admin.enableServer=false
4lw.commands.whitelist=srvr,ruok
CFG
    log "starting ZooKeeper on 127.0.0.1:$port"
    setsid java -Dzookeeper.log.dir="$dir" -cp "$(zk_classpath)" \
        org.apache.zookeeper.server.quorum.QuorumPeerMain "$dir/zoo.cfg" >"$dir/zk.log" 2>&1 &
    STARTED_ZOOKEEPER=$!
    for _ in $(seq 1 150); do
        if "$PY" - "$port" <<'PY' 2>/dev/null; then
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"srvr"); data = s.recv(100)
sys.exit(0 if data.startswith(b"Zookeeper version") else 1)
PY
            export AIRFLOW_MESOS_TEST_ZK="127.0.0.1:$port"
            return 0
        fi
        sleep 0.2
    done
    tail -20 "$dir/zk.log" >&2
    die "ZooKeeper did not answer within 30 s"
}

stop_zookeeper() {
    [ -n "$STARTED_ZOOKEEPER" ] || return 0
    local pid=$STARTED_ZOOKEEPER
    log "stopping ZooKeeper (pid $pid)"
    terminate_pid "$pid" 10
    STARTED_ZOOKEEPER=""
}

pg_bin() { ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1; }

start_postgres() {
    local dir="$RUN_DIR/postgres" port bin
    bin=$(pg_bin)
    mkdir -p "$dir"; chmod 755 "$RUN_DIR"; chown postgres "$dir" 2>/dev/null || true
    port=$(free_port)
    log "starting a throwaway PostgreSQL on 127.0.0.1:$port"
    # initdb refuses to run as root: run it as the postgres user when we are root.
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    "${as[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w start \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off" >/dev/null || { cat "$dir/log" >&2; die "postgres did not start"; }
    STARTED_POSTGRES=$dir
    export AIRFLOW_MESOS_TEST_PG="postgresql://postgres@127.0.0.1:$port/postgres"
}

stop_postgres() {
    [ -n "$STARTED_POSTGRES" ] || return 0
    local dir=$STARTED_POSTGRES
    log "stopping PostgreSQL"
    local as=(); [ "$(id -u)" = 0 ] && as=(runuser -u postgres --)
    "${as[@]}" "$(pg_bin)/pg_ctl" -D "$dir/data" -m fast stop >/dev/null 2>&1 || true
    STARTED_POSTGRES=""
}

services_stop() {
    stop_postgres
    stop_zookeeper
    stop_dockerd
    rm -rf "$RUN_DIR"
}
