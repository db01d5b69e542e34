#!/usr/bin/env bash
# berth accessory on the lab's hosts: `db` on the host tagged db (lab-h2) and
# `cache` on the web role's hosts (lab-h1, lab-h2), both the test app (with a
# static busybox in it) pulled from the lab's registry; `berth setup` boots
# them before the app's first deploy, the app reaches them by name, a deploy
# leaves them alone, and remove asks before deleting their data.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

reg=$LAB_REGISTRY
acc=$reg/$T-acc:1
port=$((20000 + $$ % 20000))
port2=$((port + 1))
DB_PW="dbpw-$T-$RANDOM$RANDOM"

# the image of the app and of the accessories: the test app with busybox (wget, cat, stat)
accessory_image "$acc"
docker tag "$acc" "$T:v1"
docker tag "$acc" "$T:v2"
test_cleanup "docker rmi -f $T:v1 $T:v2"
test_cleanup "d=\$(curl -sfI -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' http://$reg/v2/$T-acc/manifests/1 | tr -d '\r' | awk -F': ' 'tolower(\$1) == \"docker-content-digest\" { print \$2 }'); [ -z \"\$d\" ] || curl -sf -X DELETE http://$reg/v2/$T-acc/manifests/\$d"
for _h in "$h1" "$h2"; do
	test_cleanup "on $_h 'docker rm -f $T-db $T-cache; docker rmi -f $acc; rm -rf $T-db $T-cache'"
done

write_config \
	"accessories:" \
	"  db:" \
	"    image: $acc" \
	"    tag: db" \
	"    port: \"$port:80\"" \
	"    cmd: --version db-1" \
	"    env:" \
	"      clear:" \
	"        DB_MODE: primary" \
	"      secret: [DB_PASSWORD]" \
	"    files:" \
	"      - config/db.conf:/etc/db.conf" \
	"      - local: config/init.sql.erb" \
	"        remote: /etc/init.sql" \
	"        mode: \"0640\"" \
	"    directories:" \
	"      data: /data" \
	"  cache:" \
	"    image: $acc" \
	"    role: web" \
	"    port: \"0.0.0.0:$port2:80\"" \
	"    cmd: --version cache-1" \
	"    options:" \
	"      health-cmd: /busybox wget -qO- http://127.0.0.1/up" \
	"      health-interval: 1s"
# lab-h2 carries the tag db
sed -i "s/hosts: \[$h1, $h2\]/hosts: [$h1, {$h2: db}]/" "$APP/config/deploy.yml"
printf 'DB_PASSWORD=%s\n' "$DB_PW" >>"$APP/.berth/secrets"
printf 'listen = all\n' >"$APP/config/db.conf"
printf 'mode=<%%= ENV["DB_MODE"] %%>\n' >"$APP/config/init.sql.erb"

# cid HOST NAME: the container's ID
cid() { on "$1" docker inspect -f '{{.Id}}' "$2"; }
# state HOST NAME: running, exited, ...
state() { on "$1" docker inspect -f '{{.State.Status}}' "$2"; }

test_expect_success 'setup boots the accessories first: db on the tagged host, cache on the role' '
	berth setup --version v1 -P -v >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep_q out "^$h2 db +\| $T-db booted" &&
	grep_q out "^$h1 cache +\| $T-cache booted" && grep_q out "^$h2 cache +\| $T-cache booted" &&
	test "$(state $h2 $T-db)" = running && test "$(state $h1 $T-cache)" = running &&
	test "$(state $h2 $T-cache)" = running &&
	test -z "$(on $h1 docker ps -aq --filter label=service=$T-db)" &&
	grep -q "^deployed v1 on 2 host(s)" out &&
	test "$(grep -c "port .0.0.0.0:$port2:80. is published beyond" out)" = 1
'

test_expect_success 'on the app network: the app reaches each accessory by its name' '
	on $h2 docker exec $T-web-v1 /busybox wget -qO- http://$T-db/ >got &&
	grep -q "^testapp version=db-1 " got &&
	on $h1 docker exec $T-web-v1 /busybox wget -qO- http://$T-cache/ >got &&
	grep -q "^testapp version=cache-1 " got
'

test_expect_success 'a port without an address is bound to 127.0.0.1; one with 0.0.0.0 as given' '
	on $h2 docker port $T-db >got && grep -qx "80/tcp -> 127.0.0.1:$port" got &&
	on $h2 curl -s --max-time 5 http://127.0.0.1:$port/ | grep -q "version=db-1" &&
	test_must_fail curl -s --max-time 2 http://$(addr_of $h2):$port/ &&
	on $h1 docker port $T-cache >got && grep -qx "80/tcp -> 0.0.0.0:$port2" got
'

test_expect_success 'the secret is in the container, not in any argv or output; env file 0600' '
	on $h2 docker exec $T-db /testapp --exit 0 --print-env DB_PASSWORD >got &&
	grep -qx "DB_PASSWORD=$DB_PW" got &&
	on $h2 docker exec $T-db /testapp --exit 0 --print-env DB_MODE | grep -qx DB_MODE=primary &&
	! grep "$DB_PW" out &&
	on $h2 ps -eo args >ps && test -s ps && ! grep -F -- "$DB_PW" ps &&
	test "$(on $h2 stat -c %a $RUN_DIR/apps/$T/env/accessories/db.env)" = 600
