#!/usr/bin/env bash
# berthd's certs:* and letsencrypt:* without a lab: arguments, rights, what
# a bad tar or PEM says (and that nothing changes then), certs:report, and
# the key in no output and no event. Nothing is deployed here, so the
# commands keep what they are given for the first deploy.
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
export BERTHD_SSH_COMMAND=/home/berth/berthd-ssh
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND

bd() { "$BERTHD" "$@"; }
# as KEY 'COMMAND LINE': what sshd runs for a client of that key
as() { BERTHD_KEY=$1 SSH_ORIGINAL_COMMAND=$2 "$BERTHD" ssh; }

cd "$TEST_TMP" || exit 1
for k in admin1 deployer reader; do
	ssh-keygen -q -t ed25519 -N '' -C "$k@test" -f "$TEST_TMP/$k"
done
# shop.test's certificate and key, another key, and the tars made of them
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=shop.test \
	-addext "subjectAltName=DNS:shop.test,DNS:www.shop.test" -keyout server.key \
	-out server.crt 2>/dev/null || exit 1
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out other.key 2>/dev/null || exit 1
grep -E '^.{64}$' server.key >keylines
tar cf good.tar server.crt server.key
mkdir -p mis && cp server.crt mis/server.crt && cp other.key mis/server.key
tar cf mismatch.tar -C mis server.crt server.key
tar cf nokey.tar server.crt
printf 'garbage\n' >bad.crt && tar cf badpem.tar bad.crt server.key

test_expect_success 'setup: keys, an app and grants' '
	bd ssh-keys:add admin1 <"$TEST_TMP/admin1.pub" &&
	bd ssh-keys:add --limited deployer <"$TEST_TMP/deployer.pub" &&
	bd ssh-keys:add --limited reader <"$TEST_TMP/reader.pub" &&
	bd apps:create shop >/dev/null &&
	bd ssh-keys:grant deployer shop deploy &&
	bd ssh-keys:grant reader shop read
'

test_expect_success 'help lists certs:* and letsencrypt:*' '
	as admin1 help >help &&
	for c in certs:add certs:update certs:remove certs:report letsencrypt:enable \
		letsencrypt:disable letsencrypt:list letsencrypt:report letsencrypt:set \
		letsencrypt:cron-job; do
		grep_q help "^    $c " || exit 1
	done
'

test_expect_success 'an app without domains: certs:add and letsencrypt:enable say so' '
	test_must_fail as deployer "certs:add shop" <good.tar 2>err &&
	grep_q err "shop has no domains: HTTPS is served per host name" &&
	test_must_fail as deployer "letsencrypt:enable shop" 2>err &&
	grep_q err "shop has no domains" &&
	as reader "certs:report shop" >out &&
	grep_q out "Ssl enabled: +false"
'

test_expect_success 'arguments and rights' '
	bd domains:add shop shop.test >/dev/null &&
	test_must_fail as deployer "certs:add" 2>err && grep_q err "usage: certs:add" &&
	test_must_fail as deployer "certs:add shop extra" <good.tar 2>err &&
	grep_q err "usage: certs:add" &&
	test_must_fail as deployer "certs:report shop --format xml" 2>err &&
	grep_q err "usage: certs:report" &&
	for c in "certs:add shop" "certs:update shop" "certs:remove shop" \
		"letsencrypt:enable shop" "letsencrypt:disable shop"; do
		test_must_fail as reader "$c" <good.tar 2>err &&
		grep_q err "permission denied" || exit 1
	done &&
	set +e
	as admin1 "certs:add nope" <good.tar 2>/dev/null; rc1=$?
	as admin1 "certs:report nope" 2>/dev/null; rc2=$?
	set -e
	test $rc1 = 20 && test $rc2 = 20 &&
	as reader "certs:report shop" >/dev/null &&
	as reader "letsencrypt:report shop" >/dev/null &&
	as reader "letsencrypt:list" >/dev/null
'

test_expect_success 'a bad tar, a bad PEM, a key of another certificate: nothing changes' '
	test_must_fail as deployer "certs:add shop" <nokey.tar 2>err &&
	grep_q err "the tar holds no key" &&
	test_must_fail as deployer "certs:add shop" <server.crt 2>err &&
	grep_q err "not a tar archive" &&
	test_must_fail as deployer "certs:add shop" </dev/null 2>err &&
	grep_q err "nothing on stdin" &&
	test_must_fail as deployer "certs:add shop" <badpem.tar 2>err &&
	grep_q err "cannot read a certificate" &&
	test_must_fail as deployer "certs:add shop" <mismatch.tar 2>err &&
	grep_q err "does not match the certificate" &&
	grep_q err "nothing changed" &&
	! grep -F -f keylines err &&
	as reader "certs:report shop" >out &&
	grep_q out "Ssl enabled: +false" &&
	! bd events shop | grep -q certs:add
'

