#!/usr/bin/env bash
# berth backup of databases on the lab: a PostgreSQL, a MariaDB and a Redis
# accessory, one per lab host (their disks are small; images built from
# Debian's packages that start as the official images do) are dumped with their own tools, verified by loading
# each dump into a scratch container, restored after their data was
# destroyed (Redis's repository on another host, over SSH); a damaged repository and a snapshot whose data differs from its
# record fail verify, and restore refuses them; no password (the backups'
# or the databases') is in an argv on the host or in any output.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

pg_img=$("$TOP/tests/fixtures/images/build" postgres "$LAB_REGISTRY")
my_img=$("$TOP/tests/fixtures/images/build" mariadb "$LAB_REGISTRY")
rd_img=$("$TOP/tests/fixtures/images/build" redis "$LAB_REGISTRY")
REPO=/var/tmp/berth-bkdb-$T
BK_PW="bkpw-$T-$RANDOM$RANDOM$RANDOM"
PG_PW="pgpw-$T-$RANDOM$RANDOM"
MY_PW="mypw-$T-$RANDOM$RANDOM"
RD_PW="rdpw-$T-$RANDOM$RANDOM"
declare -A on_host=([pg]=$h1 [my]=$h2 [rd]=$h3)
for n in pg my rd; do
	test_cleanup "on ${on_host[$n]} 'docker rm -f $T-$n; docker ps -aq --filter label=berth.backup=$T-$n | xargs -r docker rm -f; docker rmi -f $pg_img $my_img $rd_img; rm -rf $T-$n $REPO-$n .berth-backup.*'"
done

# Redis's repository is on lab-h1, reached over SSH with a key authorized there for lab-h3
ssh-keygen -q -t ed25519 -N '' -C "berth-bkdb-$T" -f "$TEST_TMP/bk_key"
printf 'from="%s" %s\n' "$LAB_H3_ADDR" "$(cat "$TEST_TMP/bk_key.pub")" >>"$LAB_DIR/authorized_keys"
test_cleanup "sed -i '/ berth-bkdb-$T\$/d' $LAB_DIR/authorized_keys"
test_cleanup "rm -rf $REPO-rd"

# acc NAME IMAGE DATA-DIR KIND SECRET [CLEAR...]: an accessory with its data in a directory
acc() {
	local name=$1 image=$2 dir=$3 kind=$4 secret=$5 kv
	shift 5
	printf '%s\n' "  $name:" "    image: $image" "    host: ${on_host[$name]}" "    env:" "      secret: [$secret]"
	if (($#)); then
		echo "      clear:"
		for kv in "$@"; do echo "        ${kv%%=*}: ${kv#*=}"; done
	fi
	printf '%s\n' "    directories:" "      - data:$dir" "    x-backup:" "      kind: $kind" \
		"      keep: {daily: 1}" "      password: BACKUP_PASSWORD"
	if [[ $name == rd ]]; then
		printf '%s\n' "      to: ssh://root@$LAB_H1_ADDR$REPO-rd" "      ssh_key: BACKUP_SSH_KEY"
	else
		echo "      to: $REPO-$name"
	fi
}
write_config "accessories:" \
	"$(acc pg "$pg_img" /var/lib/postgresql/data postgres POSTGRES_PASSWORD POSTGRES_USER=app POSTGRES_DB=app)" \
	"$(acc my "$my_img" /var/lib/mysql mysql MARIADB_ROOT_PASSWORD MARIADB_DATABASE=shop)" \
	"$(acc rd "$rd_img" /data redis REDIS_PASSWORD)"
printf 'BACKUP_SSH_KEY=$(cat %s)\n' "$TEST_TMP/bk_key" >>"$APP/.berth/secrets"
printf '%s\n' "BACKUP_PASSWORD=$BK_PW" "POSTGRES_PASSWORD=$PG_PW" "MARIADB_ROOT_PASSWORD=$MY_PW" \
	"REDIS_PASSWORD=$RD_PW" >>"$APP/.berth/secrets"

# the clients inside the accessories, their passwords from the containers' own environment
psql_() { on $h1 docker exec -i $T-pg psql -X -q -A -t -U app -d "$1"; }
mysql_() { on $h2 docker exec -i $T-my sh -c "'MYSQL_PWD=\$MARIADB_ROOT_PASSWORD exec mariadb -uroot -N -B'"; }
redis_() { on $h3 docker exec -i $T-rd sh -c "'REDISCLI_AUTH=\$REDIS_PASSWORD exec redis-cli'"; }
# ready NAME: waits until the accessory's server answers (its entrypoint's first start done)
ready() {
	local i q
	case $1 in
	pg) q='case $(cat /proc/1/comm) in postgres*) psql -U app -d app -c "select 1";; *) exit 1;; esac' ;;
	my) q='case $(cat /proc/1/comm) in mariadbd*) MYSQL_PWD=$MARIADB_ROOT_PASSWORD mariadb -uroot -e "select 1";; *) exit 1;; esac' ;;
	rd) q='test "$(REDISCLI_AUTH=$REDIS_PASSWORD redis-cli ping)" = PONG' ;;
	esac
	for i in $(seq 1 300); do
		on ${on_host[$1]} docker exec $T-$1 sh -c "'$q'" >/dev/null 2>&1 && return 0
		sleep 0.2
	done
	echo "$1 is not ready"
	return 1
}
# data NAME: what the accessory holds, in a form to compare
data() {
	case $1 in
	pg)
		echo "select datname from pg_database order by 1;
			select count(*), sum(n), md5(string_agg(v, ',' order by n)) from items;
			select rolname from pg_roles where rolname = 'reader';" | psql_ app
		echo "select * from notes order by 1;" | psql_ other
		;;
	my)
		echo "show databases; select count(*), sum(id), md5(group_concat(v order by id)) from shop.items;
			select * from shop.empty; select count(*) from audit.log;" | mysql_
		;;
	rd)
		printf '%s\n' "dbsize" "get greeting" "hgetall h" "lrange l 0 -1" "zrange z 0 -1 withscores" \
			"get k777" "select 3" "dbsize" | redis_
		;;
	esac
}

