#!/usr/bin/env bash
# The distributed profile of loadstack's services (work in progress, issue 11): Airflow on PostgreSQL with the
# CeleryExecutor and two Celery workers, every server on 127.0.0.1, on ports of its own so that it runs next to
# the single-machine profile of scripts/services.sh (whose helpers it reuses: PID files, start, stop, status).
#
#   moto           AWS API stand-in (state bucket etc.)     127.0.0.1:$LOADSTACK_DIST_MOTO_PORT (5155)
#   zookeeper      for the stacks' completion handlers      127.0.0.1:$LOADSTACK_DIST_ZOOKEEPER_PORT (2281)
#   postgres       Airflow's metadata DB + Celery results   127.0.0.1:$LOADSTACK_DIST_PG_PORT (5532)
#   redis          Celery broker                            127.0.0.1:$LOADSTACK_DIST_REDIS_PORT (6479)
#   api-server     Airflow UI + REST API                    127.0.0.1:$LOADSTACK_DIST_API_PORT (8180)
#   scheduler      (CeleryExecutor)                         no port (--skip-serve-logs)
#   dag-processor                                           no port
#   triggerer                                               no port (--skip-serve-logs)
#   worker-infra   Celery worker, queues infra,default      no port (--skip-serve-logs)
#   worker-load    Celery worker, queues load,default       no port (--skip-serve-logs)
#
# Which step runs on which worker is decided when the DAGs are parsed, by LOADSTACK_QUEUES (loadstack.queues):
# Terraform, handlers, seeding and the local servers a step starts (and stops) on `infra`, the ramp on `load`,
# the stacks' bookkeeping on `default`, which both take. Ramps attach to the standing Locust cluster by its URL
# (LOADSTACK_LOCUST_MASTER_URL) instead of starting a Locust of their own: the load generators run apart from the
# task, as they would on load-generator hosts.
#   locust         standing Locust master + 2 workers, each  127.0.0.1:$LOADSTACK_DIST_LOCUST_WEB_PORT (8189) web,
#                  its own process (loadstack.locust.service) 127.0.0.1:$LOADSTACK_DIST_LOCUST_MASTER_PORT (5657) workers
#   logs-infra     worker-infra's task log server           127.0.0.1:$LOADSTACK_DIST_INFRA_LOG_PORT (8893)
#   logs-load      worker-load's task log server            127.0.0.1:$LOADSTACK_DIST_LOAD_LOG_PORT (8894)
#
# The log servers: `airflow celery worker` would start Airflow's log server on every interface (its host is
# hard-coded in airflow/utils/serve_logs/core.py, 3.3.2), so each worker skips it and the same app
# (airflow.utils.serve_logs.log_server) runs beside it under uvicorn, bound to 127.0.0.1, serving that worker's
# log folder. The api-server does not reach them yet: it asks one `worker_log_server_port` on the task's hostname.
#
#   scripts/distributed.sh up                       make up-distributed
#   scripts/distributed.sh down [SERVICE...]        make down-distributed
#   scripts/distributed.sh status [SERVICE...]      make status-distributed
#   scripts/distributed.sh demo [DEMO ARGS...]      make demo-distributed (scripts/demo.py against this Airflow)
#
# Everything lives under $LOADSTACK_DIST_DIR (default var/distributed): airflow/ (AIRFLOW_HOME, the shared
# secrets.env and passwords.json), postgres/ (data dir, owned by user postgres), redis/, run/*.pid, log/*.log,
# and workers/<name>/: the worker's working directory and LOADSTACK_HOME, with logs/ as its task log folder.
# Each worker has WORKER_NAME=<name> in its environment.
set -euo pipefail

_dist_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="${LOADSTACK_DIST_DIR:-$_dist_root/var/distributed}"
PG_PORT="${LOADSTACK_DIST_PG_PORT:-5532}"
REDIS_PORT="${LOADSTACK_DIST_REDIS_PORT:-6479}"
declare -A WORKER_QUEUES=([infra]="infra,default" [load]="load,default")
declare -A WORKER_LOG_PORTS=(
    [infra]="${LOADSTACK_DIST_INFRA_LOG_PORT:-8893}"
    [load]="${LOADSTACK_DIST_LOAD_LOG_PORT:-8894}"
)
WORKER_CONCURRENCY="${LOADSTACK_DIST_WORKER_CONCURRENCY:-2}"
QUEUES="infra=infra,services=infra,load=load"
LOCUST_WORKERS="${LOADSTACK_DIST_LOCUST_WORKERS:-2}"
LOCUST_WEB_PORT="${LOADSTACK_DIST_LOCUST_WEB_PORT:-8189}"
LOCUST_MASTER_PORT="${LOADSTACK_DIST_LOCUST_MASTER_PORT:-5657}"

