#!/usr/bin/env bash
# A throwaway PostgreSQL on 127.0.0.1 for the cluster tests. Sourced by tests/run.sh:
# pg_start exports ACTORREFRESH_TEST_PG (an Npgsql connection string); pg_stop removes it all.
PG_PORT=${PG_PORT:-55432}

pg_bin() {
  local dir
  for dir in /usr/lib/postgresql/*/bin; do [[ -x "$dir/initdb" ]] && { echo "$dir"; return 0; }; done
  return 1
}

pg_start() {
  local bin
  if ! bin=$(pg_bin); then
    echo "tests/pg.sh: installing PostgreSQL server binaries" >&2
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) || return 1
    bin=$(pg_bin) || return 1
  fi
  PG_DIR=$(mktemp -d /tmp/actorrefresh-pg.XXXXXX)
  local run=()
  if [[ $(id -u) -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
    chown -R postgres "$PG_DIR"
    run=(runuser -u postgres --)
  fi
  "${run[@]}" "$bin/initdb" -D "$PG_DIR/data" -A trust -U postgres >"$PG_DIR/initdb.log" 2>&1 || { cat "$PG_DIR/initdb.log" >&2; return 1; }
  "${run[@]}" "$bin/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" start >/dev/null || { cat "$PG_DIR/server.log" >&2; return 1; }
  PG_RUN=("${run[@]}"); PG_BIN=$bin
  export ACTORREFRESH_TEST_PG="Host=127.0.0.1;Port=$PG_PORT;Username=postgres;Database=postgres;Pooling=true;Maximum Pool Size=50"
  echo "tests/pg.sh: PostgreSQL on 127.0.0.1:$PG_PORT" >&2
}

pg_stop() {
  [[ -n "${PG_DIR:-}" ]] || return 0
  "${PG_RUN[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate -w stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
}
