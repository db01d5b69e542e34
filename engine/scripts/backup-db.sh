# backup-db.sh: a database accessory's backup step on its host (kinds
# postgres, mysql and redis), run by backup-run.sh, which makes the
# repository first and hands on its stdin: the repository's password, for
# the berth-backup container only.
#
#   backup-db.sh OP KIND CONTAINER IMAGE INSCRIPT DOCKER_RUN_ARG...
#
# INSCRIPT is backup-db-in.sh's text, run with `docker exec` in CONTAINER
# (the accessory's) or in a scratch container of IMAGE (its image), so the
# host needs no database client. DOCKER_RUN_ARG... is a `docker run -i ...`
# of the berth-backup image; it runs with a staging directory (mode 0700,
# in the ssh user's home: dumps can be large, so never a tmpfs) mounted, the
# mount added here after its first two words. Dump files land only there;
# it is removed on every way out, and so is the scratch container.
#
# OP backup: CONTAINER's dump (dump.sql; redis: dump.rdb), the record of
#   what verify checks (record: backup-db-in.sh's format, sorted; for
#   postgres and mysql counted here from the dump itself, so it matches the
#   dump even while clients write) and the kind, into the staging
#   directory; then DOCKER_RUN_ARG... snapshots it, mounted at /data/db.
# OP verify: DOCKER_RUN_ARG... (backup-restic.sh's extract) restores the
#   snapshot into the staging directory, mounted at /scratch, and checks
#   its files; then a scratch container of IMAGE without network (postgres
#   trusting local users, mysql with an empty root password; its data
#   directory, at the official images' path, in the staging directory too)
#   loads the dump (redis: the RDB file in /data) and answers the record.
# OP restore: verify, then the dump loaded into CONTAINER, which keeps
#   running (redis: stopped, its RDB file replaced, started again).
# Output: "checking ID", then "verified ID" (and "restored ID"), or on a
# mismatch "expect LINE" and "got LINE" for every line of the record and of
# the answer. Exit: 0; 3 no repository or no such snapshot; 4 the snapshot
# does not verify (the reason on stderr, starting "berth-backup:"); another
# status when a step failed.
set -u
umask 077
op=$1
kind=$2
c=$3
image=$4
in=$5
shift 5
cd || exit 1
say() { printf 'berth-backup: %s\n' "$*" >&2; }
stage=
scratch=
restart=
cleanup() {
  if [ -n "$restart" ]; then
    docker start "$c" >/dev/null </dev/null || say "cannot start '$c'"
  fi
  if [ -n "$scratch" ]; then
    docker rm -f "$scratch" >/dev/null 2>&1 </dev/null
  fi
  # the scratch server's files belong to its own user: when the ssh user
  # cannot remove them, a container of the image does
  if [ -n "$stage" ] && ! rm -rf -- "$stage" 2>/dev/null; then
    docker run --rm --network none --log-driver none --entrypoint rm \
      --mount "type=bind,source=$stage,target=/stage" "$image" -rf /stage/data \
      >/dev/null 2>&1 </dev/null
    rm -rf -- "$stage"
  fi
}
trap 'cleanup' EXIT
trap 'exit 129' HUP
trap 'exit 130' INT
trap 'exit 143' TERM
stage=$(mktemp -d "$PWD/.berth-backup.XXXXXX") || exit 1
case $stage in
*,*)
  say "the staging directory '$stage' cannot be mounted (a comma)"
  exit 1
  ;;
esac

# restic_run MOUNT DOCKER_RUN_ARG...: the berth-backup container with MOUNT too
restic_run() {
  m=$1
  w1=$2
  w2=$3
  shift 3
  "$w1" "$w2" --mount "$m" "$@"
}

# inside CONTAINER OP [docker exec options]: backup-db-in.sh OP in CONTAINER
inside() {
  ic=$1
  iop=$2
  shift 2
  docker exec "$@" "$ic" sh -c "$in" berth-db "$kind" "$iop"
}

