#!/usr/bin/env bash
# Run a command with a throw-away PostgreSQL server for the test suites.
#
#   scripts/pg.sh COMMAND [ARGS...]
#
# COMMAND runs with ACCORD_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:PORT/postgres
# exported, and the server is stopped and its files removed when COMMAND ends, whether it
# passed, failed or was interrupted. The exit status is COMMAND's.
#
# Where the server comes from, first match wins:
#   1. ACCORD_TEST_POSTGRES_URL is already set: that server is used as it is (nothing started).
#   2. PostgreSQL's server programs are installed (Debian's /usr/lib/postgresql/<v>/bin, or
#      initdb and pg_ctl on PATH): a cluster is created in a temporary folder and started on a
#      free loopback port, trust authentication, durability off (it is thrown away).
#   3. We are root with apt-get: Debian's `postgresql` package is installed first
#      (apt-get update; apt-get install -y postgresql, non-interactive), then as in 2.
#   4. Otherwise COMMAND runs without PostgreSQL and the PostgreSQL tests are skipped, unless
#      ACCORD_TEST_REQUIRE_POSTGRES=1 (CI sets it), in which case this script fails.
#
# PostgreSQL refuses to run as root, so as root the cluster belongs to the `postgres` user
# (which Debian's package creates); as anyone else it belongs to the caller.
set -euo pipefail

log() { printf 'pg.sh: %s\n' "$*" >&2; }

if [[ $# -eq 0 ]]; then
    log "usage: scripts/pg.sh COMMAND [ARGS...]"
    exit 2
fi

if [[ -n "${ACCORD_TEST_POSTGRES_URL:-}" ]]; then
    log "using the server in ACCORD_TEST_POSTGRES_URL"
    exec "$@"
fi

find_bindir() {
    local dir
    # Debian installs each major version side by side; take the newest.
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [[ -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
            echo "$dir"
            return 0
        fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
        dirname "$(command -v pg_ctl)"
        return 0
    fi
    return 1
}

skip_or_fail() {
    local why="$1"
    shift
    if [[ "${ACCORD_TEST_REQUIRE_POSTGRES:-0}" == "1" ]]; then
        log "PostgreSQL is required (ACCORD_TEST_REQUIRE_POSTGRES=1) but $why"
        exit 1
    fi
    log "$why: the PostgreSQL tests will be skipped (set ACCORD_TEST_POSTGRES_URL to use a server)"
    exec "$@"
}

BINDIR="$(find_bindir || true)"
if [[ -z "$BINDIR" ]]; then
    if [[ "$(id -u)" == "0" ]] && command -v apt-get >/dev/null 2>&1; then
        log "installing Debian's postgresql package"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq postgresql >&2
        BINDIR="$(find_bindir || true)"
    fi
fi
if [[ -z "$BINDIR" ]]; then
    skip_or_fail "no PostgreSQL server programs found and none can be installed here" "$@"
fi

# Run a PostgreSQL program as the cluster's owner.
if [[ "$(id -u)" == "0" ]]; then
    if ! id postgres >/dev/null 2>&1; then
        useradd --system --home-dir /var/lib/postgresql --shell /bin/bash postgres
    fi
    as_owner() { runuser -u postgres -- "$@"; }
    OWNER=postgres
else
    as_owner() { "$@"; }
    OWNER="$(id -un)"
fi

PGTMP="$(mktemp -d "${TMPDIR:-/tmp}/accord-pg.XXXXXX")"
chown "$OWNER" "$PGTMP"
chmod 700 "$PGTMP"
DATA="$PGTMP/data"
PGLOG="$PGTMP/server.log"

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

STARTED=0
cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [[ "$STARTED" == "1" ]]; then
        as_owner "$BINDIR/pg_ctl" -D "$DATA" stop -m fast -t 30 >/dev/null 2>&1 ||
            as_owner "$BINDIR/pg_ctl" -D "$DATA" stop -m immediate >/dev/null 2>&1 || true
    fi
    rm -rf "$PGTMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

as_owner "$BINDIR/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
    --no-sync >"$PGTMP/initdb.log" 2>&1 || {
    cat "$PGTMP/initdb.log" >&2
    log "initdb failed"
    exit 1
}

# The port is chosen free, but another process may take it before the server binds: retry.
for attempt in 1 2 3 4 5; do
    PORT="$(free_port)"
    # Throw-away cluster: no fsync, no full-page writes. Enough connections for several
    # Accord processes (each with its own pool) per test on top of the test process.
    if as_owner "$BINDIR/pg_ctl" -D "$DATA" -l "$PGLOG" -w -t 60 start -o "\
        -c listen_addresses=127.0.0.1 -p $PORT -k $PGTMP \
        -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
        -c max_connections=400 -c shared_buffers=128MB \
        -c max_locks_per_transaction=128" >/dev/null; then
        STARTED=1
        break
    fi
    log "start on port $PORT failed (attempt $attempt)"
    tail -n 5 "$PGLOG" >&2 || true
done
if [[ "$STARTED" != "1" ]]; then
    log "could not start PostgreSQL"
    exit 1
fi

export ACCORD_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PORT/postgres"
log "PostgreSQL $("$BINDIR/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT ($PGTMP)"

# Not exec: the trap must stop the server after COMMAND ends.
set +e
"$@"
rc=$?
set -e
exit "$rc"
