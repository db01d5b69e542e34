# backup-db-in.sh: runs inside a database accessory's own container (or a
# scratch container of its image), as
#   docker exec [-i] C sh -c SCRIPT berth-db KIND OP
# with the engine's own tools, never on a host. KIND is postgres, mysql or
# redis. Credentials come from the container's environment as the official
# images define them (POSTGRES_USER, POSTGRES_PASSWORD; MARIADB_ROOT_PASSWORD
# or MYSQL_ROOT_PASSWORD; REDIS_PASSWORD; each also as NAME_FILE) and reach
# the clients through their environment or a 0600 option file, never an argv.
#
#   dump        postgres: pg_dumpall --clean --if-exists on stdout.
#               mysql: mysqldump --single-transaction --all-databases with
#               routines, events and triggers on stdout.
#               redis: writes paused (CLIENT PAUSE WRITE) while the record
#               is taken and BGSAVE forks, so both see the same data; the
#               record on stdout, the new RDB file linked to
#               .berth-backup.rdb in the data directory.
#   rdb         redis: that link's content on stdout, the link removed.
#   ready       a scratch container: 0 once the server (PID 1, not an
#               entrypoint's temporary one) answers.
#   check       a scratch container with the snapshot's files at /berth:
#               postgres and mysql load /berth/dump.sql; then each of the
#               record's (/berth/record) lines is answered as counted here.
#   restore     stdin: a dump. postgres: every database but postgres and the
#               templates dropped (their sessions ended), then the dump
#               loaded; mysql: every database but the system ones dropped,
#               then the dump loaded. The server keeps running.
#   where       redis: "DIR/FILE" of its RDB file; fails when append-only
#               files are on (they, not the RDB, would be loaded at start).
#
# The record (tab-separated lines): "table DB TABLE ROWS" (postgres, mysql;
# written on the host from the dump), "keys dbN N" (redis: keys without an
# expiry in database N) and "value DIGEST KEY" (redis: a sample of such keys,
# DIGEST a cksum of the type and value).
set -eu
kind=$1
op=$2
tab=$(printf '\t')
umask 077

# secret NAME: the variable NAME, or the content of the file NAME_FILE names
secret() {
  eval "v=\${$1:-} f=\${$1_FILE:-}"
  if [ -z "$v" ] && [ -n "$f" ] && [ -r "$f" ]; then
    v=$(cat "$f")
  fi
  printf '%s' "$v"
}

# first of the commands that exists
pick() {
  for p; do
    if command -v "$p" >/dev/null 2>&1; then
      echo "$p"
      return 0
    fi
  done
  echo "berth-db: none of $* in the accessory's image" >&2
  exit 2
}

pid1() { cat /proc/1/comm 2>/dev/null || true; }

pg_env() {
  PGUSER=$(secret POSTGRES_USER)
  PGUSER=${PGUSER:-postgres}
  PGPASSWORD=$(secret POSTGRES_PASSWORD)
  PGDATABASE=postgres
  export PGUSER PGPASSWORD PGDATABASE
}

# my_env [empty]: the client's name in $my, and its option file in $myf
# with the root password (none for a scratch container)
my_env() {
  my=$(pick mariadb mysql)
  myf=$(mktemp)
  trap 'rm -f "$myf"' EXIT
  pw=
  if [ "${1:-}" != empty ]; then
    pw=$(secret MARIADB_ROOT_PASSWORD)
    [ -n "$pw" ] || pw=$(secret MYSQL_ROOT_PASSWORD)
  fi
  {
    printf '[client]\nuser=root\n'
    if [ -n "$pw" ]; then
      printf 'password="%s"\n' "$(printf '%s' "$pw" | sed 's/\\/\\\\/g; s/"/\\"/g')"
    fi
  } >"$myf"
}