# the record of a dump on stdin: "table DB TABLE ROWS" for every table it fills
count_dump() {
  LC_ALL=C awk -v kind="$kind" '
    BEGIN {
      q = sprintf("%c", 39)
      str = q "([^" q "\\\\]|\\\\.)*" q
      skip["mysql"] = skip["information_schema"] = skip["performance_schema"] = skip["sys"] = 1
    }
    function seen(d, t) {
      if (!((d, t) in rows)) {
        rows[d, t] = 0
        order[++nt] = d "\t" t
      }
    }
    kind == "postgres" {
      if (incopy) {
        if ($0 == "\\.") {
          incopy = 0
        } else {
          rows[db, t]++
        }
        next
      }
      if (substr($0, 1, 9) == "\\connect ") {
        if (index($0, "\"dbname=" q)) {
          db = substr($0, index($0, "\"dbname=" q) + 9)
          sub(q "\"$", "", db)
        } else {
          db = ($2 ~ /^-/) ? $3 : $2
        }
        next
      }
      if (substr($0, 1, 5) == "COPY " && $0 ~ / FROM stdin;$/) {
        t = substr($0, 6)
        sub(/ FROM stdin;$/, "", t)
        sub(/ \(.*$/, "", t)
        seen(db, t)
        incopy = 1
      }
      next
    }
    kind == "mysql" {
      # an INSERT runs to the line that ends it: MariaDB puts a row on each
      # line, MySQL all on one; strings (newlines escaped in them) are
      # dropped before the rows are counted by the parentheses that open them
      if (inins) {
        s = $0
      } else if (substr($0, 1, 5) == "USE `") {
        db = substr($0, 6)
        sub(/`;$/, "", db)
        next
      } else if (substr($0, 1, 27) == "-- Dumping data for table `") {
        t = substr($0, 28)
        sub(/`$/, "", t)
        if (!(db in skip)) {
          seen(db, t)
        }
        next
      } else if (substr($0, 1, 13) == "INSERT INTO `" && !(db in skip)) {
        p = index($0, "` VALUES")
        t = substr($0, 14, p - 14)
        seen(db, t)
        s = substr($0, p + 2)
        inins = 1
      } else {
        next
      }
      gsub(str, "", s)
      rows[db, t] += gsub(/(^|VALUES |\),)\(/, "", s)
      if (s ~ /;[ \t\r]*$/) {
        inins = 0
      }
    }
    END {
      for (i = 1; i <= nt; i++) {
        split(order[i], k, "\t")
        printf "table\t%s\t%d\n", order[i], rows[k[1], k[2]]
      }
    }'
}

running() { [ "$(docker inspect -f '{{.State.Running}}' "$1" 2>/dev/null </dev/null)" = true ]; }

case $op in
backup)
  if ! running "$c"; then
    say "the accessory's container '$c' is not running: a $kind dump needs its server"
    exit 1
  fi
  mkdir "$stage/db" && printf '%s\n' "$kind" >"$stage/db/kind" || exit 1
  case $kind in
  redis)
    if ! inside "$c" dump </dev/null >"$stage/record" 2>"$stage/err" ||
      ! inside "$c" rdb </dev/null >"$stage/db/dump.rdb" 2>>"$stage/err"; then
      tail -n 5 "$stage/err" >&2
      say "the redis save of '$c' failed"
      exit 1
    fi
    ;;
  *)
    # the record is counted while the dump streams to disk: one read of it
    {
      inside "$c" dump </dev/null 2>"$stage/err"
      echo $? >"$stage/rc"
    } | tee "$stage/db/dump.sql" | count_dump >"$stage/record"
    if [ "$(cat "$stage/rc")" != 0 ] || [ ! -s "$stage/db/dump.sql" ]; then
      tail -n 5 "$stage/err" >&2
      say "the $kind dump of '$c' failed"
      exit 1
    fi
    ;;
  esac
  LC_ALL=C sort "$stage/record" >"$stage/db/record" || exit 1
  restic_run "type=bind,source=$stage/db,target=/data/db,readonly" "$@"
  exit
  ;;
