# pg_server.bash - a throwaway PostgreSQL server for the tests (sourced): initdb and pg_ctl of
# Debian's postgresql-15 in a temporary directory, run as an unprivileged user (nobody when
# the tests run as root: PostgreSQL refuses root), listening on a Unix socket in that
# directory only (no TCP port: nothing to collide with, nothing reachable from outside).
#   pg_start            start it; sets PG_DIR, PG_SOCK, PG_URL (the postgres database; make
#                       others with pg_createdb; pg_psql runs psql on one); returns
#                       77 with a line saying what is missing when PostgreSQL is not here
#   pg_createdb NAME    a database, its URL in PG_DB_URL
#   pg_restart          restart it (fast: every connection is dropped)
#   pg_stop             stop it (immediate) and delete its directory; safe to call twice
#   pg_for_test DB      in a test of cluster_lib.bash: start it (exit 77 when PostgreSQL is
#                       missing, its log in $T/pg_start.log), make database DB (PG_DB_URL),
#                       and stop it in the EXIT trap (after eval "$PG_TEST_BEFORE" if set),
#                       then cluster_lib.bash's cleanup
# PG_FSYNC=on makes commits durable (the benchmarks); tests run with fsync off.

pg_bindir() {
    local d
    for d in ${PG_BINDIR:-} /usr/lib/postgresql/15/bin /usr/lib/postgresql/*/bin; do
        [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && { echo "$d"; return 0; }
    done
    return 1
}

# as the server's user
pg_as() {
    if [ "$(id -u)" -eq 0 ]; then (cd / && runuser -u nobody -- "$@"); else "$@"; fi
}

pg_start() {
    local bin
    bin=$(pg_bindir) || { echo "PostgreSQL server binaries (postgresql-15) are not installed"; return 77; }
    PG_BIN=$bin
    PG_DIR=$(mktemp -d "${TMPDIR:-/tmp}/cl-pg-XXXXXX") || return 1
    chmod 755 "$PG_DIR"
    mkdir "$PG_DIR/data" "$PG_DIR/sock"
    [ "$(id -u)" -eq 0 ] && chown nobody: "$PG_DIR/data" "$PG_DIR/sock"
    PG_SOCK=$PG_DIR/sock
    pg_as "$bin/initdb" -D "$PG_DIR/data" -U colossus --auth=trust --locale=C.UTF-8 \
        -E UTF8 >"$PG_DIR/initdb.log" 2>&1 ||
        { echo "initdb failed:"; cat "$PG_DIR/initdb.log"; return 1; }
    cat >>"$PG_DIR/data/postgresql.conf" <<EOF
listen_addresses = ''
unix_socket_directories = '$PG_SOCK'
fsync = ${PG_FSYNC:-off}
synchronous_commit = on
full_page_writes = ${PG_FSYNC:-off}
max_connections = 100
shared_buffers = 256MB
max_wal_size = 4GB
EOF
    pg_as "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/sock/server.log" -w -t 60 start >/dev/null ||
        { echo "pg_ctl start failed:"; tail -n 20 "$PG_DIR/sock/server.log"; return 1; }
    PG_URL="postgresql:///postgres?host=$PG_SOCK&user=colossus"
    export PG_DIR PG_SOCK PG_URL PG_BIN
}

pg_createdb() {
    "$PG_BIN/createdb" -h "$PG_SOCK" -U colossus "$1" || return 1
    PG_DB_URL="postgresql:///$1?host=$PG_SOCK&user=colossus"
}

# psql on a database (default postgres) of the server: pg_psql [DB] -c SQL ...
pg_psql() {
    local db=postgres
    [ $# -gt 0 ] && [ "${1#-}" = "$1" ] && { db=$1; shift; }
    "$PG_BIN/psql" -X -q -h "$PG_SOCK" -U colossus -d "$db" "$@"
}

pg_restart() {
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/sock/server.log" -m fast -w -t 60 \
        restart >/dev/null
}

pg_stop() {
    [ -n "${PG_DIR:-}" ] && [ -d "$PG_DIR" ] || return 0
    pg_as "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1
    rm -rf "$PG_DIR"
    PG_DIR=
}

pg_test_cleanup() {
    local rc=$?
    [ -n "${PG_TEST_BEFORE:-}" ] && eval "$PG_TEST_BEFORE" >/dev/null 2>&1
    pg_stop
    (exit $rc)
    cleanup
}

pg_for_test() {
    trap pg_test_cleanup EXIT
    pg_start >"$T/pg_start.log" 2>&1 || { local rc=$?; cat "$T/pg_start.log"; exit $rc; }
    pg_createdb "$1" >/dev/null || fail "createdb $1"
}
