# Shared shell helpers for scripts/test and scripts/run-local.  Source it; do not run it.
# Everything here installs or starts only what is missing, and records what it
# started so that `services_stop` stops exactly that and nothing else.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV=${AIRFLOW_MESOS_VENV:-$ROOT/.venv}
# dockerd's socket lives at a fixed place so a daemon that is already running
# (started by an earlier run or by hand) is reused rather than duplicated.
DOCKER_DIR=${AIRFLOW_MESOS_DOCKER_DIR:-/tmp/airflow-mesos-docker}
# Everything else a run starts lives in a directory of its own.
RUN_DIR=$(mktemp -d /tmp/airflow-mesos-run.XXXXXX)
PY=${PYTHON:-python3}
# PIDs/dirs of what *this* run started; services_stop stops only these.
STARTED_DOCKERD=""
STARTED_ZOOKEEPER=""
STARTED_POSTGRES=""

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Debian packages: docker.io (dockerd), zookeeper, postgresql, busybox-static (image rootfs).
ensure_debian_packages() {
    local missing=()
    [ -x /usr/sbin/dockerd ] || missing+=(docker.io)
    [ -e /usr/share/java/zookeeper.jar ] || ls /usr/share/java/zookeeper-*.jar >/dev/null 2>&1 || missing+=(zookeeper)
    ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
    [ -x /bin/busybox ] && /bin/busybox --list >/dev/null 2>&1 && file_is_static /bin/busybox || missing+=(busybox-static)
    [ ${#missing[@]} -eq 0 ] && return 0
    log "installing Debian packages: ${missing[*]}"
    [ "$(id -u)" = 0 ] || die "need root to apt-get install ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

file_is_static() { ! ldd "$1" >/dev/null 2>&1; }

# The virtualenv with the package (editable) and its test extra.  Reinstalls
# when setup.py changed since the last install.
ensure_venv() {
    local stamp="$VENV/.airflow-mesos-setup.sha"
    local want
    want=$(sha256sum "$ROOT/setup.py" | cut -d' ' -f1)
    if [ ! -x "$VENV/bin/python" ]; then
        log "creating virtualenv $VENV"
        "$PY" -m venv "$VENV"
    fi
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing airflow-mesos and its test extra into $VENV (about a minute the first time)"
        # pip's output (and this machine's warnings about local index folders) goes to a log, shown on failure.
        if ! "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[test]" >"$RUN_DIR/pip.log" 2>&1; then
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

# dockerd on a private socket and data root, so it never fights a system daemon.
# The data root persists across runs (image layers are reused); exec root and
# socket live in $DOCKER_DIR.
start_dockerd() {
    mkdir -p "$DOCKER_DIR"
    export DOCKER_HOST="unix://$DOCKER_DIR/docker.sock"
    if "$VENV/bin/python" - <<'PY' 2>/dev/null; then
import docker, sys
docker.from_env().ping()
PY
        log "dockerd already answers on $DOCKER_HOST; using it"
        return 0
    fi
    local data=${AIRFLOW_MESOS_DOCKER_DATA:-/var/tmp/airflow-mesos/docker}
    mkdir -p "$data" "$DOCKER_DIR/exec"
    log "starting dockerd ($DOCKER_HOST, data root $data)"
    # No iptables rules: the host's firewall is left alone.  Containers on the
    # bridge reach the host; builds that need the package registry use the host
    # network.
    setsid /usr/sbin/dockerd -H "$DOCKER_HOST" --data-root "$data" --exec-root "$DOCKER_DIR/exec" \
        --pidfile "$DOCKER_DIR/dockerd.pid" --storage-driver=overlay2 \
        --iptables=false --ip6tables=false >"$RUN_DIR/dockerd.log" 2>&1 &
    STARTED_DOCKERD=$!
    for _ in $(seq 1 100); do
        "$VENV/bin/python" -c 'import docker; docker.from_env().ping()' 2>/dev/null && return 0
        sleep 0.2
    done
    tail -20 "$RUN_DIR/dockerd.log" >&2
    die "dockerd did not answer within 20 s (log: $RUN_DIR/dockerd.log)"
}

stop_dockerd() {
    [ -n "$STARTED_DOCKERD" ] || return 0
    local pid=$STARTED_DOCKERD
    log "stopping dockerd (pid $pid)"
    # Containers our tests left behind would keep the daemon busy; remove them first.
    "$VENV/bin/python" - <<'PY' 2>/dev/null || true
import docker
c = docker.from_env()
for x in c.containers.list(all=True, filters={"label": "airflow-mesos.local"}):
    x.remove(force=True)
PY
    terminate_pid "$pid" 15
    STARTED_DOCKERD=""
    ip link del docker0 2>/dev/null || true
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
