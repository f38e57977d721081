# shellcheck shell=bash
# The one place that describes loadstack's environment. Every other script sources it:
#     source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
# It is also meant for interactive use:  source scripts/env.sh && airflow dags list
#
# airflow.cfg (at the project root) holds the settings; it cannot know where this clone lives, so
# every path-valued setting is given here as an AIRFLOW__SECTION__KEY variable. Environment
# variables win over airflow.cfg in Airflow.
#
# Inputs you may set before sourcing (all optional):
#   LOADSTACK_PROFILE           local (default: moto on loopback) | aws (a real account)
#   LOADSTACK_AWS_REGION        default us-east-1
#   LOADSTACK_STATE_BUCKET      Terraform state bucket; default loadstack-tfstate for `local`,
#                               required for `aws`
#   LOADSTACK_MOTO_PORT         default 5055   -> LOADSTACK_AWS_ENDPOINT_URL (local profile only)
#   LOADSTACK_ZOOKEEPER_PORT    default 2181   -> LOADSTACK_ZOOKEEPER_HOSTS
#   LOADSTACK_API_PORT          default 8080   (Airflow api-server, always on 127.0.0.1)
#   LOADSTACK_TF_PLUGIN_MIRROR  default /opt/tf-plugins
#   LOADSTACK_AIRFLOW_HOME      default <root>/var/airflow (the test wrapper points it elsewhere)
#   LOADSTACK_AIRFLOW_DB_URL    default sqlite:///$AIRFLOW_HOME/airflow.db

_ls_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

# --- project layout -----------------------------------------------------------------------------
export LOADSTACK_HOME="$_ls_root"
export LOADSTACK_VAR="$_ls_root/var"
export LOADSTACK_VENV="$_ls_root/.venv"
export LOADSTACK_RUN_DIR="$LOADSTACK_VAR/run"      # pid files
export LOADSTACK_LOG_DIR="$LOADSTACK_VAR/log"      # service logs

# --- profile (read by plugins/loadstack/profiles.py) ---------------------------------------------
export LOADSTACK_PROFILE="${LOADSTACK_PROFILE:-local}"
export LOADSTACK_AWS_REGION="${LOADSTACK_AWS_REGION:-us-east-1}"
export LOADSTACK_TF_PLUGIN_MIRROR="${LOADSTACK_TF_PLUGIN_MIRROR:-/opt/tf-plugins}"
export LOADSTACK_MOTO_PORT="${LOADSTACK_MOTO_PORT:-5055}"
export LOADSTACK_ZOOKEEPER_PORT="${LOADSTACK_ZOOKEEPER_PORT:-2181}"
export LOADSTACK_ZOOKEEPER_HOSTS="${LOADSTACK_ZOOKEEPER_HOSTS:-127.0.0.1:$LOADSTACK_ZOOKEEPER_PORT}"
if [[ "$LOADSTACK_PROFILE" == "local" ]]; then
    export LOADSTACK_AWS_ENDPOINT_URL="${LOADSTACK_AWS_ENDPOINT_URL:-http://127.0.0.1:$LOADSTACK_MOTO_PORT}"
    export LOADSTACK_STATE_BUCKET="${LOADSTACK_STATE_BUCKET:-loadstack-tfstate}"
    export LOADSTACK_SNAPSHOT_BUCKET="${LOADSTACK_SNAPSHOT_BUCKET:-loadstack-snapshots}"
fi
# (the aws profile deliberately gets no default bucket and no endpoint: profiles.py insists on them)

# --- Airflow ------------------------------------------------------------------------------------
export AIRFLOW_HOME="${LOADSTACK_AIRFLOW_HOME:-$LOADSTACK_VAR/airflow}"
export AIRFLOW_CONFIG="$_ls_root/airflow.cfg"
export LOADSTACK_API_PORT="${LOADSTACK_API_PORT:-8080}"
export LOADSTACK_API_URL="http://127.0.0.1:$LOADSTACK_API_PORT"
export AIRFLOW__CORE__DAGS_FOLDER="${LOADSTACK_DAGS_FOLDER:-$_ls_root/dags}"
export AIRFLOW__CORE__PLUGINS_FOLDER="$_ls_root/plugins"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="$AIRFLOW_HOME/passwords.json"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${LOADSTACK_AIRFLOW_DB_URL:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__LOGGING__BASE_LOG_FOLDER="$AIRFLOW_HOME/logs"
export AIRFLOW__LOGGING__DAG_PROCESSOR_CHILD_PROCESS_LOG_DIRECTORY="$AIRFLOW_HOME/logs/dag_processor"
export AIRFLOW__API__HOST="127.0.0.1"
export AIRFLOW__API__PORT="$LOADSTACK_API_PORT"
export AIRFLOW__API__BASE_URL="$LOADSTACK_API_URL"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="$LOADSTACK_API_URL/execution/"

# Secrets shared by all Airflow processes (API secret, JWT signing key, Fernet key). Generated once
# per AIRFLOW_HOME, mode 0600, never committed. Without them each process would invent its own and
# task tokens issued by the scheduler would not verify at the api-server.
_ls_secrets="$AIRFLOW_HOME/secrets.env"
if [[ ! -s "$_ls_secrets" ]]; then
    mkdir -p "$AIRFLOW_HOME"
    (
        umask 077
        _rand() { head -c "$1" /dev/urandom | base64 | tr '+/' '-_' | tr -d '\n'; }
        {
            echo "AIRFLOW__API__SECRET_KEY=$(_rand 32)"
            echo "AIRFLOW__API_AUTH__JWT_SECRET=$(_rand 32)"
            echo "AIRFLOW__CORE__FERNET_KEY=$(_rand 32)"   # url-safe base64 of 32 bytes = a Fernet key
        } >"$_ls_secrets.tmp.$$"
        mv "$_ls_secrets.tmp.$$" "$_ls_secrets"
    )
fi
while IFS= read -r _ls_line; do
    _ls_k="${_ls_line%%=*}"
    [[ "$_ls_k" =~ ^AIRFLOW__[A-Z_]+$ ]] && export "$_ls_k=${_ls_line#*=}"
done <"$_ls_secrets"

# --- tools --------------------------------------------------------------------------------------
# The package is installed editable into the venv; plugins/ on PYTHONPATH also covers processes
# started with another interpreter (and is what Airflow does for plugins_folder anyway).
case ":${PYTHONPATH:-}:" in
    *":$_ls_root/plugins:"*) ;;
    *) export PYTHONPATH="$_ls_root/plugins${PYTHONPATH:+:$PYTHONPATH}" ;;
esac
case ":$PATH:" in
    *":$LOADSTACK_VENV/bin:"*) ;;
    *) export PATH="$LOADSTACK_VENV/bin:$PATH" ;;
esac
# mariadbd lives in /usr/sbin on Debian; a non-root user's PATH (or CI's) may not have it.
for _ls_sbin in /usr/local/sbin /usr/sbin /sbin; do
    case ":$PATH:" in
        *":$_ls_sbin:"*) ;;
        *) export PATH="$PATH:$_ls_sbin" ;;
    esac
done
unset _ls_sbin
export TF_IN_AUTOMATION=1 CHECKPOINT_DISABLE=1

unset _ls_root _ls_secrets _ls_line _ls_k