rcli() { redis-cli "$@" </dev/null; }
redis_env() {
  REDISCLI_AUTH=$(secret REDIS_PASSWORD)
  if [ -n "$REDISCLI_AUTH" ]; then export REDISCLI_AUTH; else unset REDISCLI_AUTH; fi
}
redis_file() {
  dir=$(rcli CONFIG GET dir | sed -n 2p)
  file=$(rcli CONFIG GET dbfilename | sed -n 2p)
  echo "${dir:-/data}/${file:-dump.rdb}"
}
# keys dbN N, for every database
redis_keys() {
  rcli INFO keyspace | tr -d '\r' |
    sed -n 's/^db\([0-9]*\):keys=\([0-9]*\),expires=\([0-9]*\).*/\1 \2 \3/p' |
    while read -r d k x; do
      printf 'keys\tdb%s\t%s\n' "$d" $((k - x))
    done
}
# the digest of key $1's type and value, order-free where the type is
redis_digest() {
  t=$(rcli TYPE "$1")
  case $t in
  string) rcli GET "$1" ;;
  list) rcli LRANGE "$1" 0 -1 ;;
  set) rcli SMEMBERS "$1" | LC_ALL=C sort ;;
  zset) rcli ZRANGE "$1" 0 -1 WITHSCORES ;;
  hash) rcli HGETALL "$1" | paste - - | LC_ALL=C sort ;;
  stream) rcli XRANGE "$1" - + ;;
  *) echo "$t" ;;
  esac | { echo "$t" && cat; } | cksum | cut -d ' ' -f 1,2 | tr ' ' '-'
}

case $kind.$op in
postgres.dump)
  pg_env
  exec pg_dumpall --clean --if-exists
  ;;
mysql.dump)
  my_env
  dump=$(pick mariadb-dump mysqldump)
  "$dump" --defaults-extra-file="$myf" --single-transaction --all-databases --routines \
    --events --triggers --hex-blob --default-character-set=utf8mb4 --flush-privileges
  ;;
redis.dump)
  redis_env
  f=$(redis_file)
  link=$(dirname "$f")/.berth-backup.rdb
  rm -f "$link"
  before=$(rcli LASTSAVE)
  # a save ending in the second of the last one would leave LASTSAVE as it was
  while [ "$(date +%s)" = "$before" ]; do sleep 0.2; done
  tries=0
  while :; do
    rcli CLIENT PAUSE 60000 WRITE >/dev/null
    trap 'rcli CLIENT UNPAUSE >/dev/null 2>&1 || true' EXIT
    redis_keys >/tmp/berth-record.$$
    rcli --scan | head -n 32 | while IFS= read -r k; do
      if [ "$(rcli TTL "$k")" = -1 ]; then
        printf 'value\t%s\t%s\n' "$(redis_digest "$k")" "$k"
      fi
    done >>/tmp/berth-record.$$
    reply=$(rcli BGSAVE)
    rcli CLIENT UNPAUSE >/dev/null
    trap - EXIT
    case $reply in
    *started*) break ;;
    esac
    tries=$((tries + 1))
    if [ "$tries" -ge 30 ]; then
      echo "berth-db: BGSAVE did not start: $reply" >&2
      exit 1
    fi
    sleep 1
  done
  while [ "$(rcli LASTSAVE)" = "$before" ]; do
    if rcli INFO persistence | grep -q '^rdb_bgsave_in_progress:0'; then
      if rcli INFO persistence | grep -q '^rdb_last_bgsave_status:err'; then
        echo "berth-db: BGSAVE failed (see the accessory's log)" >&2
        exit 1
      fi
    fi
    sleep 0.2
  done
  saved=$(rcli LASTSAVE)
  ln -f "$f" "$link"
  if [ "$(rcli LASTSAVE)" != "$saved" ]; then
    rm -f "$link"
    echo "berth-db: another save ran at the same time; back up again" >&2
    exit 1
  fi
  cat /tmp/berth-record.$$
  rm -f /tmp/berth-record.$$
  ;;
redis.rdb)
  redis_env
  link=$(dirname "$(redis_file)")/.berth-backup.rdb
  cat "$link"
  rm -f "$link"
  ;;
redis.where)
  redis_env
  if [ "$(rcli CONFIG GET appendonly | sed -n 2p)" = yes ]; then
    echo "berth-db: the accessory keeps append-only files (appendonly yes), which Redis would load instead of the restored RDB file" >&2
    exit 2
  fi
  redis_file
  ;;