# A moto and a ZooKeeper of this profile's own: its stacks' state never mixes with the single-machine profile's.
export LOADSTACK_MOTO_PORT="${LOADSTACK_DIST_MOTO_PORT:-5155}"
export LOADSTACK_ZOOKEEPER_PORT="${LOADSTACK_DIST_ZOOKEEPER_PORT:-2281}"
export LOADSTACK_AWS_ENDPOINT_URL="http://127.0.0.1:$LOADSTACK_MOTO_PORT"
export LOADSTACK_ZOOKEEPER_HOSTS="127.0.0.1:$LOADSTACK_ZOOKEEPER_PORT"

# Read by env.sh (sourced through services.sh): this profile's Airflow home, API port and metadata DB.
export LOADSTACK_AIRFLOW_HOME="$DIST/airflow"
export LOADSTACK_API_PORT="${LOADSTACK_DIST_API_PORT:-8180}"
export LOADSTACK_AIRFLOW_DB_URL="postgresql+psycopg2://airflow@127.0.0.1:$PG_PORT/airflow"
source "$_dist_root/scripts/services.sh"
# services.sh's own facts for moto and ZooKeeper, which this profile starts the same way.
eval "$(declare -f signature | sed '1s/^signature/single_signature/')"
eval "$(declare -f port_of | sed '1s/^port_of/single_port_of/')"
eval "$(declare -f command_of | sed '1s/^command_of/single_command_of/')"

RUN="$DIST/run"
LOGS="$DIST/log"
PG_DIR="$DIST/postgres"
REDIS_DIR="$DIST/redis"
LOCUST_DIR="$DIST/locust"
ZK_DIR="$DIST/zookeeper"
ALL_SERVICES=(moto zookeeper postgres redis api-server scheduler dag-processor triggerer worker-infra worker-load logs-infra logs-load)
AIRFLOW_SERVICES=(api-server scheduler dag-processor triggerer worker-infra worker-load)
WORKERS=(infra load)
# A worker's stack steps would leave their servers under its own home (the audit of issue 11, row A5).
DATA_DIRS=()
for _w in "${WORKERS[@]}"; do DATA_DIRS+=("$DIST/workers/$_w/var/data"); done

# Every component inherits these (and the secrets env.sh exported from $AIRFLOW_HOME/secrets.env).
export LOADSTACK_QUEUES="$QUEUES"
export LOADSTACK_LOCUST_MASTER_URL="http://127.0.0.1:$LOCUST_WEB_PORT"
# Task logs: each worker writes its own folder, then uploads every finished try to the log bucket (on this
# profile's moto), from where the api-server serves them: the UI shows every worker's logs without reaching it.
LOG_BUCKET="${LOADSTACK_DIST_LOG_BUCKET:-loadstack-logs}"
export AIRFLOW__LOGGING__REMOTE_LOGGING=True
export AIRFLOW__LOGGING__REMOTE_BASE_LOG_FOLDER="s3://$LOG_BUCKET/airflow"
export AIRFLOW__LOGGING__REMOTE_LOG_CONN_ID=loadstack_logs
export AIRFLOW_CONN_LOADSTACK_LOGS="{\"conn_type\": \"aws\", \"extra\": {\"endpoint_url\": \"$LOADSTACK_AWS_ENDPOINT_URL\",
 \"region_name\": \"$LOADSTACK_AWS_REGION\", \"aws_access_key_id\": \"testing\", \"aws_secret_access_key\": \"testing\"}}"
export AIRFLOW__CORE__EXECUTOR=CeleryExecutor
export AIRFLOW__CELERY__BROKER_URL="redis://127.0.0.1:$REDIS_PORT/0"
export AIRFLOW__CELERY__RESULT_BACKEND="db+postgresql+psycopg2://airflow@127.0.0.1:$PG_PORT/airflow"
export AIRFLOW__CELERY__WORKER_CONCURRENCY="$WORKER_CONCURRENCY"

