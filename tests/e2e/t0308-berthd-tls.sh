#!/usr/bin/env bash
# berthd's certs:* and letsencrypt:* against berthd on a lab host set up by
# `berth server bootstrap --daemon`, as a Dokku user runs them over ssh:
# certs:add of a tar with a self-signed certificate serves the app over
# HTTPS with it (the key in no argv, no output, no event), certs:report
# describes it, certs:remove goes back to plain HTTP; letsencrypt:enable
# gets a certificate from pebble (a real ACME test CA) through berth-proxy,
# rebooted on the host trusting pebble's CA, once letsencrypt:set has made
# pebble its ACME server and set the account's email at run time.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

H=$h3
REPO=$TEST_TMP/repo
NAME=$T.test
. "$TOP/tests/e2e/berthd-lib.sh"
push() {
	(cd "$REPO" && GIT_SSH_COMMAND="ssh -F $LAB_SSH_CONFIG_NOKEY -i $TEST_TMP/admin -o IdentitiesOnly=yes" \
		git push "$@" "berth@$H:$T" main) >push.out 2>&1
}
served() { curl -s --max-time 5 -H "Host: $NAME" "http://$ADDR/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'; }
# tcurl CA: the app over HTTPS for its name, verified against CA.
tcurl() { curl -s --max-time 10 --cacert "$1" --resolve "$NAME:443:$ADDR" "https://$NAME/"; }

mkdir -p "$REPO"
cp "$TOP/build/testapp" "$REPO/testapp"
git -C "$REPO" init -q -b main
git -C "$REPO" config user.email "e2e@berth.test"
git -C "$REPO" config user.name "berth e2e"
printf 'FROM scratch\nCOPY testapp /testapp\nENV APP_VERSION=v1\nCMD ["/testapp"]\n' >"$REPO/Dockerfile"
(cd "$REPO" && git add -A && git commit -qm v1)

# letsencrypt:set's values go: berthd's settings and the running proxy's.
test_cleanup "on $H 'docker exec berthd berthd letsencrypt:set --global server; docker exec berthd berthd letsencrypt:set --global email; docker exec berth-proxy berth-proxy acme --reset'"
test_cleanup "on $H 'docker exec berthd berthd apps:destroy $T --force; docker rm -f \$(docker ps -aq --filter label=service=$T); docker rmi -f \$(docker images -q berthd/$T); docker exec berth-proxy berth-proxy remove $T-web; docker exec berthd berthd ssh-keys:remove admin-$T'"

# A self-signed certificate for the app's name; the key's full lines are what must never show.
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$NAME" \
	-addext "subjectAltName=DNS:$NAME" -keyout server.key -out server.crt 2>/dev/null || exit 1
grep -E '^.{64}$' server.key >keylines
tar cf certs.tar server.crt server.key
cc -O2 -o sampler "$TOP/tests/fixtures/argv-sampler.c" || exit 1

test_expect_success 'bootstrap --daemon, an app with a domain, a first push' '
	berth server bootstrap -h $H --daemon --key "$TEST_TMP/admin.pub" --key-name admin-$T \
		>out 2>&1 || { cat out; exit 1; }
	bd apps:create $T &&
	bd domains:add $T $NAME >/dev/null &&
	{ push || { cat push.out; exit 1; }; } &&
	test "$(served)" = v1
'

test_expect_success 'certs:add: HTTPS with the certificate, the key in no argv and no output' '
	./sampler >argv &
	spid=$!
	sleep 0.3
	bd certs:add $T <certs.tar >add.out 2>&1 && rc=0 || rc=$?
	kill $spid && wait $spid || true
	cat add.out && test $rc = 0 &&
	grep -q "CN=$NAME" add.out &&
	for i in $(seq 20); do tcurl server.crt >https.out 2>&1 && break; sleep 0.5; done
	cat https.out && grep -q "version=v1" https.out &&
	test -s keylines &&
	! grep -a -F -f keylines argv &&
	! grep -a -F -f keylines add.out &&
	bd events $T >events.out &&
	grep -q certs:add events.out &&
	! grep -a -F -f keylines events.out
'

test_expect_success 'certs:report: subject and expiry of the certificate, never the key' '
	bd certs:report $T >report.out &&
	cat report.out &&
	grep -q "Ssl enabled: *true" report.out &&
	grep -q "Ssl subject: *CN=$NAME" report.out &&
	grep -q "Ssl expires at: *$(openssl x509 -in server.crt -noout -enddate | cut -d= -f2 |
		xargs -I{} date -u -d {} +%Y-%m-%dT%H:%M:%SZ)" report.out &&
	grep -q "Ssl verified: *self signed" report.out &&
	bd certs:report $T --format json | jq -e ".enabled and .subject == \"CN=$NAME\"" &&
	! grep -a -F -f keylines report.out
'