postgres.ready)
  case $(pid1) in postgres*) ;; *) exit 1 ;; esac
  psql -X -q -U postgres -d postgres -c 'SELECT 1' </dev/null >/dev/null 2>&1
  ;;
mysql.ready)
  case $(pid1) in mysqld* | mariadbd*) ;; *) exit 1 ;; esac
  my_env empty
  "$my" --defaults-extra-file="$myf" -e 'SELECT 1' </dev/null >/dev/null 2>&1
  ;;
redis.ready)
  redis_env
  [ "$(rcli PING 2>/dev/null)" = PONG ]
  ;;
postgres.check)
  psql -X -q -U postgres -d postgres -f /berth/dump.sql </dev/null >/dev/null 2>/tmp/berth-load.log
  # one psql per database: the record's lines come sorted, a database's together
  grep "^table$tab" /berth/record >/tmp/berth-tables || true
  q=$(mktemp)
  last=
  flush() {
    if [ -n "$last" ]; then
      psql -X -q -A -t -F "$tab" -U postgres -d "$last" -f "$q" </dev/null 2>/dev/null |
        sed "s/^/table$tab/" || true
    fi
    : >"$q"
  }
  while IFS="$tab" read -r _ db t _; do
    if [ "$db" != "$last" ]; then
      flush
      last=$db
    fi
    # shellcheck disable=SC2016 # dollar quotes of SQL, not the shell's
    printf 'SELECT $berth$%s$berth$, $berth$%s$berth$, count(*) FROM %s;\n' "$db" "$t" "$t" >>"$q"
  done </tmp/berth-tables
  flush
  rm -f "$q"
  ;;
mysql.check)
  my_env empty
  grep "^table$tab" /berth/record >/tmp/berth-tables || true
  {
    cat /berth/dump.sql
    while IFS="$tab" read -r _ db t _; do
      # shellcheck disable=SC2016 # backquotes of SQL, not the shell's
      printf 'SELECT COUNT(*) FROM `%s`.`%s`;\n' "$db" "$t"
    done </tmp/berth-tables
  } | "$my" --defaults-extra-file="$myf" -N -B >/tmp/berth-counts 2>/tmp/berth-load.log || true
  # the counts in the record's order; a table that failed ends the list short
  cut -f 2,3 /tmp/berth-tables | paste - /tmp/berth-counts | while IFS="$tab" read -r db t n; do
    if [ -n "$n" ]; then
      printf 'table\t%s\t%s\t%s\n' "$db" "$t" "$n"
    fi
  done
  ;;
redis.check)
  redis_keys
  grep "^value$tab" /berth/record | while IFS="$tab" read -r _ _ k; do
    printf 'value\t%s\t%s\n' "$(redis_digest "$k")" "$k"
  done
  ;;
postgres.restore)
  pg_env
  psql -X -q -A -t </dev/null >/tmp/berth-drop.sql -c "
    SELECT pg_terminate_backend(pid) FROM pg_stat_activity
      WHERE pid <> pg_backend_pid() AND datname IS NOT NULL;
    SELECT format(CASE WHEN current_setting('server_version_num')::int >= 130000
                  THEN 'DROP DATABASE %I WITH (FORCE);' ELSE 'DROP DATABASE %I;' END, datname)
      FROM pg_database WHERE datname <> 'postgres' AND NOT datistemplate;"
  grep '^DROP DATABASE' /tmp/berth-drop.sql | psql -X -q >/dev/null
  psql -X -q -f - >/dev/null 2>/tmp/berth-load.log
  rm -f /tmp/berth-drop.sql
  ;;
mysql.restore)
  my_env
  "$my" --defaults-extra-file="$myf" -N -B </dev/null -e "
    SELECT CONCAT('DROP DATABASE \`', REPLACE(schema_name, '\`', '\`\`'), '\`;')
      FROM information_schema.schemata
      WHERE schema_name NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys')" |
    "$my" --defaults-extra-file="$myf"
  "$my" --defaults-extra-file="$myf" >/dev/null
  ;;
*)
  echo "berth-db: unknown operation '$op' for kind '$kind'" >&2
  exit 2
  ;;
esac