say() { printf '[distributed] %s\n' "$*"; }
die() { printf '[distributed] ERROR: %s\n' "$*" >&2; exit 1; }
fail_start() {
    show_log "$1"
    say "start-up failed: $1. Logs: $LOGS/ and $DIST/workers/*/logs/; stop the rest with: make down-distributed"
    exit 1
}

# --- per-service facts (replace services.sh's) --------------------------------------------------
signature() {
    case "$1" in
        moto | zookeeper) single_signature "$1" ;;
        postgres) echo postgres ;;
        redis) echo redis-server ;;
        api-server) echo "api[-_]server" ;;
        scheduler) echo scheduler ;;
        dag-processor) echo dag-processor ;;
        triggerer) echo triggerer ;;
        worker-*) echo celery ;;
        logs-*) echo serve_logs ;;
    esac
}

port_of() {
    case "$1" in
        moto | zookeeper) single_port_of "$1" ;;
        postgres) echo "$PG_PORT" ;;
        redis) echo "$REDIS_PORT" ;;
        api-server) echo "$LOADSTACK_API_PORT" ;;
        logs-*) echo "${WORKER_LOG_PORTS[${1#logs-}]}" ;;
        *) echo "" ;;
    esac
}

command_of() {
    local worker
    case "$1" in
        moto | zookeeper) single_command_of "$1" ;;
        # The data dir belongs to user postgres; setpriv execs, so the PID file names the postmaster itself.
        # No unix socket: the single-machine tests' and other PostgreSQLs' sockets in /tmp stay untouched.
        postgres)
            CMD=(setpriv --reuid=postgres --regid=postgres --init-groups
                postgres -D "$PG_DIR" -c listen_addresses=127.0.0.1 -p "$PG_PORT" -c unix_socket_directories=)
            ;;
        redis)
            CMD=(redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --save "" --appendonly no
                --daemonize no --protected-mode yes)
            ;;
        api-server) CMD=("$AIRFLOW" api-server --host 127.0.0.1 --port "$LOADSTACK_API_PORT") ;;
        scheduler) CMD=("$AIRFLOW" scheduler --skip-serve-logs) ;;
        dag-processor) CMD=("$AIRFLOW" dag-processor) ;;
        triggerer) CMD=("$AIRFLOW" triggerer --skip-serve-logs) ;;
        worker-*)
            worker="${1#worker-}"
            worker_env "$worker"
            CMD=("${WORKER_ENV[@]}" "$AIRFLOW" celery worker --queues "${WORKER_QUEUES[$worker]}"
                --celery-hostname "$worker@%h" --concurrency "$WORKER_CONCURRENCY" --skip-serve-logs)
            ;;
        logs-*)
            worker="${1#logs-}"
            worker_env "$worker"
            CMD=("${WORKER_ENV[@]}" "$PY" -m uvicorn airflow.utils.serve_logs.log_server:create_app --factory
                --host 127.0.0.1 --port "${WORKER_LOG_PORTS[$worker]}" --no-access-log)
            ;;
    esac
}

# Sets WORKER_ENV: what runs a command in a worker's working directory, home and log folder.
worker_env() {
    local dir="$DIST/workers/$1"
    WORKER_ENV=(env -C "$dir" "WORKER_NAME=$1" "LOADSTACK_HOME=$dir" "LOADSTACK_VAR=$dir/var"
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER=$dir/logs"
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=${WORKER_LOG_PORTS[$1]}")
}

# --- PostgreSQL -----------------------------------------------------------------------------------
# initdb once (as user postgres, which must be able to reach the directory), trust auth on loopback only.
init_postgres() {
    [[ -s "$PG_DIR/PG_VERSION" ]] && return 0
    id postgres >/dev/null 2>&1 || die "no user postgres: PostgreSQL's initdb must run as it (shared/notes/airflow.md)"
    command -v initdb >/dev/null || die "initdb not found: PostgreSQL 15's binaries are expected in /usr/local/bin"
    mkdir -p "$PG_DIR"
    chown postgres:postgres "$PG_DIR"
    chmod 700 "$PG_DIR"
    say "initdb $PG_DIR (log $(logfile postgres-initdb))"
    if ! runuser -u postgres -- initdb -D "$PG_DIR" -U airflow --auth=trust --encoding=UTF8 \
        >>"$(logfile postgres-initdb)" 2>&1; then
        fail_start postgres-initdb
    fi
}

# The `airflow` database, created on first start (initdb only makes `postgres`).
ensure_airflow_database() {
    "$PY" - "$PG_PORT" <<'EOF' || fail_start postgres
import sys, time
import psycopg2

deadline = time.monotonic() + 60
while True:
    try:
        connection = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user="airflow", dbname="postgres")
        break
    except psycopg2.OperationalError as exc:
        if time.monotonic() > deadline:
            sys.exit(f"postgres: not accepting connections after 60 s: {exc}")
        time.sleep(0.3)
connection.autocommit = True
with connection.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'")
    if cursor.fetchone() is None:
        cursor.execute("CREATE DATABASE airflow")
connection.close()
EOF
}

