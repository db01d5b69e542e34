#!/usr/bin/env bash
# `caprover deploy` against berthd, with the real CapRover CLI from npm, on a
# lab host set up by `berth server bootstrap --daemon --root-domain` (as in
# t0315): a tar of a Dockerfile app is uploaded, built and served through
# berth-proxy, with the build's lines shown by the CLI; a second deploy
# under load fails no request; an image deploys (`caprover deploy -i`); an
# app token deploys its app alone, without a login; a failing build makes
# the CLI fail and the old version serves on; a tar with "../x" or a
# symbolic link is refused saying why, writing nothing; an app that does
# not exist is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h3
. "$TOP/tests/e2e/berthd-lib.sh"
berthd_gone
caprover_cli

test_expect_success 'pebble, and berth-proxy on the host pointed at it' '
	pebble_up
'

test_expect_success 'bootstrap --root-domain routes the panel and prints a one-time set-up link' '
	berthd_bootstrap &&
	bd apps:create $T >/dev/null
'

test_expect_success 'HTTPS with an ACME certificate; plain HTTP redirects; before set-up: 403' '
	for i in $(seq 60); do
		st=$(api GET /api/v1/apps 2>/dev/null) && test "$st" = 403 && break
		sleep 1
	done
	test "$st" = 403 &&
	grep -q "panel:setup-link" api.out &&
	grep -q "Issued certificate serial" pebble.log &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -H "Host: berth.$ROOT" "http://$ADDR/api/v1/apps")" = 301 &&
	test "$(api POST /api/v1/login -H "Content-Type: application/json" -d "{\"name\":\"x\",\"password\":\"y\"}")" = 403 &&
	test "$(api GET /up)" = 200
'

test_expect_success 'set-up: a wrong token or a short password change nothing; the link works once' '
	tok=$(sed "s/.*token=//" "$TEST_TMP/link") &&
	test "$(api GET "/setup?token=$tok")" = 200 && grep -q "<form" api.out &&
	test "$(api POST /setup -H "Content-Type: application/json" \
		-d "{\"token\":\"${tok}0\",\"name\":\"admin\",\"password\":\"$PW\"}")" = 403 &&
	test "$(api POST /setup -H "Content-Type: application/json" \
		-d "{\"token\":\"$tok\",\"name\":\"admin\",\"password\":\"short\"}")" = 400 &&
	grep -q "at least 12" api.out &&
	test "$(api POST /setup -c "$TEST_TMP/jar0" --data-urlencode "token=$tok" \
		--data-urlencode name=admin --data-urlencode "password=$PW")" = 303 &&
	grep -q "berth_session" "$TEST_TMP/jar0" &&
	test "$(api POST /setup -H "Content-Type: application/json" \
		-d "{\"token\":\"$tok\",\"name\":\"other\",\"password\":\"$PW\"}")" = 403 &&
	test_must_fail bd panel:setup-link 2>denied.out && grep -q "permission denied" denied.out &&
	test_must_fail on $H "docker exec berthd berthd panel:setup-link" >again.out 2>&1 &&
	grep -q "exists already" again.out
'


APPDIR=$TEST_TMP/app
mkdir -p "$APPDIR"
cp "$TOP/build/testapp" "$APPDIR/testapp"
# app_tar V [DOCKERFILE LINES...]: app.tar of the app answering with version V
app_tar() {
	local v=$1
	shift
	{
		echo "FROM scratch"
		echo "COPY testapp /testapp"
		echo "ENV APP_VERSION=$v"
		for l in "$@"; do echo "$l"; done
		echo 'CMD ["/testapp"]'
	} >"$APPDIR/Dockerfile"
	tar -C "$APPDIR" -cf "$TEST_TMP/app.tar" Dockerfile testapp
}
served() { curl -s --max-time 5 -H "Host: $T.test" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
# uploads: what berthd keeps of uploads (no src-* directory once a build ended)
uploads() { on $H "docker exec berthd sh -c 'ls -a /var/lib/berthd/uploads /var/lib/berthd/uploads/$T'"; }

test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T) $T-image:v1; docker exec berth-proxy berth-proxy remove $T-web'"

test_expect_success 'caprover login; the app exists, with a domain' '
	bd domains:add $T $T.test &&
	caprover login -u "https://captain.$ROOT" -p "$PW" -n "$T" >login.out 2>&1 || true
	cat login.out && grep -q "Logged in successfully" login.out
'

test_expect_success 'caprover deploy -t: the tar is built and served; the build lines are shown' '
	app_tar v1 &&
	caprover deploy -n "$T" -a "$T" -t "$TEST_TMP/app.tar" >deploy.out 2>&1 || { cat deploy.out; exit 1; }
	cat deploy.out &&
	grep -q "Deployed successfully" deploy.out &&
	grep -q -- "-----> Building $T" deploy.out &&
	test "$(served)" = v1 &&
	uploads >up.out && ! grep -q "src-" up.out &&
	bd events >events.out && grep -q "user:admin $T caprover:deploy upload from " events.out
'

test_expect_success 'a deploy under load fails no request' '
	on $H "docker tag \$(docker images -q berthd/$T | head -1) $T-image:v1" &&
	app_tar v2 && rm -f "$TEST_TMP/stop" || exit 1
	load_loop load.out -H "Host: $T.test" "http://$ADDR/" &
	lpid=$! &&
	{ caprover deploy -n "$T" -a "$T" -t "$TEST_TMP/app.tar" >deploy.out 2>&1 ||
		{ cat deploy.out; touch "$TEST_TMP/stop"; wait $lpid; exit 1; }; } &&
	sleep 1 && touch "$TEST_TMP/stop" && wait $lpid &&
	check_load load.out "v1|v2" &&
	test "$(served)" = v2