test_expect_success 'certs:add keeps the pair for the first deploy; the key shows nowhere' '
	as deployer "certs:add shop" <good.tar >out 2>&1 &&
	cat out &&
	grep_q out "Adding a certificate of shop \(server.crt, server.key\)" &&
	grep_q out "subject: CN=shop.test" &&
	grep_q out "not been deployed: this applies from its first deploy" &&
	as reader "certs:report shop" >report &&
	grep_q report "Ssl enabled: +true" &&
	grep_q report "Ssl hostnames: +shop.test www.shop.test" &&
	grep_q report "Ssl subject: +CN=shop.test" &&
	grep_q report "Ssl issuer: +CN=shop.test" &&
	grep_q report "Ssl verified: +self signed" &&
	grep_q report "Ssl served: +this certificate" &&
	want=$(date -u -d "$(openssl x509 -in server.crt -noout -enddate | cut -d= -f2)" +%Y-%m-%dT%H:%M:%SZ) &&
	grep_q report "Ssl expires at: +$want" &&
	as reader "certs:report shop --format json" >json &&
	jq -e ".enabled == true and .subject == \"CN=shop.test\" and .expires_at == \"$want\" and .served == \"certificate\"" json &&
	test "$(bd --format json certs:report shop)" = "$(cat json)" &&
	bd events shop >events &&
	grep_q events "certs:add" &&
	! grep -F -f keylines out report json events &&
	! grep -q "PRIVATE KEY" out report json events &&
	as deployer "certs:update shop" <good.tar >out 2>&1 &&
	grep_q out "Replacing the certificate of shop"
'

test_expect_success 'a domain the certificate does not cover is said' '
	bd domains:add shop other.test >/dev/null &&
	as deployer "certs:add shop" <good.tar >out 2>&1 &&
	grep_q out "does not cover other.test" &&
	bd domains:remove shop other.test >/dev/null
'

test_expect_success 'letsencrypt replaces the certificate, which serves again after disable' '
	as deployer "letsencrypt:enable shop" >out 2>&1 &&
	grep_q out "it replaces the certificate of certs:add" &&
	as reader "certs:report shop" >report &&
	grep_q report "Ssl served: +letsencrypt" &&
	as reader "letsencrypt:report shop" >report &&
	grep_q report "Letsencrypt active: +true" &&
	as reader "--format json letsencrypt:list" | jq -e ".[0].app == \"shop\"" &&
	as deployer "certs:add shop" <good.tar >out 2>&1 &&
	grep_q out "letsencrypt is enabled for shop and replaces this certificate" &&
	as deployer "letsencrypt:disable shop" >out 2>&1 &&
	grep_q out "shop is served with its certificate" &&
	as deployer "letsencrypt:disable shop" >out 2>&1 &&
	grep_q out "letsencrypt is not enabled for shop" &&
	test "$(as reader "--format json letsencrypt:list")" = "[]" &&
	bd domains:add shop "*.wild.test" >/dev/null &&
	test_must_fail as deployer "letsencrypt:enable shop" 2>err &&
	grep_q err "cannot cover a wildcard domain" &&
	bd domains:remove shop "*.wild.test" >/dev/null
'

test_expect_success 'letsencrypt:set: admin only, checked, stored; cron-job needs none' '
	test_must_fail as deployer "letsencrypt:set shop email ops@shop.test" 2>err &&
	grep_q err "permission denied" &&
	test_must_fail as admin1 "letsencrypt:set --global email ops" 2>err &&
	grep_q err "expected an email address" &&
	test_must_fail as admin1 "letsencrypt:set --global server http://acme.test/dir" 2>err &&
	grep_q err "expected an https URL" &&
	test_must_fail as admin1 "letsencrypt:set --global graceperiod 10" 2>err &&
	grep_q err "the supported keys are email and server" &&
	{ as admin1 "letsencrypt:set nosuch email ops@shop.test" 2>err; test $? = 20; } &&
	! as admin1 events | grep -q letsencrypt:set &&
	as admin1 "letsencrypt:set shop email ops@shop.test" >out 2>err &&
	grep_q out "Setting email to ops@shop.test" &&
	grep_q err "berth-proxy has one ACME account for the whole host" &&
	as admin1 "letsencrypt:set --global server staging" >out 2>&1 &&
	grep_q out "Setting server to https://acme-staging-v02.api.letsencrypt.org/directory" &&
	as admin1 "letsencrypt:set --global server" >out 2>&1 &&
	grep_q out "Unsetting server" &&
	as admin1 events >out && grep_q out "letsencrypt:set" && ! grep -q ops@shop.test out &&
	as reader "letsencrypt:cron-job" >out &&
	grep_q out "renews its ACME certificates by itself"
'

test_expect_success 'certs:remove, and apps:destroy takes the pair with it' '
	as deployer "certs:remove shop" >out 2>&1 &&
	grep_q out "Removing the certificate of shop" &&
	test_must_fail as deployer "certs:remove shop" 2>err &&
	grep_q err "shop has no certificate" &&
	as deployer "certs:add shop" <good.tar >/dev/null 2>&1 &&
	bd apps:destroy shop --force >/dev/null 2>&1 &&
	bd apps:create shop >/dev/null &&
	bd certs:report shop | grep -q "Ssl enabled: *false" &&
	bd apps:destroy shop --force >/dev/null 2>&1
'

test_done
