#!/usr/bin/env bash
# Make this machine ready for loadstack: system packages, Terraform check, the Python venv.
# Idempotent and quick on a second run: apt runs only for missing packages, pip only when
# requirements.txt or pyproject.toml changed (stamp file in .venv/).
#
#   scripts/bootstrap.sh            everything
#   LOADSTACK_SKIP_APT=1 ...        skip the system-package step (e.g. a machine without apt)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

VENV="$ROOT/.venv"
STAMP="$VENV/.loadstack-bootstrap"
TERRAFORM_VERSION="1.11.4"
TF_MIRROR="${LOADSTACK_TF_PLUGIN_MIRROR:-/opt/tf-plugins}"

# Debian packages: mysqlclient's build needs the first three; the services need the rest
# (zookeeper pulls in a JRE); the browser tests drive chromium through Playwright.
APT_PACKAGES=(
    default-libmysqlclient-dev pkg-config build-essential
    zookeeper
    mariadb-server mariadb-backup zstd
    redis-server
    haproxy prometheus
    chromium
)

log() { printf '[bootstrap] %s\n' "$*"; }
die() { printf '[bootstrap] ERROR: %s\n' "$*" >&2; exit 1; }

# Only one bootstrap at a time (two `make` targets started together).
mkdir -p "$ROOT/var/run"
exec 9>"$ROOT/var/run/bootstrap.lock"
flock 9

# --- system packages ------------------------------------------------------------------------
apt_step() {
    local missing=() pkg
    for pkg in "${APT_PACKAGES[@]}"; do
        if [[ "$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)" != "installed" ]]; then
            missing+=("$pkg")
        fi
    done
    if ((${#missing[@]} == 0)); then
        return 0
    fi
    command -v apt-get >/dev/null || die "missing system packages (${missing[*]}) and no apt-get: install them by hand, or set LOADSTACK_SKIP_APT=1"
    local sudo=()
    if [[ $EUID -ne 0 ]]; then
        command -v sudo >/dev/null || die "missing system packages (${missing[*]}); run as root or install sudo"
        sudo=(sudo)
    fi
    log "installing system packages: ${missing[*]} (apt-get, a few minutes the first time)"
    "${sudo[@]}" apt-get update -qq
    # (Debian's own mariadb/redis services are not used: services.sh runs private instances.)
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        -o Dpkg::Use-Pty=0 "${missing[@]}"
}

if [[ "${LOADSTACK_SKIP_APT:-0}" != "1" ]]; then
    apt_step
fi
command -v java >/dev/null || die "java not found: ZooKeeper needs a JRE (apt-get install default-jre-headless)"
[[ -r /usr/share/java/zookeeper.jar ]] || die "/usr/share/java/zookeeper.jar not found: apt-get install zookeeper"

# --- Terraform and the provider mirror (cannot be downloaded here) ------------------------------
TF_BIN="${LOADSTACK_TERRAFORM_BIN:-$(command -v terraform || true)}"
[[ -n "$TF_BIN" && -x "$TF_BIN" ]] || die "terraform not found on PATH. loadstack needs Terraform $TERRAFORM_VERSION (expected at /usr/local/bin/terraform); the download site is not reachable from this machine, so install the binary by hand."
# sed reads to the end: `| head -1` would SIGPIPE terraform, which fails the pipeline under pipefail.
tf_version="$("$TF_BIN" version 2>/dev/null | sed -n '1s/^Terraform v//p')"
if [[ "$tf_version" != "$TERRAFORM_VERSION" ]]; then
    log "warning: $TF_BIN is Terraform ${tf_version:-unknown}; loadstack is tested with $TERRAFORM_VERSION"
fi
[[ -d "$TF_MIRROR/registry.terraform.io/hashicorp/aws" ]] || die "Terraform provider mirror missing: $TF_MIRROR/registry.terraform.io/hashicorp/aws does not exist. The public Terraform registry is not reachable from here; provide an unpacked provider mirror (hashicorp/aws 5.100.0) there or set LOADSTACK_TF_PLUGIN_MIRROR."

# --- Python venv --------------------------------------------------------------------------------
# requirements.txt was resolved on CPython 3.11.7; some pins need >= 3.11.5, so Debian 12's own
# /usr/bin/python3 (3.11.2) does not do. Prefer a 3.11 >= 3.11.5, e.g. pyenv's.
PY_OK='import sys; sys.exit(not ((3, 11, 5) <= sys.version_info[:3] < (3, 12)))'
pick_python() {
    local candidate
    for candidate in "${PYTHON:-}" python3.11 python3 "$HOME"/.pyenv/versions/3.11.*/bin/python3 \
        /usr/local/bin/python3.11; do
        [[ -n "$candidate" ]] && command -v "$candidate" >/dev/null 2>&1 || continue
        if "$candidate" -c "$PY_OK" 2>/dev/null; then
            command -v "$candidate"
            return 0
        fi
    done
    return 1
}

if [[ -x "$VENV/bin/python" ]] && ! "$VENV/bin/python" -c "$PY_OK" 2>/dev/null; then
    log "the venv at $VENV is broken or not Python 3.11.5+; recreating it"
    rm -rf "$VENV"
fi
if [[ ! -x "$VENV/bin/python" ]]; then
    PYTHON="$(pick_python)" || die "no Python 3.11 (>= 3.11.5) found: tried \$PYTHON, python3.11, python3, ~/.pyenv/versions/3.11.*. Install one (e.g. pyenv install 3.11.7) and run again with PYTHON=/path/to/python3.11"
    log "creating venv $VENV with $PYTHON ($("$PYTHON" -c 'import platform; print(platform.python_version())'))"
    "$PYTHON" -m venv "$VENV"
fi

want="$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1) $("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$want" ]]; then
    log "ok: system packages, terraform $tf_version, venv up to date"
    exit 0
fi

log "installing Python packages from requirements.txt (about 2 minutes on a fresh venv)"
pip=("$VENV/bin/python" -m pip --disable-pip-version-check)
# (drop pip's noise about configured local package dirs that do not exist on this machine)
quiet_pip() { "${pip[@]}" "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }
quiet_pip install -q --progress-bar off -r requirements.txt
quiet_pip install -q --progress-bar off --no-deps -e .
"${pip[@]}" check || log "warning: pip check reports inconsistencies (see above)"
echo "$want" >"$STAMP"
log "ok: venv ready ($VENV)"