'

test_expect_success 'caprover deploy -i: an image deploys' '
	caprover deploy -n "$T" -a "$T" -i "$T-image:v1" >deploy.out 2>&1 || { cat deploy.out; exit 1; }
	cat deploy.out &&
	grep -q "Deployed successfully" deploy.out &&
	test "$(served)" = v1
'

test_expect_success 'an app token deploys its app without a login; a wrong one is refused' '
	bd panel:app-token $T >token.out && cat token.out &&
	tok=$(grep -E "^[0-9a-f]{64}$" token.out) && test -n "$tok" &&
	app_tar v3 &&
	CAP_HOME=home2 caprover deploy -u "https://captain.$ROOT" --appToken "$tok" -a "$T" \
		-t "$TEST_TMP/app.tar" >deploy.out 2>&1 || { cat deploy.out; exit 1; }
	cat deploy.out &&
	for i in $(seq 120); do test "$(served)" = v3 && break; sleep 1; done &&
	test "$(served)" = v3 &&
	! CAP_HOME=home2 caprover deploy -u "https://captain.$ROOT" --appToken "$(printf "0%.0s" $(seq 64))" -a "$T" \
		-t "$TEST_TMP/app.tar" >bad.out 2>&1 &&
	cat bad.out && grep -qi "not authorized" bad.out &&
	bd panel:app-token $T --revoke &&
	! CAP_HOME=home2 caprover deploy -u "https://captain.$ROOT" --appToken "$tok" -a "$T" \
		-t "$TEST_TMP/app.tar" >bad.out 2>&1
'

test_expect_success 'live logs as Server-Sent Events: the lines, a search; the tail ends with the client' '
	test "$(api POST /api/v1/login -c "$TEST_TMP/jar" -H "Content-Type: application/json" \
		-d "{\"name\":\"admin\",\"password\":\"$PW\"}")" = 200 &&
	curl -s -o /dev/null -H "Host: $T.test" "http://$ADDR/marker-$T" &&
	curl -s -o /dev/null -H "Host: $T.test" "http://$ADDR/other-$T" &&
	sse() {
		curl -s -N --max-time 4 --cacert "$TEST_TMP/root.pem" --resolve "berth.$ROOT:443:$ADDR" \
			-b "$TEST_TMP/jar" -D "$2.head" "https://berth.$ROOT/api/v1/apps/$T/logs?$1" >"$2"
		test $? = 28
	} &&
	sse "tail=50" sse.out && cat sse.out.head sse.out &&
	grep -qi "^content-type: text/event-stream" sse.out.head &&
	grep -q "^data: .*marker-$T" sse.out && grep -q "^data: .*other-$T" sse.out &&
	sse "tail=50&q=MARKER-$T" sse2.out && cat sse2.out &&
	grep -q "^data: .*marker-$T" sse2.out && ! grep -q "other-$T" sse2.out &&
	test "$(api GET "/api/v1/apps/$T-nope/logs" -b "$TEST_TMP/jar")" = 404 &&
	test "$(api GET "/api/v1/apps/$T/logs")" = 401 &&
	for i in $(seq 50); do
		on $H "docker top berthd -eo args" >top.out && ! grep -q "berthd logs\|docker logs" top.out && break
		sleep 0.2
	done &&
	cat top.out && ! grep -q "berthd logs\|docker logs" top.out
'

test_expect_success 'a failing build makes the CLI fail, and the old version serves on' '
	app_tar v4 "COPY no-such-file /x" &&
	! caprover deploy -n "$T" -a "$T" -t "$TEST_TMP/app.tar" >deploy.out 2>&1 &&
	cat deploy.out &&
	grep -q "no-such-file" deploy.out &&
	grep -q "Something bad happened" deploy.out &&
	test "$(served)" = v3
'

test_expect_success 'a tar with ../x or a symbolic link is refused, nothing written' '
	python3 -c "
import tarfile, io, sys
with tarfile.open(sys.argv[1], \"w\") as t:
    i = tarfile.TarInfo(\"../x\"); d = b\"owned\\n\"; i.size = len(d); t.addfile(i, io.BytesIO(d))
with tarfile.open(sys.argv[2], \"w\") as t:
    i = tarfile.TarInfo(\"Dockerfile\"); i.type = tarfile.SYMTYPE; i.linkname = \"/etc/passwd\"; t.addfile(i)
" "$TEST_TMP/dotdot.tar" "$TEST_TMP/link.tar" &&
	! caprover deploy -n "$T" -a "$T" -t "$TEST_TMP/dotdot.tar" >bad.out 2>&1 &&
	cat bad.out && grep -q "Upload refused" bad.out && grep -q "\.\./x" bad.out &&
	! caprover deploy -n "$T" -a "$T" -t "$TEST_TMP/link.tar" >bad.out 2>&1 &&
	cat bad.out && grep -q "Upload refused" bad.out && grep -q "link" bad.out &&
	uploads >up.out && cat up.out && ! grep -qx "x" up.out && ! grep -q "src-" up.out &&
	test "$(served)" = v3
'

test_expect_success 'an app that does not exist is refused' '
	! caprover deploy -n "$T" -a "$T-nope" -t "$TEST_TMP/app.tar" >bad.out 2>&1 &&
	cat bad.out && grep -qi "not exist\|not found" bad.out
'

test_done