cmd_up() {
    local t0 name pid need_start=()
    t0=$(date +%s.%N)
    (($#)) && die "up starts the whole profile (no service names)"
    [[ -x "$PY" ]] || die "no venv at $LOADSTACK_VENV: run scripts/bootstrap.sh first"
    "$PY" -c 'import airflow.providers.celery, asyncpg, psycopg2, redis' 2>/dev/null \
        || die "the venv lacks providers-celery, asyncpg, psycopg2 or redis: pip install -r requirements.txt"
    # postgres (not root) writes nothing here but must traverse to its data dir.
    mkdir -p "$DIST" "$RUN" "$LOGS" "$AIRFLOW_HOME" "$REDIS_DIR"
    chmod 755 "$DIST"
    for name in "${WORKERS[@]}"; do mkdir -p "$DIST/workers/$name/logs" "$DIST/workers/$name/var"; done
    declare -A pids=()

    write_zookeeper_config
    start_service moto; pids[moto]="${STARTED_PID:-$(running_pid moto)}"
    start_service zookeeper; pids[zookeeper]="${STARTED_PID:-$(running_pid zookeeper)}"
    init_postgres
    start_service postgres; pids[postgres]="${STARTED_PID:-$(running_pid postgres)}"
    start_service redis; pids[redis]="${STARTED_PID:-$(running_pid redis)}"
    ensure_airflow_database
    local deadline=$((SECONDS + 30))
    until [[ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" == PONG ]]; do
        alive "${pids[redis]}" && ((SECONDS < deadline)) || fail_start redis
        sleep 0.2
    done
    say "postgres: ready at 127.0.0.1:$PG_PORT (database airflow), redis: 127.0.0.1:$REDIS_PORT"
    "${CHECK[@]}" wait-http "$LOADSTACK_AWS_ENDPOINT_URL/moto-api/" --pid "${pids[moto]}" --timeout 60 || fail_start moto
    for bucket in "$LOADSTACK_STATE_BUCKET" "$LOADSTACK_SNAPSHOT_BUCKET" "$LOG_BUCKET"; do
        "${CHECK[@]}" ensure-bucket "$LOADSTACK_AWS_ENDPOINT_URL" "$bucket" "$LOADSTACK_AWS_REGION" || fail_start moto
    done
    "${CHECK[@]}" wait-zk "$LOADSTACK_ZOOKEEPER_HOSTS" --pid "${pids[zookeeper]}" --timeout 60 || fail_start zookeeper
    say "moto: ready at $LOADSTACK_AWS_ENDPOINT_URL, zookeeper: $LOADSTACK_ZOOKEEPER_HOSTS"

    ensure_password_file
    for name in "${AIRFLOW_SERVICES[@]}"; do
        running_pid "$name" >/dev/null || need_start+=("$name")
    done
    if ((${#need_start[@]})); then
        say "airflow db migrate on PostgreSQL (log $(logfile airflow-db-migrate))"
        "$AIRFLOW" db migrate >>"$(logfile airflow-db-migrate)" 2>&1 || fail_start airflow-db-migrate
    fi
    for name in "${AIRFLOW_SERVICES[@]}" logs-infra logs-load; do
        start_service "$name"; pids[$name]="${STARTED_PID:-$(running_pid "$name")}"
    done

    local pid_args=()
    for name in "${AIRFLOW_SERVICES[@]}"; do pid_args+=(--pid "${pids[$name]}"); done
    if ! "${CHECK[@]}" wait-airflow "$LOADSTACK_API_URL" "${pid_args[@]}" --timeout "$START_TIMEOUT"; then
        for name in "${AIRFLOW_SERVICES[@]}"; do
            running_pid "$name" >/dev/null || fail_start "$name"
        done
        fail_start api-server
    fi
    say "airflow: all components healthy at $LOADSTACK_API_URL (CeleryExecutor)"
    wait_workers
    for name in "${WORKERS[@]}"; do
        "${CHECK[@]}" wait-http "http://127.0.0.1:${WORKER_LOG_PORTS[$name]}/log/" --pid "${pids[logs-$name]}" \
            --timeout 60 || fail_start "logs-$name"
    done
    start_locust
    say "up in $(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }') s"
    say "UI: $LOADSTACK_API_URL  user: admin  password file: $AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"
}

# The standing Locust cluster: the service starts the master and each worker as its own process (PID files and
# logs in $LOCUST_DIR) and returns once every worker is connected; run again, it finds them running.
start_locust() {
    local url
    if ! url="$("$PY" -m loadstack.locust.service up --dir "$LOCUST_DIR" --workers "$LOCUST_WORKERS" \
        --web-port "$LOCUST_WEB_PORT" --master-port "$LOCUST_MASTER_PORT" 2>>"$(logfile locust)")"; then
        fail_start locust
    fi
    [[ "$url" == "$LOADSTACK_LOCUST_MASTER_URL" ]] || die "locust: the master answers at $url, not $LOADSTACK_LOCUST_MASTER_URL"
    say "locust: master at $url with $LOCUST_WORKERS workers (logs $LOCUST_DIR/); ramps attach to it by URL"
}

stop_locust() {
    [[ -d "$LOCUST_DIR" ]] || return 0
    "$PY" -m loadstack.locust.service down --dir "$LOCUST_DIR" >>"$(logfile locust)" 2>&1 \
        && say "locust: stopped" || say "locust: could not stop every process (see $(logfile locust))"
}

# services.sh's down and status, plus the Locust cluster (which the service tracks by its own PID files).
eval "$(declare -f cmd_down | sed '1s/^cmd_down/single_cmd_down/')"
eval "$(declare -f cmd_status | sed '1s/^cmd_status/single_cmd_status/')"
cmd_down() {
    local names=() name
    for name in "$@"; do [[ "$name" == locust ]] || names+=("$name"); done
    if (($# == 0)) || [[ " $* " == *" locust "* ]]; then stop_locust; fi
    if (($# == 0 || ${#names[@]})); then single_cmd_down "${names[@]}"; fi
}
cmd_status() {
    local rc=0
    single_cmd_status "$@" || rc=$?
    if "$PY" -m loadstack.locust.service status --dir "$LOCUST_DIR" >/dev/null 2>&1; then
        printf '%-14s running  %-12s %-22s log %s\n' locust "" "${LOADSTACK_LOCUST_MASTER_URL#http://}" "$LOCUST_DIR/"
    else
        printf '%-14s stopped\n' locust
        rc=3
    fi
    return "$rc"
}

# A worker is ready when Celery answers its ping through the broker (health does not report workers).
wait_workers() {
    local deadline=$((SECONDS + START_TIMEOUT)) name missing
    while :; do
        missing=()
        for name in "${WORKERS[@]}"; do
            running_pid "worker-$name" >/dev/null || fail_start "worker-$name"
            grep -q "$name@.* ready" "$(logfile "worker-$name")" 2>/dev/null || missing+=("$name")
        done
        ((${#missing[@]} == 0)) && break
        ((SECONDS < deadline)) || fail_start "worker-${missing[0]}"
        sleep 1
    done
    for name in "${WORKERS[@]}"; do
        say "worker-$name: ready, queues ${WORKER_QUEUES[$name]}, working directory $DIST/workers/$name," \
            "log server 127.0.0.1:${WORKER_LOG_PORTS[$name]}"
    done
}

# The demo (scripts/demo.py) against this profile's Airflow, with its environment.
cmd_demo() {
    running_pid api-server >/dev/null || die "the distributed profile is not up: make up-distributed"
    LOADSTACK_TASK_LOGS="$DIST/workers/*/logs (each worker's own folder)" \
        LOADSTACK_STOP_COMMAND="make down-distributed" "$PY" "$ROOT/scripts/demo.py" "$@"
}

action="${1:-status}"
shift || true
case "$action" in
    up) cmd_up "$@" ;;
    demo) cmd_demo "$@" ;;
    down) cmd_down "$@" ;;
    status) cmd_status "$@" ;;
    *) die "usage: $0 up | down [SERVICE...] | status [SERVICE...] | demo [ARGS...]  (services: ${ALL_SERVICES[*]})" ;;
esac