test_expect_success 'the three databases boot and get data' '
	"$TOP/scripts/make-backup-image" "$(cat "$TOP/VERSION")" >/dev/null &&
	berth accessory boot all >out 2>&1 || { cat out; exit 1; }
	ready pg && ready my && ready rd &&
	psql_ app <<-EOF
	create table items(n int primary key, v text);
	insert into items select g, md5(g::text) from generate_series(1, 5000) g;
	create table "Odd Name"(a int); create role reader; create database other;
	EOF
	echo "create table notes(t text); insert into notes values (E'\''tab\there'\''), ('\''line'\'');" | psql_ other &&
	mysql_ <<-EOF
	use shop;
	create table shop.items(id int primary key, v text);
	insert into shop.items values (1, "it'\''s, (a),(b)"), (2, NULL), (3, "x\ny");
	insert into shop.items select seq + 3, md5(seq) from seq_1_to_3000;
	create table shop.empty(a int); create database audit;
	create table audit.log(a int); insert into audit.log values (1), (2);
	EOF
	{
		echo "set greeting hello"; echo "hset h a 1 b 2"; echo "rpush l x y z"
		echo "zadd z 1 one 2 two"; echo "set temp gone ex 100000"
		for i in $(seq 1 2000); do echo "set k$i v$i"; done
		echo "select 3"; echo "set other 1"
	} | redis_ >/dev/null &&
	for n in pg my rd; do data $n >before-$n; cat before-$n; done &&
	grep -q "^5000|" before-pg && grep -q "^3003	" before-my && test "$(head -n 1 before-rd)" = 2005
'

test_expect_success 'backup now: dumps taken and verified; no secret in an argv or an output' '
	# the lab hosts share one process table: ps on one sees them all
	( for _ in $(seq 1 400); do on $h1 ps -eo args; sleep 0.05; done ) >ps 2>/dev/null &
	scan=$!
	pids=
	for n in pg my rd; do
		berth backup now $n -v >out-$n 2>&1 &
		pids="$pids $!"
	done
	rc=0
	for p in $pids; do wait $p || rc=1; done
	kill $scan 2>/dev/null || true
	wait $scan 2>/dev/null || true
	for n in pg my rd; do
		cat out-$n
		test $rc = 0 && grep -q "snapshot [0-9a-f]* of .$n. taken" out-$n && grep -q "of .$n. verified" out-$n || exit 1
		on ${on_host[$n]} cat $RUN_DIR/apps/$T/backups/$n.json >state-$n &&
			grep -q "\"verified\":true" state-$n || exit 1
		test -z "$(on ${on_host[$n]} "ls -d .berth-backup.* 2>/dev/null")" || exit 1
		test -z "$(on ${on_host[$n]} docker ps -aq --filter name=berth-verify-)" || exit 1
	done &&
	grep -q "berth-backup-db" ps &&
	for pw in "$BK_PW" "$PG_PW" "$MY_PW" "$RD_PW" "$(sed -n 2p "$TEST_TMP/bk_key")"; do
		! grep -F -- "$pw" ps out-* state-* || exit 1
	done
