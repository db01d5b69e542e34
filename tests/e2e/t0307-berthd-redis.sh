#!/usr/bin/env bash
# Dokku's redis:* against berthd on a lab host set up by `berth server
# bootstrap --daemon`: a Redis service (the fixture image built from
# Debian's packages) runs on the network `berth` with its data in a volume
# and asks for a password that is in no argv, on the host or in the
# container; linking sets the app's REDIS_URL and redeploys it; redis-cli
# connects with that URL; destroy is refused while linked; unlink and
# destroy leave nothing behind.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h1
ADDR=$(addr_of $H)
REPO=$TEST_TMP/repo
DS=${T}rd
C=berthd-redis-$DS
rd_img=$("$TOP/tests/fixtures/images/build" redis "$LAB_REGISTRY")

ssh-keygen -q -t ed25519 -N "" -C "admin-$T" -f "$TEST_TMP/admin"
bd() { ssh -F "$LAB_SSH_CONFIG_NOKEY" -i "$TEST_TMP/admin" -o IdentitiesOnly=yes "berth@$H" "$@"; }
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
web() { on $H docker ps -q --filter label=service=$T --filter label=role=web | head -n1; }
# rcli ARGS: redis-cli in the service's container, to the host, port and password of the
# URL read from stdin (redis-cli -u would send the URL's empty user name to AUTH)
rcli() {
	on $H docker exec -i $C sh -c "'read -r url && u=\${url#redis://:} && a=\${u#*@} &&
		REDISCLI_AUTH=\${u%@*} exec redis-cli -h \${a%:*} -p \${a##*:} \"\$@\"'" rcli "$@" \
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

test_cleanup "on $H 'docker exec berthd berthd redis:unlink $DS $T; docker exec berthd berthd redis:destroy $DS --force; docker rm -f $C; docker volume rm -f $C; docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T) $rd_img; docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T'"

test_expect_success 'bootstrap --daemon with an admin key; the app is pushed and served' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd apps:create $T &&
	bd domains:add $T $T.test &&
	{ (cd "$REPO" && GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/admin -o IdentitiesOnly=yes" \
		git push "berth@$H:$T" main) >push.out 2>&1 || { cat push.out; exit 1; }; } &&
	test "$(served)" = v1
'

test_expect_success 'redis:create runs a server that asks for a password in no argv' '
	bd redis:create $DS --image $rd_img >create.out 2>&1 || { cat create.out; exit 1; }
	cat create.out &&
	on $H "docker inspect --format '"'"'{{.HostConfig.RestartPolicy.Name}} {{range \$k, \$v := .NetworkSettings.Networks}}{{\$k}}{{end}} {{range .Mounts}}{{.Name}}:{{.Destination}}{{end}}'"'"' $C" >insp &&
	test "$(cat insp)" = "unless-stopped berth $C:/data" &&
	bd redis:info $DS --dsn >"$TEST_TMP/url" &&
	pw=$(sed -n "s|^redis://:\([0-9a-f]\{48\}\)@$C:6379\$|\1|p" "$TEST_TMP/url") &&
	test -n "$pw" &&
	on $H "docker inspect --format '"'"'{{json .Args}} {{json .Config.Cmd}}'"'"' $C" >args &&
	! grep -q "$pw" args create.out &&
	on $H docker exec $C sh -c "'"'"'cat /proc/[0-9]*/cmdline'"'"'" | tr "\0" " " >cmdlines &&
	grep -q redis-server cmdlines && ! grep -q "$pw" cmdlines &&
	test "$(rcli ping)" = PONG &&
	{ on $H docker exec $C redis-cli ping >noauth 2>&1 || true; } && grep -q NOAUTH noauth &&
	bd redis:list >list && grep -qx "$DS" list &&
	bd redis:info $DS >info && cat info && ! grep -q "$pw" info
'

test_expect_success 'redis:link sets REDIS_URL and redeploys with zero failed requests' '
	rm -f "$TEST_TMP/stop" load.out
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ bd redis:link $DS $T >link.out 2>&1 ||
		{ cat link.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	check_load load.out "v1" &&
	on $H docker exec $(web) /testapp --exit 0 --print-env REDIS_URL >env &&
	test "$(sed -n "s/^REDIS_URL=//p" env)" = "$(cat "$TEST_TMP/url")" &&
	rcli set k kept >/dev/null && test "$(rcli get k)" = kept
'

test_expect_success 'destroy is refused while linked; unlink and destroy leave nothing' '
	test_must_fail bd redis:destroy $DS --force 2>err &&
	grep -q "linked to $T" err &&
	bd redis:unlink $DS $T >unlink.out 2>&1 || { cat unlink.out; exit 1; }
	on $H docker exec $(web) /testapp --exit 0 --print-env REDIS_URL >env &&
	grep -qx "REDIS_URL=" env &&
	bd redis:destroy $DS --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter name=^$C\$)" &&
	! on $H docker volume inspect $C >/dev/null 2>&1
'

test_done
