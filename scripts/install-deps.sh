#!/bin/sh
# install-deps.sh - install the Debian packages Colossus builds, tests and demos with.
# Idempotent: does nothing when every package is already present. Needs root (or sudo).
set -eu
PKGS="build-essential pkg-config clang clang-format libclang-rt-14-dev
libcmocka-dev libuv1-dev libprotobuf-c-dev protobuf-c-compiler
libsqlite3-dev libpq-dev postgresql-15 libfftw3-dev libsodium-dev libjansson-dev libmicrohttpd-dev
python3 python3-torch python3-jsonschema procps psmisc uthash-dev libjwt-dev curl prometheus openssl
chromium python3-websocket fonts-dejavu-core help2man"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "install-deps: installing:$missing" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q >&2
$SUDO apt-get install -y -q --no-install-recommends $missing >&2