'

test_expect_success 'the snapshots hold the dumps and their records' '
	berth backup list pg >out 2>&1 && cat out && test "$(grep -c "yes$" out)" = 1 &&
	RESTIC_PASSWORD=$BK_PW restic -r $REPO-pg --no-cache ls latest >ls &&
	grep -q "^/db/dump.sql$" ls && grep -q "^/db/record$" ls &&
	RESTIC_PASSWORD=$BK_PW restic -r $REPO-pg --no-cache dump latest /db/record >record &&
	grep -qP "^table\tapp\tpublic.items\t5000$" record &&
	grep -qP "^table\tapp\tpublic.\"Odd Name\"\t0$" record &&
	RESTIC_PASSWORD=$BK_PW restic -r $REPO-rd --no-cache dump latest /db/record >record &&
	grep -qP "^keys\tdb0\t2004$" record && grep -qP "^keys\tdb3\t1$" record &&
	test "$(grep -c "^value" record)" -ge 20
'

test_expect_success 'the data destroyed (containers and directories gone), booted empty again' '
	for n in pg my rd; do on ${on_host[$n]} "docker rm -f $T-$n >/dev/null && rm -rf $T-$n/data"; done &&
	berth accessory boot all >out 2>&1 || { cat out; exit 1; }
	ready pg && ready my && ready rd &&
	test -z "$(echo "select to_regclass('\''items'\'')" | psql_ app)" &&
	test "$(echo dbsize | redis_)" = 0
'

test_expect_success 'restore says what it replaces and refuses without -y off a terminal' '
	test_must_fail berth backup restore pg </dev/null >out 2>&1 && cat out &&
	grep -q "every database but postgres" out && grep -q "nothing restored" out
'

test_expect_success 'restore -y: each database back as it was, running' '
	for n in pg my rd; do
		berth backup restore -y $n >out 2>&1 || { cat out; exit 1; }
		cat out && grep -q "restored" out || exit 1
	done
	ready pg && ready my && ready rd &&
	for n in pg my rd; do data $n >after-$n; diff before-$n after-$n || exit 1; done &&
	berth audit -h $h1 >out && grep -q "backup restore pg" out &&
	for n in pg my rd; do
		test -z "$(on ${on_host[$n]} "ls -d .berth-backup.* 2>/dev/null")" || exit 1
		test -z "$(on ${on_host[$n]} docker ps -aq --filter name=berth-verify-)" || exit 1
	done
'

test_expect_success 'a snapshot whose data differs from its record fails verify, with the table' '
	RESTIC_PASSWORD=$BK_PW restic -r $REPO-pg --no-cache restore latest --target tampered >/dev/null &&
	sed -i "s/\tpublic.items\t5000$/\tpublic.items\t4999/" tampered/db/record &&
	(cd tampered && find . -type f ! -name .berth-manifest.sha256 -print0 | xargs -0 sha256sum |
		sort -k 2 >.berth-manifest.sha256) &&
	(cd tampered && RESTIC_PASSWORD=$BK_PW restic -r $REPO-pg --no-cache backup --tag berth . >/dev/null) &&
	test_must_fail berth backup verify pg >out 2>&1 && cat out &&
	grep -q "table app.public.items has 5000 rows after loading the dump, 4999 when dumped" out &&
	berth backup list pg >out 2>&1 && cat out && grep -q " no: .*4999 when dumped" out &&
	test -z "$(on $h1 docker ps -aq --filter name=berth-verify-)"
'

test_expect_success 'a damaged pack fails verify; restore refuses it and changes nothing' '
	on $h2 "for f in \$(find $REPO-my/data -type f); do printf XXXXXXXXXXXXXXXX | dd of=\$f bs=1 seek=100 conv=notrunc 2>/dev/null; done" &&
	test_must_fail berth backup verify my >out 2>&1 && cat out && grep -q "does not verify" out &&
	echo "insert into audit.log values (3)" | mysql_ &&
	test_must_fail berth backup restore -y my >out 2>&1 && cat out && grep -q "does not verify" out &&
	echo "select count(*) from audit.log" | mysql_ >count && cat count && test "$(cat count)" = 3 &&
	on $h2 "ls -d .berth-backup.* 2>/dev/null || true" >left && cat left && test ! -s left
'

test_done
