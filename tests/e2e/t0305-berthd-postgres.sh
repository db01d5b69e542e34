#!/usr/bin/env bash
# Dokku's postgres:* against berthd on a lab host set up by `berth server
# bootstrap --daemon`: a Postgres service (the fixture image built from
# Debian's packages) runs on the network `berth` with its data in a volume
# and its password in no argv; a read key cannot make or link one; linking
# sets the app's DATABASE_URL and redeploys it with no failed request; the
# app's container gets the URL and psql connects with it; a row survives an
# export and import; destroy is refused while linked; unlink and destroy
# leave nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h1
ADDR=$(addr_of $H)
REPO=$TEST_TMP/repo
DS=${T}db
C=berthd-postgres-$DS
pg_img=$("$TOP/tests/fixtures/images/build" postgres "$LAB_REGISTRY")

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
ssh-keygen -q -t ed25519 -N "" -C "reader-$T" -f "$TEST_TMP/reader"
# as KEY CMD...: ssh and git as the berth user with that key only
as() {
	local key=$1
	shift
	GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/$key -o IdentitiesOnly=yes" "$@"
}
bd() { ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"; }
rd() { ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/reader" -o IdentitiesOnly=yes "berth@$H" "$@"; }
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
# the app's web container
web() { on $H docker ps -q --filter label=service=$T --filter label=role=web | head -n1; }
# psql_ SQL: psql in the service's container, connecting with the URL read from stdin
psql_() {
	on $H docker exec -i $C sh -c "'read -r url && exec psql -X -q -A -t -d \"\$url\" -c \"\$0\"'" "\"$1\"" \
		<"$TEST_TMP/url"
}

write_config
mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"
printf '%s\n' "FROM scratch" "COPY testapp /testapp" "ENV APP_VERSION=v1" 'CMD ["/testapp"]' \
	>"$REPO/Dockerfile"
(cd "$REPO" && git add -A && git commit -qm v1)

test_cleanup "on $H 'docker exec berthd berthd postgres:unlink $DS $T; docker exec berthd berthd postgres:destroy $DS --force; docker rm -f $C; docker volume rm -f $C; docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T) $pg_img; docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T; docker exec berthd berthd ssh-keys:remove reader-$T'"

test_expect_success 'bootstrap --daemon with an admin key; the app is pushed and served' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	on $H "docker exec -i berthd berthd ssh-keys:add --limited reader-$T" <"$TEST_TMP/reader.pub" &&
	bd apps:create $T &&
	on $H docker exec berthd berthd ssh-keys:grant reader-$T $T read &&
	bd domains:add $T $T.test &&
	{ (cd "$REPO" && as admin git push "berth@$H:$T" main) >push.out 2>&1 || { cat push.out; exit 1; }; } &&
	test "$(served)" = v1
'

test_expect_success 'a read key can neither create nor link a service' '
	test_must_fail rd postgres:create $DS --image $pg_img 2>err &&
	grep -q "permission denied" err &&
	test_must_fail rd postgres:link $DS $T 2>err &&
	grep -q "permission denied" err &&
	test -z "$(on $H docker ps -aq --filter name=^$C\$)" &&
	bd postgres:list >list && ! grep -qx "$DS" list
'

test_expect_success 'postgres:create runs the server on the berth network, its password in no argv' '
	bd postgres:create $DS --image $pg_img >create.out 2>&1 || { cat create.out; exit 1; }
	cat create.out &&
	grep -q "^-----> " create.out &&
	on $H "docker inspect --format '"'"'{{.HostConfig.RestartPolicy.Name}} {{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}}{{end}} {{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}'"'"' $C" >insp &&
	cat insp &&
	test "$(cat insp)" = "unless-stopped berth $C:/var/lib/postgresql/data" &&
	bd postgres:info $DS --dsn >"$TEST_TMP/url" &&
	pw=$(sed -n "s|^postgres://postgres:\([0-9a-f]\{48\}\)@$C:5432/$DS\$|\1|p" "$TEST_TMP/url") &&
	test -n "$pw" &&
	on $H "docker inspect --format '"'"'{{json .Args}} {{json .Path}} {{json .Config.Cmd}}'"'"' $C" >args &&
	! grep -q "$pw" args && ! grep -q "$pw" create.out &&
	bd postgres:info $DS >info && cat info &&
	grep -q "^=====> $DS postgres service information" info &&
	grep -q "Status: *running" info &&
	! grep -q "$pw" info &&
	bd postgres:list >list && grep -qx "$DS" list &&
	test "$(psql_ "SELECT 1")" = 1 &&
	! on $H docker exec berthd sh -c "ls /var/lib/berthd/datastores" | grep -q env &&
	bd events >ev && ! grep -q "$pw" ev
'

test_expect_success 'postgres:link sets DATABASE_URL and redeploys with zero failed requests' '
	rm -f "$TEST_TMP/stop" load.out
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ bd postgres:link $DS $T >link.out 2>&1 ||
		{ cat link.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	check_load load.out "v1" &&
	bd config:get $T DATABASE_URL >cfg && cmp cfg "$TEST_TMP/url" &&
	on $H docker exec $(web) /testapp --exit 0 --print-env DATABASE_URL >env &&
	test "$(sed -n "s/^DATABASE_URL=//p" env)" = "$(cat "$TEST_TMP/url")" &&
	bd postgres:info $DS >info && grep -q "Links: *$T\$" info
'

test_expect_success 'psql connects with the app s URL; a row survives export and import' '
	psql_ "CREATE TABLE t (v text); INSERT INTO t VALUES ('"'"'kept'"'"')" &&
	test "$(psql_ "SELECT v FROM t")" = kept &&
	bd postgres:export $DS >"$TEST_TMP/dump" &&
	test "$(head -c5 "$TEST_TMP/dump")" = PGDMP &&
	psql_ "DELETE FROM t" &&
	test -z "$(psql_ "SELECT v FROM t")" &&
	bd postgres:import $DS <"$TEST_TMP/dump" >import.out 2>&1 || { cat import.out; exit 1; }
	test "$(psql_ "SELECT v FROM t")" = kept
'

test_expect_success 'postgres:destroy is refused while the service is linked' '
	test_must_fail bd postgres:destroy $DS --force 2>err &&
	cat err && grep -q "linked to $T" err &&
	test -n "$(on $H docker ps -q --filter name=^$C\$)"
'

test_expect_success 'unlink unsets DATABASE_URL; destroy takes the container and its data' '
	bd postgres:unlink $DS $T >unlink.out 2>&1 || { cat unlink.out; exit 1; }
	test -z "$(bd config:get $T DATABASE_URL || true)" &&
	on $H docker exec $(web) /testapp --exit 0 --print-env DATABASE_URL >env &&
	grep -qx "DATABASE_URL=" env &&
	test "$(served)" = v1 &&
	bd postgres:destroy $DS --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter name=^$C\$)" &&
	! on $H docker volume inspect $C >/dev/null 2>&1 &&
	bd postgres:list >list && ! grep -qx "$DS" list
'

test_done