test_expect_success 'certs:remove: plain HTTP only again' '
	bd certs:remove $T >remove.out 2>&1 || { cat remove.out; exit 1; }
	cat remove.out &&
	! tcurl server.crt &&
	test "$(served)" = v1 &&
	bd certs:report $T | grep -q "Ssl enabled: *false"
'

test_expect_success 'pebble, and berth-proxy on the host trusting its CA' '
	pebble_up BERTH_PROXY_ACME_CA_FILE=/pebble-ca.pem &&
	test "$(served)" = v1
'

test_expect_success 'letsencrypt:set: bad values and keys are refused, nothing changes' '
	on $H docker exec berth-proxy berth-proxy acme --reset >/dev/null &&
	test_must_fail bd letsencrypt:set --global email nope 2>err.out && cat err.out &&
	grep -q "expected an email address" err.out &&
	test_must_fail bd letsencrypt:set --global server ftp://$HERE/dir 2>err.out &&
	grep -q "production, staging or a URL" err.out &&
	test_must_fail bd letsencrypt:set --global dns-provider x 2>err.out &&
	grep -q "the supported keys are email and server" err.out &&
	test_must_fail bd letsencrypt:set --global 2>err.out &&
	grep -q "usage:" err.out &&
	{ bd letsencrypt:set nosuch-$T email ops@$NAME 2>err.out; test $? = 20; } &&
	on $H docker exec berth-proxy berth-proxy acme --json >acme.json && cat acme.json &&
	jq -e ".email == \"\" and .directory_source == \"default\"" acme.json
'

test_expect_success 'letsencrypt:set: the server and the email reach the running proxy' '
	pid=$(on $H docker inspect -f "{{.State.StartedAt}}" berth-proxy) &&
	bd letsencrypt:set --global server "https://$HERE:$ACME_PORT/dir" >set.out 2>&1 &&
	cat set.out &&
	grep -q "^-----> Setting server to https://$HERE:$ACME_PORT/dir" set.out &&
	grep -q "next certificate order" set.out &&
	bd letsencrypt:set $T email ops@$NAME >set.out 2>&1 && cat set.out &&
	grep -q "^ !     berth-proxy has one ACME account for the whole host" set.out &&
	on $H docker exec berth-proxy berth-proxy acme --json >acme.json && cat acme.json &&
	jq -e ".email == \"ops@$NAME\" and .email_source == \"runtime\" and
		.directory == \"https://$HERE:$ACME_PORT/dir\" and
		.directory_source == \"runtime\"" acme.json &&
	test "$(on $H docker inspect -f "{{.State.StartedAt}}" berth-proxy)" = "$pid" &&
	bd events | grep -q "letsencrypt:set" &&
	! bd events | grep -q "ops@$NAME"
'

test_expect_success 'letsencrypt:enable: HTTPS with an ACME certificate, verified against the CA' '
	bd letsencrypt:enable $T >le.out 2>&1 || { cat le.out; exit 1; }
	cat le.out &&
	for i in $(seq 60); do tcurl root.pem >https.out 2>&1 && break; sleep 1; done
	cat https.out && grep -q "version=v1" https.out &&
	grep -q "Issued certificate serial" pebble.log &&
	bd letsencrypt:report $T >ler.out && cat ler.out &&
	grep -q "Letsencrypt active: *true" ler.out &&
	grep -q "Letsencrypt server: *https://$HERE:$ACME_PORT/dir" ler.out &&
	grep -q "Letsencrypt email: *ops@$NAME" ler.out &&
	grep -q "Letsencrypt certificate: *ok" ler.out &&
	bd letsencrypt:report $T --format json | jq -e ".email == \"ops@$NAME\"" &&
	bd letsencrypt:list | grep -q "^$T " &&
	grep -q "There are now 1 accounts in memory" pebble.log
'

test_expect_success 'letsencrypt:set KEY without a value: the proxy boot values again' '
	bd letsencrypt:set --global server >unset.out 2>&1 && cat unset.out &&
	grep -q "^-----> Unsetting server" unset.out &&
	bd letsencrypt:set --global email >unset.out 2>&1 &&
	on $H docker exec berth-proxy berth-proxy acme --json >acme.json && cat acme.json &&
	jq -e ".email == \"\" and .directory_source == \"default\"" acme.json &&
	bd letsencrypt:report $T >ler.out &&
	grep -q "Letsencrypt server: *https://acme-v02.api.letsencrypt.org/directory" ler.out
'

test_expect_success 'letsencrypt:disable: plain HTTP again; apps:destroy leaves nothing' '
	bd letsencrypt:disable $T >led.out 2>&1 || { cat led.out; exit 1; }
	test "$(served)" = v1 &&
	bd apps:destroy $T --force >destroy.out 2>&1 || { cat destroy.out; exit 1; }
	test -z "$(on $H docker ps -aq --filter label=service=$T)"
'

test_done