verify | restore) ;;
*)
  say "unknown operation '$op'"
  exit 2
  ;;
esac

out=$(restic_run "type=bind,source=$stage,target=/scratch" "$@")
rc=$?
id=$(printf '%s\n' "$out" | sed -n 's/^checking //p')
if [ -n "$id" ]; then
  echo "checking $id"
fi
if [ "$rc" != 0 ]; then
  exit "$rc"
fi
if [ "$(cat "$stage/db/kind" 2>/dev/null)" != "$kind" ]; then
  say "snapshot $id does not verify: it holds no $kind dump"
  exit 4
fi

# the scratch server's data directory (the official images' path) is in the
# staging directory too, not in Docker's data root, and goes with it
mkdir "$stage/data" || exit 1
scratch=berth-verify-$c-$$
set -- --name "$scratch" --network none --log-driver none --label "berth.backup=$c" \
  --mount "type=bind,source=$stage/db,target=/berth,readonly"
case $kind in
postgres)
  set -- "$@" -e POSTGRES_HOST_AUTH_METHOD=trust \
    --mount "type=bind,source=$stage/data,target=/var/lib/postgresql/data"
  ;;
mysql)
  set -- "$@" -e MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 -e MYSQL_ALLOW_EMPTY_PASSWORD=yes \
    --mount "type=bind,source=$stage/data,target=/var/lib/mysql"
  ;;
redis)
  chmod 644 "$stage/db/dump.rdb" && ln "$stage/db/dump.rdb" "$stage/data/dump.rdb" || exit 1
  set -- "$@" --mount "type=bind,source=$stage/data,target=/data"
  ;;
esac
if ! docker run -d "$@" "$image" >/dev/null </dev/null; then
  say "cannot start a scratch container of '$image'"
  exit 1
fi

# ready CONTAINER: waits until its server answers, while it runs, up to 30
# minutes (loading a large RDB file takes a while)
ready() {
  n=0
  while ! inside "$1" ready </dev/null 2>/dev/null; do
    n=$((n + 1))
    if ! running "$1" || [ "$n" -gt 9000 ]; then
      return 1
    fi
    sleep 0.2
  done
}
if ! ready "$scratch"; then
  say "snapshot $id does not verify: the scratch $kind server stopped or did not answer"
  exit 4
fi
inside "$scratch" check </dev/null 2>/dev/null | LC_ALL=C sort >"$stage/got"
if ! cmp -s "$stage/db/record" "$stage/got"; then
  sed 's/^/expect	/' "$stage/db/record"
  sed 's/^/got	/' "$stage/got"
  say "snapshot $id does not verify: the data loaded from it differs from the record made when it was taken"
  exit 4
fi
docker rm -f "$scratch" >/dev/null 2>&1 </dev/null
scratch=
echo "verified $id"
if [ "$op" = verify ]; then
  exit 0
fi

if ! running "$c"; then
  say "the accessory's container '$c' is not running: start it to restore into it"
  exit 1
fi
case $kind in
redis)
  f=$(inside "$c" where </dev/null) || exit 1
  docker stop "$c" >/dev/null </dev/null || exit 1
  restart=1
  docker cp "$stage/db/dump.rdb" "$c:$f" >/dev/null </dev/null || exit 1
  restart=
  docker start "$c" >/dev/null </dev/null || exit 1
  if ! ready "$c"; then
    say "'$c' does not answer since its RDB file was replaced"
    exit 1
  fi
  ;;
*)
  if ! inside "$c" restore -i <"$stage/db/dump.sql"; then
    say "loading the dump into '$c' failed"
    exit 1
  fi
  ;;
esac
echo "restored $id"
