#!/bin/sh
# First start (empty data volume): initdb with POSTGRES_PASSWORD as the postgres role's password,
# password logins over TCP, then POSTGRES_DB created. Later starts reuse the volume as it is.
set -eu
: "${PGDATA:=/var/lib/postgresql/data}"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "${POSTGRES_PASSWORD:-}" ]; then
    echo "podspawn-postgres: POSTGRES_PASSWORD is not set" >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" --username=postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >/dev/null
  rm -f "$pwfile"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
  db=${POSTGRES_DB:-postgres}
  if [ "$db" != postgres ]; then
    # Single-user mode: nothing listens yet. Identifier quoting: " doubled.
    quoted=$(printf '%s' "$db" | sed 's/"/""/g')
    echo "CREATE DATABASE \"$quoted\";" | postgres --single -D "$PGDATA" postgres >/dev/null
  fi
fi

# podspawn runs services on a read-only root with a private tmpfs on /tmp: the socket and its
# lock file go there (clients come over TCP from the dev container).
exec postgres -D "$PGDATA" -c unix_socket_directories=/tmp