'

test_expect_success 'files are uploaded (ERB rendered) with their modes, directories made and mounted' '
	test "$(on $h2 stat -c %a $T-db/etc/db.conf)" = 600 &&
	test "$(on $h2 stat -c %a $T-db/etc/init.sql)" = 640 &&
	on $h2 docker exec $T-db /busybox cat /etc/init.sql | grep -qx mode=primary &&
	on $h2 docker exec $T-db /busybox cat /etc/db.conf | grep -qx "listen = all" &&
	on $h2 docker exec $T-db /busybox touch /data/kept &&
	on $h2 test -f $T-db/data/kept
'

test_expect_success 'boot again skips where a container exists; details and berth details show them' '
	id=$(cid $h2 $T-db) &&
	berth accessory boot db >out 2>&1 &&
	grep -q "skipping .db. on $h2: a container $T-db exists already" out &&
	test "$(cid $h2 $T-db)" = "$id" &&
	berth accessory details db >out && grep -q "$T-db" out && ! grep -q "$T-cache" out &&
	berth details >out && grep -q "$T-db" out && grep -q "$h1 cache .*$T-cache" out
'

test_expect_success 'stop, start, restart; logs with -n and --grep; the audit log has them' '
	berth accessory stop db >out && grep -q "$T-db stopped" out &&
	test "$(state $h2 $T-db)" = exited &&
	berth accessory start db && test "$(state $h2 $T-db)" = running &&
	t0=$(on $h2 docker inspect -f "{{.State.StartedAt}}" $T-db) &&
	berth accessory restart db >out && grep -q "$T-db started" out &&
	test "$(on $h2 docker inspect -f "{{.State.StartedAt}}" $T-db)" != "$t0" &&
	berth accessory logs db -n 3 >out && grep -q "listening on" out &&
	berth accessory logs db --grep shutdown >out && grep -q "shutdown" out && ! grep -q listening out &&
	berth audit -h $h2 >out && grep -q "accessory restart db" out
'

test_expect_success 'exec: in a new container with the env file, or in the running one (--reuse)' '
	berth accessory exec db -- --exit 0 --print-env DB_MODE >out &&
	grep -qx DB_MODE=primary out &&
	berth accessory exec db --reuse /busybox cat /data/kept >out 2>&1 &&
	berth accessory exec --reuse db "/busybox cat /etc/db.conf" >out &&
	grep -qx "listen = all" out &&
	echo hello | berth accessory exec -i --reuse cache /busybox cat >out &&
	grep -qx hello out
'

test_expect_success 'a held deploy lock stops a change; a deploy leaves the accessories running' '
	berth lock acquire -m "by hand" &&
	test_must_fail berth accessory stop db 2>err && grep -q "held by" err &&
	berth lock release &&
	db=$(cid $h2 $T-db) && c1=$(cid $h1 $T-cache) &&
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	test "$(cid $h2 $T-db)" = "$db" && test "$(cid $h1 $T-cache)" = "$c1" &&
	test "$(state $h2 $T-db)" = running && test "$(state $h1 $T-cache)" = running &&
	on $h2 docker exec $T-web-v2 /busybox wget -qO- http://$T-db/ | grep -q version=db-1
'

test_expect_success 'reboot and upgrade replace the container (upgrade says it restarts)' '
	c1=$(cid $h1 $T-cache) && c2=$(cid $h2 $T-cache) &&
	berth accessory reboot cache -h $h1 >out 2>&1 &&
	test "$(cid $h1 $T-cache)" != "$c1" && test "$(cid $h2 $T-cache)" = "$c2" &&
	berth accessory upgrade db >out 2>&1 && grep -q "restarts on $h2" out &&
	test "$(state $h2 $T-db)" = running && on $h2 test -f $T-db/data/kept
'

test_expect_success 'remove off a terminal without -y names the data directory and removes nothing' '
	test_must_fail berth accessory remove db >out 2>&1 </dev/null &&
	grep -q "~/$T-db/data" out && grep -q "say yes with -y" out &&
	test "$(state $h2 $T-db)" = running && on $h2 test -f $T-db/data/kept
'

test_expect_success 'remove -y takes the container, its image when unused, its directory' '
	berth accessory remove db -y >out 2>&1 || { cat out; exit 1; }
	test -z "$(on $h2 docker ps -aq --filter label=service=$T-db)" &&
	! on $h2 test -e $T-db &&
	grep -q "image $acc kept" out &&
	test "$(state $h2 $T-cache)" = running
'

test_expect_success 'berth remove names the accessories and asks, then takes them with the app' '
	test_must_fail berth remove >out 2>&1 </dev/null &&
	grep -q "accessory .cache. on $h1, $h2: .*~/$T-cache" out &&
	test "$(state $h1 $T-cache)" = running &&
	berth remove -y >out 2>&1 || { cat out; exit 1; }
	for h in $h1 $h2; do
		test -z "$(on $h docker ps -aq --filter label=service=$T-cache)" &&
		test -z "$(on $h docker ps -aq --filter label=service=$T)" &&
		test -z "$(on $h docker images -q $acc)" &&
		! on $h test -e $T-cache || exit 1
	done
'

test_done
