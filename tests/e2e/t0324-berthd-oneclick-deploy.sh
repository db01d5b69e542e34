#!/usr/bin/env bash
# oneclick:deploy against berthd on a lab host set up by `berth server
# bootstrap --daemon`: the shipped app-postgres template (a web app and its
# PostgreSQL, the fixture image under the template's name postgres:16) is
# deployed over SSH; the web app answers through berth-proxy and reaches the
# database as srv-captain--APP-db (and APP-db) on the install's network; the
# database's generated password is in no process's argv on the host while it
# deploys, and in no output, event or log; a bad value is refused naming the
# variable and creates nothing; an install over an existing app is refused;
# a service that fails stops the deploy with the engine's error, the one
# before it (built from dockerfile lines) left deployed;
# then redis.yml is deployed through POST /api/v1/oneclick (berthd's own port,
# a session of the panel's first admin) and its job polled to success, the
# worker answering PING with its password. Everything made is removed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h2
ADDR=$(addr_of $H)
ROOT=$T.test
R=${T}r
F=${T}f
PW="correct horse $T battery"
pg_img=$("$TOP/tests/fixtures/images/build" postgres "$LAB_REGISTRY")
rd_img=$("$TOP/tests/fixtures/images/build" redis "$LAB_REGISTRY")

write_config
ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() { ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"; }
served() { curl -s --max-time 5 -H "Host: $T.$ROOT" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
# onq HOST ARGS...: a command on a lab host, each argument quoted for the host's shell
onq() {
	local h=$1
	shift
	on "$h" "$(printf '%q ' "$@")"
}
# cid APP ROLE: a running container of the app's process type
cid() { on $H docker ps -q --filter label=service=$1 --filter label=role=$2 | head -n1; }
# api METHOD PATH [curl args...]: HTTP to berthd's own port, from the host; the body in
# api.out, the status printed. Arguments go through the host's shell quoted.
api() {
	local m=$1 p=$2
	shift 2
	onq $H curl -s --max-time 10 -o "$TEST_TMP/api.out" -w '%{http_code}' -X "$m" \
		-H "Origin: https://berth.$ROOT" "$@" "http://$(cat "$TEST_TMP/bip"):3000$p"
}
# session: the admin's session cookie (from the login's Set-Cookie: it is Secure, which curl
# keeps for https alone) and CSRF token, as curl arguments in session.args
session() {
	local c
	c=$(sed -n 's/^[Ss]et-[Cc]ookie: berth_session=\([^;]*\);.*/\1/p' "$TEST_TMP/login.h") &&
	test -n "$c" &&
	test "$(api GET /api/v1/me -H "Cookie: berth_session=$c")" = 200 &&
	printf '%s\n' -H "Cookie: berth_session=$c" \
		-H "X-CSRF-Token: $(jq -r .csrf_token "$TEST_TMP/api.out")" >"$TEST_TMP/session.args"
}

# berthd's state goes with the test (its global domain, the panel's admin); apps, volumes,
# networks and images before it, while berthd still runs.
gone="docker exec berthd berthd ssh-keys:remove admin-$T; docker exec berth-proxy berth-proxy remove berthd; docker rm -f berthd; docker volume rm berthd"
test_cleanup "on $H '$gone'"
test_cleanup "on $H 'docker rmi $T-web:v1 postgres:16 redis:$T $pg_img $rd_img'"
# networks and volumes once the apps' containers are gone (cleanups run last first)
test_cleanup "on $H 'docker network rm oneclick-$T oneclick-$R oneclick-${T}b oneclick-$F; docker volume rm ${T}_$T-db-data ${R}_$R-data'"
for a in $T-db $T $R $F-ok $F; do
	# -v: the anonymous volume of the web image's base (VOLUME of the postgres fixture)
	test_cleanup "on $H 'docker rm -fv \$(docker ps -aq --filter label=service=$a); docker exec berthd berthd apps:destroy $a --force; docker rmi -f \$(docker images -q berthd/$a); docker exec berth-proxy berth-proxy remove $a-web'"
done

# The web app: the test app in the fixture's image (its psql, sh and layers: nothing more on
# the host's small disk), listening on the template's default port 3000 (PORT).
mkdir -p "$TEST_TMP/web"
cp "$TOP/build/testapp" "$TEST_TMP/web/testapp"
printf '%s\n' "FROM $pg_img" "COPY testapp /testapp" "ENV APP_VERSION=oc1" 'ENTRYPOINT ["/testapp"]' \
	>"$TEST_TMP/web/Dockerfile"
# q.sh HOST: in the web container, psql to HOST as the URL's user with its password (read from
# the environment, never an argument)
cat >"$TEST_TMP/q.sh" <<'SH'
p=${DATABASE_URL#*://app:}
PGPASSWORD=${p%%@*} exec psql -X -q -A -t -h "$1" -U app -d app -c "select 6 * 7"
SH

test_expect_success 'bootstrap --daemon; the images under the templates'"'"' names' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	on $H "docker pull -q $pg_img && docker tag $pg_img postgres:16 &&
		docker pull -q $rd_img && docker tag $rd_img redis:$T &&
		docker build -q -t $T-web:v1 $TEST_TMP/web" >/dev/null &&
	bd domains:set-global $ROOT >/dev/null &&
	bd help >help && grep_q help "^    oneclick:deploy "
'

test_expect_success 'a value failing its validRegex is refused, naming it; nothing is made' '
	test_must_fail bd oneclick:deploy app-postgres appname=${T}b app_image=Bad.Image \
		>bad.out 2>bad.err &&
	grep_q bad.err "app_image \\(App image\\): .Bad.Image. does not match" &&
	test_must_fail bd oneclick:deploy app-postgres appname=${T}b app_image=$T-web:v1 \
		db_password=short 2>bad.err &&
	grep_q bad.err "db_password \\(Database password\\): the value given does not match" &&
	test_must_fail bd oneclick:deploy app-postgres appname=${T}b 2>bad.err &&
	grep_q bad.err "app_image" &&
	bd apps:list >apps && ! grep -q "^${T}b" apps &&
	test_must_fail on $H docker network inspect oneclick-${T}b >/dev/null 2>&1
'

test_expect_success 'app-postgres over SSH: the database first, then the web app behind berth-proxy' '
	{ bd oneclick:deploy app-postgres appname=$T app_image=$T-web:v1 >deploy.out 2>&1; echo $? >deploy.rc; } &
	dpid=$!
	# the host'"'"'s processes while it deploys (bounded: it ends with the deploy)
	for i in $(seq 400); do
		kill -0 $dpid 2>/dev/null || break
		on $H ps -eo args >>ps.out 2>/dev/null || true
	done
	wait $dpid
	cat deploy.out &&
	test "$(cat deploy.rc)" = 0 &&
	grep_q deploy.out "^-----> Deploying App with PostgreSQL: 2 apps" &&
	grep_q deploy.out "^-----> Creating $T-db\\.\\.\\." &&
	grep_q deploy.out "POSTGRES_PASSWORD \\(secret\\)" &&
	grep_q deploy.out "^-----> Mounting volume ${T}_$T-db-data:/var/lib/postgresql/data" &&
	grep_q deploy.out "^-----> $T-db is not exposed as a web app" &&
	grep_q deploy.out "^-----> Setting port mappings for $T: http:80:3000" &&
	grep_q deploy.out "^-----> Application deployed: $T " &&
	grep_q deploy.out "^       $T is starting at http://$T.$ROOT/, its" &&
	test "$(sed -n "/^-----> Creating $T-db/=" deploy.out)" -lt "$(sed -n "/^-----> Creating $T\\.\\.\\./=" deploy.out)" &&
	test "$(served)" = oc1 &&
	on $H docker exec berth-proxy berth-proxy list >routes &&
	grep -q "$T-web" routes && ! grep -q "$T-db-web" routes &&
	test -n "$(cid $T-db worker)" &&
	on $H docker volume inspect ${T}_$T-db-data >/dev/null
'

test_expect_success 'the web app reaches its database as srv-captain--NAME and as NAME' '
	web=$(cid $T web) && test -n "$web" &&
	for i in $(seq 30); do
		on $H docker exec -i $web sh -s srv-captain--$T-db <q.sh >q.out 2>&1 && break
		sleep 1
	done
	cat q.out && test "$(cat q.out)" = 42 &&
	on $H docker exec -i $web sh -s $T-db <q.sh >q2.out 2>&1 &&
	test "$(cat q2.out)" = 42 &&
	onq $H docker inspect --format "{{json .NetworkSettings.Networks}}" $web >nets &&
	jq -e ".\"oneclick-$T\".Aliases | index(\"srv-captain--$T\") and index(\"$T\") and index(\"$T.web\")" nets &&
	onq $H docker inspect --format "{{json .NetworkSettings.Networks}}" $(cid $T-db worker) >dbnets &&
	jq -e ".berth.Aliases | index(\"srv-captain--$T-db\") and index(\"$T-db\")" dbnets
'

test_expect_success 'the generated password is in no argv on the host, no output, event or log' '
	bd config:get $T-db POSTGRES_PASSWORD >pw && pw=$(cat pw) &&
	test ${#pw} = 32 &&
	test -s ps.out && grep -q "oneclick\\|berthd" ps.out &&
	! grep -qF "$pw" ps.out &&
	! grep -qF "$pw" deploy.out &&
	bd events >events && ! grep -qF "$pw" events &&
	grep_q events "$T-db apps:create oneclick" && grep_q events " $T apps:create oneclick" &&
	grep_q events "$T-db config:set POSTGRES_USER,POSTGRES_PASSWORD,POSTGRES_DB" &&
	on $H docker logs berthd >berthd.log 2>&1 && ! grep -qF "$pw" berthd.log
'

test_expect_success 'an install over an existing app is refused, naming it; nothing changes' '
	test_must_fail bd oneclick:deploy app-postgres appname=$T app_image=$T-web:v1 >dup.out 2>dup.err &&
	grep_q dup.err "app $T-db exists already" &&
	! grep -q "Creating" dup.out &&
	test "$(served)" = oc1
'

# A template of two services: a worker built from dockerfile lines that stays up, then one whose
# command exits at once.
cat >"$TEST_TMP/fail.yml" <<YML
captainVersion: 4
services:
  \$\$cap_appname-ok:
    caproverExtra:
      notExposeAsWebApp: 'true'
      dockerfileLines:
        - FROM $T-web:v1
        - ENV APP_VERSION=built-from-lines
  \$\$cap_appname:
    image: $T-web:v1
    command: --no-such-flag
    depends_on: [\$\$cap_appname-ok]
    caproverExtra:
      notExposeAsWebApp: 'true'
YML

test_expect_success 'a failed service stops the deploy, with the engine'"'"'s error; the ones before stay' '
	test_must_fail bd oneclick:deploy - appname=$F <"$TEST_TMP/fail.yml" >fail.out 2>&1 &&
	cat fail.out &&
	grep_q fail.out "^-----> Building $F-ok from the template'"'"'s dockerfile lines" &&
	grep_q fail.out "^-----> Application deployed: $F-ok " &&
	grep_q fail.out "no-such-flag" &&
	grep_q fail.out "^ !     service $F failed: " &&
	grep_q fail.out "^ !     the apps deployed before it are left as they are: $F-ok " &&
	w=$(cid $F-ok worker) && test -n "$w" &&
	onq $H docker exec $w /testapp --exit 0 --print-env APP_VERSION >v && grep -qx APP_VERSION=built-from-lines v &&
	bd apps:list >apps && grep -qx "$F" apps
'

test_expect_success 'the panel'"'"'s first admin logs in on berthd'"'"'s own port' '
	onq $H docker inspect --format "{{.NetworkSettings.Networks.berth.IPAddress}}" berthd >"$TEST_TMP/bip" &&
	test -s "$TEST_TMP/bip" &&
	on $H docker exec berthd berthd panel:setup-link >link &&
	tok=$(sed -n "s/.*token=\([0-9a-f]*\).*/\1/p" link) && test -n "$tok" &&
	test "$(api POST /setup --data-urlencode "token=$tok" --data-urlencode name=admin \
		--data-urlencode "password=$PW")" = 303 &&
	printf "{\"name\":\"admin\",\"password\":\"%s\"}" "$PW" >"$TEST_TMP/login.json" &&
	test "$(api POST /api/v1/login -D "$TEST_TMP/login.h" -H "Content-Type: application/json" \
		--data-binary "@$TEST_TMP/login.json")" = 200 &&
	session
'

test_expect_success 'POST /api/v1/oneclick checks first: a bad value, an unknown template, 400' '
	mapfile -t s <"$TEST_TMP/session.args" &&
	printf "{\"template\":\"redis\",\"values\":{\"\$\$cap_appname\":\"$R\",\"redis_version\":\"a/b\"}}" >"$TEST_TMP/bad.json" &&
	test "$(api POST /api/v1/oneclick "${s[@]}" -H "Content-Type: application/json" \
		--data-binary "@$TEST_TMP/bad.json")" = 400 &&
	jq -e ".error | test(\"redis_version\")" "$TEST_TMP/api.out" &&
	printf "{\"template\":\"nope\",\"values\":{\"appname\":\"$R\"}}" >"$TEST_TMP/bad2.json" &&
	test "$(api POST /api/v1/oneclick "${s[@]}" -H "Content-Type: application/json" \
		--data-binary "@$TEST_TMP/bad2.json")" = 400 &&
	jq -e ".error | test(\"template\")" "$TEST_TMP/api.out" &&
	printf "{\"template\":\"app-postgres\",\"values\":{\"appname\":\"$T\",\"app_image\":\"x\"}}" >"$TEST_TMP/bad3.json" &&
	test "$(api POST /api/v1/oneclick "${s[@]}" -H "Content-Type: application/json" \
		--data-binary "@$TEST_TMP/bad3.json")" = 400 &&
	jq -e ".error | test(\"$T-db exists already\")" "$TEST_TMP/api.out" &&
	bd apps:list >apps && ! grep -qx "$R" apps
'

test_expect_success 'redis.yml through POST /api/v1/oneclick: one job, polled to success' '
	mapfile -t s <"$TEST_TMP/session.args" &&
	printf "{\"template\":\"redis\",\"values\":{\"\$\$cap_appname\":\"$R\",\"redis_version\":\"$T\"}}" >"$TEST_TMP/redis.json" &&
	test "$(api POST /api/v1/oneclick "${s[@]}" -H "Content-Type: application/json" \
		--data-binary "@$TEST_TMP/redis.json")" = 202 &&
	cat "$TEST_TMP/api.out" &&
	jq -e ".apps == [\"$R\"]" "$TEST_TMP/api.out" &&
	id=$(jq -r .job "$TEST_TMP/api.out") && test ${#id} = 32 &&
	state=running &&
	for i in $(seq 180); do
		test "$(api GET /api/v1/jobs/$id "${s[@]}")" = 200 &&
		state=$(jq -r .state "$TEST_TMP/api.out") &&
		test "$state" != running && break
		sleep 1
	done
	jq -r ".lines[]" "$TEST_TMP/api.out" >job.lines && cat job.lines &&
	test "$state" = succeeded &&
	jq -e ".app == \"$R\" and .action == \"oneclick\"" "$TEST_TMP/api.out" &&
	grep_q job.lines "^-----> Application deployed: $R " &&
	grep_q job.lines "Connect with" &&
	bd config:get $R REDIS_PASSWORD >rpw && rpw=$(cat rpw) && test ${#rpw} = 32 &&
	! grep -qF "$rpw" job.lines &&
	grep_q job.lines "redis://:\\*\\*\\*@$R:6379" &&
	w=$(cid $R worker) && test -n "$w" &&
	for i in $(seq 30); do
		onq $H docker exec $w sh -c "REDISCLI_AUTH=\$REDIS_PASSWORD exec redis-cli ping" >ping 2>&1 &&
			grep -q PONG ping && break
		sleep 1
	done
	grep -q PONG ping &&
	on $H docker exec berth-proxy berth-proxy list >routes && ! grep -q "$R-web" routes
'

test_done
