#!/usr/bin/env bash
# Pack shopapp for app_cluster instances: a reproducible .tar.gz holding shopapp/ and requirements.txt
# (plus wheels/ when given a wheel directory, for instances without access to a package index).
# Prints the artifact's path and SHA-256: the module's app_artifact = {url, sha256} takes both.
#
#   app/pack.sh [OUT.tar.gz] [WHEEL_DIR]      default OUT: app/dist/shopapp.tar.gz
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:-$here/dist/shopapp.tar.gz}"
wheels="${2:-}"
stage="$(mktemp -d)"
trap 'rm -rf "$stage"' EXIT

cp -r "$here/shopapp" "$here/requirements.txt" "$stage/"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
if [[ -n "$wheels" ]]; then
    [[ -d "$wheels" ]] || { echo "pack.sh: $wheels is not a directory of wheels" >&2; exit 1; }
    mkdir "$stage/wheels" && cp "$wheels"/*.whl "$stage/wheels/"
fi
mkdir -p "$(dirname "$out")"
# Same inputs, same bytes: sorted names, fixed owner and times, gzip without a timestamp.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=u+rwX,go+rX,go-w \
    -C "$stage" -cf - . | gzip -n > "$out"
sha256sum "$out" | awk -v out="$out" '{print out; print "sha256 " $1}'
