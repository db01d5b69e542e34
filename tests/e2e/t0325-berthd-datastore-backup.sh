#!/usr/bin/env bash
# Backups of berthd's datastores on a lab host set up by `berth server
# bootstrap --daemon` (which sends berth-backup's image too): postgres:backup
# dumps the service's database and snapshots it into a restic repository in
# berthd's state directory, then verifies it by loading it into a scratch
# server; the last verified backup is in berthd's store, in GET
# /api/v1/datastores; no password (the database's or the repository's) is
# in any argv on the host or in any output; backup-list shows the snapshot
# verified; backup-restore asks first, then brings the rows back; a damaged
# pack file makes the next backup fail and say why; redis:backup the same;
# destroy takes the backups with the service.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"
# what the tests write (out, err, ps, ...) goes to the test's own directory
cd "$TEST_TMP" || exit 1

H=$h1
DS=${T}pg
C=berthd-postgres-$DS
RS=${T}rd
RC=berthd-redis-$RS
V=$(cat "$TOP/VERSION")
pg_img=$("$TOP/tests/fixtures/images/build" postgres "$LAB_REGISTRY")
rd_img=$("$TOP/tests/fixtures/images/build" redis "$LAB_REGISTRY")

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() { ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"; }
# psql_ SQL: psql in the service's container, connecting with the URL read from stdin
psql_() {
	on $H docker exec -i $C sh -c "'read -r url && exec psql -X -q -A -t -d \"\$url\" -c \"\$0\"'" "\"$1\"" \
		<"$TEST_TMP/url"
}
# rcli ARGS: redis-cli in the redis service's container with the password of its URL
rcli() {
	on $H docker exec -i $RC sh -c "'read -r url && u=\${url#redis://:} && a=\${u#*@} &&
		REDISCLI_AUTH=\${u%@*} exec redis-cli -h \${a%:*} -p \${a##*:} \"\$@\"'" rcli "$@" \
		<"$TEST_TMP/rurl"
}
# the host's directory of berthd's state (its volume), read after the bootstrap
vol() { cat "$TEST_TMP/vol"; }
# sql QUERY: the answer of berthd's store, read-only
sql() {
	python3 -c 'import sqlite3, sys
c = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True, timeout=30)
for r in c.execute(sys.argv[2]): print("|".join(str(x) for x in r))' "$(vol)/berthd.db" "$1"
}
# scan FILE: every process's argv on the machine (the lab hosts share its process table)
# into FILE, until $TEST_TMP/scan-stop exists (bounded: 2000 rounds)
scan() {
	rm -f "$TEST_TMP/scan-stop"
	for _ in $(seq 1 2000); do
		[ -e "$TEST_TMP/scan-stop" ] && break
		ps -eo args
		sleep 0.02
	done >"$1" 2>/dev/null
}

write_config

test_cleanup "on $H 'docker exec berthd berthd postgres:destroy $DS --force; docker exec berthd berthd redis:destroy $RS --force; docker rm -f $C $RC; docker volume rm -f $C $RC; docker ps -aq --filter label=berthd.backup=1 | xargs -r docker rm -f; docker ps -aq --filter label=berth.backup=$C | xargs -r docker rm -f; docker ps -aq --filter label=berth.backup=$RC | xargs -r docker rm -f; docker exec berthd sh -c \"rm -rf /var/lib/berthd/backups/postgres-$DS* /var/lib/berthd/backups/redis-$RS* /var/lib/berthd/backups/.berth-backup.*\"; docker rmi -f $pg_img $rd_img; docker exec berthd berthd ssh-keys:remove admin-$T'"

test_expect_success 'bootstrap --daemon sends berth-backup; a Postgres service with rows' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	on $H docker image inspect --format "{{.Id}}" berth-backup:$V >/dev/null &&
	on $H docker volume inspect berthd --format "{{.Mountpoint}}" >"$TEST_TMP/vol" &&
	test -f "$(vol)/berthd.db" &&
	bd postgres:create $DS --image $pg_img >create.out 2>&1 || { cat create.out; exit 1; }
	bd postgres:info $DS --dsn >"$TEST_TMP/url" &&
	psql_ "CREATE TABLE items (n int); INSERT INTO items SELECT generate_series(1, 500)" &&
	test "$(psql_ "SELECT count(*) FROM items")" = 500
'

test_expect_success 'before any backup: backup-list says there is none; bad input is refused' '
	bd postgres:backup-list $DS >out && cat out &&
	grep -qx "There are no backups of postgres service $DS" out &&
	bd postgres:backup-list $DS --format json >out && jq -e ".snapshots == []" out &&
	test_must_fail bd postgres:backup nope$T 2>err && grep -q "Postgres service nope$T does not exist" err &&
	test_must_fail bd postgres:backup 2>err && grep -q "usage: postgres:backup NAME" err &&
	test_must_fail bd postgres:backup-restore $DS latest --force 2>err &&
	grep -q "is not a snapshot ID" err &&
	test_must_fail bd postgres:backup-restore $DS 0123abcd --force 2>err &&
	grep -q "has no backups (make one: postgres:backup $DS)" err
'

test_expect_success 'postgres:backup: a snapshot, verified by restoring it; no secret in an argv or an output' '
	scan ps &
	spid=$!
	rc=0 && bd postgres:backup $DS >out 2>&1 || rc=$?
	touch "$TEST_TMP/scan-stop" && wait $spid
	cat out && test $rc = 0 &&
	grep -q "^-----> Backing up postgres service $DS$" out &&
	grep -q "^       snapshot [0-9a-f]\{8,\} of .postgres-$DS. taken" out &&
	snap=$(sed -n "s/^-----> Backup \([0-9a-f]\{8,\}\) of $DS verified$/\1/p" out) &&
	test -n "$snap" && echo "$snap" >"$TEST_TMP/snap" &&
	test "$(sql "SELECT verified_snapshot FROM datastore_backups WHERE kind = '\''postgres'\'' AND name = '\''$DS'\''")" = "$snap" &&
	rpw=$(sql "SELECT password FROM datastore_backups WHERE name = '\''$DS'\''") &&
	test ${#rpw} = 48 &&
	pw=$(sed -n "s|^postgres://postgres:\([0-9a-f]*\)@.*|\1|p" "$TEST_TMP/url") && test -n "$pw" &&
	grep -q "berth-backup-db" ps &&
	bd events >ev &&
	for s in "$rpw" "$pw"; do
		! grep -F -- "$s" ps out ev "$(vol)/backups/postgres-$DS.json" || exit 1
	done &&
	test -d "$(vol)/backups/postgres-$DS/data" &&
	test -z "$(ls -d "$(vol)"/backups/.berth-backup.* 2>/dev/null)" &&
	test -z "$(on $H docker ps -aq --filter label=berthd.backup=1)" &&
	test -z "$(on $H docker ps -aq --filter name=berth-verify-)"
'

test_expect_success 'backup-list shows the snapshot verified, as text and as JSON' '
	snap=$(cat "$TEST_TMP/snap") &&
	bd postgres:backup-list $DS >out && cat out &&
	grep -q "^=====> $DS backups$" out &&
	grep -q "^$snap .* yes$" out &&
	bd postgres:backup-list $DS --format json >out && cat out &&
	jq -e --arg s "$snap" ".snapshots | length == 1 and .[0].id == \$s and .[0].verified == true and .[0].size > 0" out
'

test_expect_success 'GET /api/v1/datastores shows the last verified backup, never a password' '
	snap=$(cat "$TEST_TMP/snap") &&
	mkdir -p "$TEST_TMP/state" &&
	python3 -c "import sqlite3, sys
src = sqlite3.connect(\"file:\" + sys.argv[1] + \"?mode=ro\", uri=True, timeout=30)
dst = sqlite3.connect(sys.argv[2])
src.backup(dst)
for t in (\"users\", \"sessions\", \"api_tokens\", \"user_apps\", \"setup_tokens\"):
    dst.execute(\"DELETE FROM \" + t)
dst.commit()" "$(vol)/berthd.db" "$TEST_TMP/state/berthd.db" &&
	port=$(python3 -c "import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])") &&
	export BERTHD_STATE_DIR=$TEST_TMP/state &&
	unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND BERTHD_PANEL_ROUTE &&
	{ "$TOP/bin/berthd" serve --http 127.0.0.1:$port >serve.log 2>&1 & } &&
	spid=$! && test_cleanup "kill $spid" &&
	for i in $(seq 100); do
		curl -s -o /dev/null --max-time 2 http://127.0.0.1:$port/up && break
		sleep 0.1
	done &&
	"$TOP/bin/berthd" domains:set-global $T.test >/dev/null &&
	url=$("$TOP/bin/berthd" panel:setup-link | tail -n 1) && tok=${url#*token=} &&
	curl -s -o /dev/null -w "%{http_code}" -H "Content-Type: application/json" \
		--data-binary "{\"token\":\"$tok\",\"name\":\"admin\",\"password\":\"correct horse $T\"}" \
		http://127.0.0.1:$port/setup >code && test "$(cat code)" = 201 &&
	curl -s -c jar -o /dev/null -w "%{http_code}" -H "Content-Type: application/json" \
		--data-binary "{\"name\":\"admin\",\"password\":\"correct horse $T\"}" \
		http://127.0.0.1:$port/api/v1/login >code && test "$(cat code)" = 200 &&
	curl -s -b jar -o ds.json -w "%{http_code}" http://127.0.0.1:$port/api/v1/datastores >code &&
	{ kill $spid; wait $spid 2>/dev/null || true; }
	cat ds.json && test "$(cat code)" = 200 &&
	jq -e --arg n $DS --arg s "$snap" ".datastores[] | select(.kind == \"postgres\" and .name == \$n) |
		.last_backup.snapshot == \$s and .last_backup.verified == true and
		(.last_backup.time | test(\"^[0-9-]{10}T[0-9:]{8}Z$\")) and .image != null" ds.json &&
	rpw=$(sql "SELECT password FROM datastore_backups WHERE name = '\''$DS'\''") &&
	! grep -F -- "$rpw" ds.json &&
	pw=$(sed -n "s|^postgres://postgres:\([0-9a-f]*\)@.*|\1|p" "$TEST_TMP/url") &&
	! grep -F -- "$pw" ds.json
'

test_expect_success 'backup-restore says what it replaces, asks, then brings the rows back' '
	snap=$(cat "$TEST_TMP/snap") &&
	psql_ "DELETE FROM items" && test "$(psql_ "SELECT count(*) FROM items")" = 0 &&
	test_must_fail bd postgres:backup-restore $DS $snap </dev/null >out 2>err &&
	cat err && grep -q "WARNING: Potentially Destructive Action" err &&
	grep -q "restores snapshot $snap into postgres service $DS" err &&
	grep -q "Confirmation did not match $DS. Aborted." err &&
	test "$(psql_ "SELECT count(*) FROM items")" = 0 &&
	bd postgres:backup-restore $DS $snap --force >out 2>&1 || { cat out; exit 1; }
	cat out && grep -q "^-----> $DS restored from snapshot $snap$" out &&
	test "$(psql_ "SELECT count(*) FROM items")" = 500
'

test_expect_success 'damaged pack files: verify and the next backup fail, saying the repository is damaged' '
	snap=$(cat "$TEST_TMP/snap") &&
	bd postgres:backup-verify $DS $snap >out 2>&1 || { cat out; exit 1; }
	grep -q "^-----> $snap verified$" out &&
	for f in "$(vol)"/backups/postgres-$DS/data/*/*; do
		size=$(stat -c %s "$f") &&
		printf "damaged by the test" | dd of="$f" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null || exit 1
	done &&
	rc=0 && bd postgres:backup-verify $DS $snap >out 2>err || rc=$?
	cat out err && test $rc = 1 &&
	grep -q "^ !     verify postgres-$DS: " err &&
	rc=0 && bd postgres:backup $DS >out 2>err || rc=$?
	cat out err && test $rc = 1 &&
	grep -q "^ !     backup postgres-$DS: " err &&
	grep -q "^       checking the repository: restoring the last verified backup, $snap$" out &&
	grep -q "^ !     the repository of postgres service $DS is damaged: snapshot $snap does not verify: restic could not restore it (the repository is damaged) (to start a new one, move .$(vol)/backups/postgres-$DS. away on the host)$" err &&
	! grep -q "^-----> Backup .* verified" out &&
	test "$(sql "SELECT verified_snapshot FROM datastore_backups WHERE name = '\''$DS'\''")" = "$snap" &&
	test -z "$(ls -d "$(vol)"/backups/.berth-backup.* 2>/dev/null)" &&
	test -z "$(on $H docker ps -aq --filter name=berth-verify-)"
'

test_expect_success 'redis:backup: a snapshot of the keys, verified; listed' '
	bd redis:create $RS --image $rd_img >create.out 2>&1 || { cat create.out; exit 1; }
	bd redis:info $RS --dsn >"$TEST_TMP/rurl" &&
	for i in $(seq 1 50); do rcli SET k$i v$i >/dev/null || exit 1; done &&
	bd redis:backup $RS >out 2>&1 || { cat out; exit 1; }
	cat out &&
	rsnap=$(sed -n "s/^-----> Backup \([0-9a-f]\{8,\}\) of $RS verified$/\1/p" out) &&
	test -n "$rsnap" &&
	bd redis:backup-list $RS >out && cat out && grep -q "^$rsnap .* yes$" out &&
	rpw=$(sed -n "s|^redis://:\([0-9a-f]*\)@.*|\1|p" "$TEST_TMP/rurl") && test -n "$rpw" &&
	! grep -F -- "$rpw" out
'

test_expect_success 'destroy takes the services and their backups' '
	bd postgres:destroy $DS --force >out 2>&1 || { cat out; exit 1; }
	bd redis:destroy $RS --force >out2 2>&1 || { cat out2; exit 1; }
	cat out out2 && grep -q "removed its backups" out &&
	test ! -e "$(vol)/backups/postgres-$DS" && test ! -e "$(vol)/backups/postgres-$DS.json" &&
	test ! -e "$(vol)/backups/redis-$RS" &&
	test -z "$(sql "SELECT name FROM datastore_backups WHERE name IN ('\''$DS'\'', '\''$RS'\'')")" &&
	test -z "$(on $H docker ps -aq --filter name=^$C\$)"
'

test_done
