#!/usr/bin/env bash
# berthd's ports:* and network:* without a lab: arguments, exit codes and
# rights; berth-proxy's 80 and 443 only; what berth cannot honour is refused
# and nothing is stored on bad input (nothing is deployed here: the app has
# no release, so a change only says when it takes effect).
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
export BERTHD_SSH_COMMAND=/home/berth/berthd-ssh
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND

bd() { "$BERTHD" "$@"; }
# as KEY 'COMMAND LINE': what sshd runs for a client of that key
as() { BERTHD_KEY=$1 SSH_ORIGINAL_COMMAND=$2 "$BERTHD" ssh; }
map() { bd --format json ports:report shop | sed -n 's/.*"ports-map":"\([^"]*\)".*/\1/p'; }

for k in admin1 deployer reader; do
	ssh-keygen -q -t ed25519 -N '' -C "$k@test" -f "$TEST_TMP/$k"
done

test_expect_success 'setup: keys, an app and grants' '
	bd ssh-keys:add admin1 <"$TEST_TMP/admin1.pub" &&
	bd ssh-keys:add --limited deployer <"$TEST_TMP/deployer.pub" &&
	bd ssh-keys:add --limited reader <"$TEST_TMP/reader.pub" &&
	bd apps:create shop >/dev/null &&
	bd ssh-keys:grant deployer shop deploy &&
	bd ssh-keys:grant reader shop read
'

test_expect_success 'help lists ports:* and network:*' '
	as reader help >"$TEST_TMP/help" &&
	for c in ports:list ports:add ports:set ports:remove ports:clear ports:report \
		proxy:ports proxy:ports-add proxy:ports-set proxy:ports-remove proxy:ports-clear \
		network:create network:destroy network:exists network:list network:info \
		network:report network:set; do
		grep_q "$TEST_TMP/help" "^    $c " || exit 1
	done
'

test_expect_success 'without a mapping: http:80:5000, as Dokku without EXPOSE' '
	as reader "ports:list shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^-----> Port mappings for shop" &&
	grep_q "$TEST_TMP/out" "^    http  *80  *5000$" &&
	test "$(as reader "ports:report shop --format json")" = "{\"ports-map\":\"\",\"ports-map-detected\":\"http:80:5000\",\"container-port\":5000}"
'

test_expect_success 'ports:set keeps a mapping; the app has no release, so nothing deploys' '
	as deployer "ports:set shop http:80:3000 https:443:3000" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "takes effect at the first deploy of shop" &&
	test "$(map)" = "http:80:3000 https:443:3000" &&
	as reader "ports:report shop" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^=====> shop ports information" &&
	grep_q "$TEST_TMP/out" "Ports map: *http:80:3000 https:443:3000$" &&
	grep_q "$TEST_TMP/out" "Container port: *3000$"
'

test_expect_success 'other host ports and schemes: berth-proxy serves 80 and 443 only' '
	for m in http:8080:3000 https:80:3000 http:443:3000 tcp:80:3000 udp:53:53 grpc:443:3000; do
		test_must_fail as deployer "ports:add shop $m" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "berth-proxy serves ports 80 .http. and 443 .https. only" || exit 1
	done &&
	test_must_fail as deployer "ports:set shop http:80:3000 https:443:4000" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "one container port" &&
	test_must_fail as deployer "ports:add shop http:80:4000" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "one container port" &&
	test "$(map)" = "http:80:3000 https:443:3000"
'

test_expect_success 'malformed mappings and missing arguments: usage or error, exit 1, nothing kept' '
	for m in http http:80 http:80: :80:3000 http::3000 http:0:3000 http:80:0 \
		http:80:65536 http:080:3000 HTTP:80:3000 http:80:3000:1 "http:80:3\$(id)"; do
		test_must_fail as deployer "ports:set shop $m" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "invalid port mapping" || exit 1
	done &&
	for c in "ports:set shop" "ports:add shop" "ports:remove shop" "ports:clear shop extra" \
		"ports:list shop extra" "ports:report shop extra" "ports:report"; do
		test_must_fail as deployer "$c" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "usage: " || exit 1
	done &&
	test_must_fail as deployer "ports:remove shop 99999" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid host port" &&
	test_must_fail as reader "ports:report shop --format yaml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "unknown format" &&
	test "$(map)" = "http:80:3000 https:443:3000"
'

test_expect_success 'a missing app is exit 20, an invalid name exit 1' '
	set +e
	as admin1 "ports:set nope http:80:3000" 2>/dev/null; rc1=$?
	as admin1 "ports:report nope" 2>/dev/null; rc2=$?
	as admin1 "network:set nope attach-post-deploy x" 2>/dev/null; rc3=$?
	as admin1 "ports:list Bad_Name" 2>/dev/null; rc4=$?
	set -e
	test $rc1 = 20 && test $rc2 = 20 && test $rc3 = 20 && test $rc4 = 1
'

test_expect_success 'rights: read reports, deploy changes, admin creates networks' '
	for c in "ports:set shop http:80:5000" "ports:add shop https:443:3000" \
		"ports:remove shop 443" "ports:clear shop" "proxy:ports-set shop http:80:5000" \
		"network:set shop attach-post-deploy x" "network:create x" "network:destroy --force x" \
		"network:info x"; do
		test_must_fail as reader "$c" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "permission denied" || exit 1
	done &&
	for c in "network:create x" "network:destroy --force x" "network:info x"; do
		test_must_fail as deployer "$c" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "permission denied" || exit 1
	done &&
	bd apps:create other >/dev/null &&
	for c in "ports:list other" "ports:report other" "network:report other" \
		"ports:set other http:80:3000"; do
		test_must_fail as deployer "$c" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "permission denied" || exit 1
	done &&
	as reader "proxy:ports shop" >/dev/null &&
	as reader "network:report shop" >/dev/null &&
	test "$(map)" = "http:80:3000 https:443:3000"
'

test_expect_success 'ports:remove by host port or mapping, ports:clear, and the proxy:ports* aliases' '
	as deployer "ports:remove shop 443" >/dev/null &&
	test "$(map)" = "http:80:3000" &&
	as deployer "proxy:ports-add shop https:443:3000" >/dev/null &&
	test "$(map)" = "http:80:3000 https:443:3000" &&
	as deployer "proxy:ports-remove shop http:80:3000" >/dev/null &&
	test "$(map)" = "https:443:3000" &&
	as deployer "ports:clear shop" >/dev/null &&
	test "$(map)" = "" &&
	as deployer "proxy:ports-set shop http:80:4000" >/dev/null &&
	test "$(map)" = "http:80:4000" &&
	as deployer "proxy:ports-clear shop" >/dev/null &&
	test "$(map)" = ""
'

test_expect_success 'network:set refuses what berth cannot honour, saying why; nothing is stored' '
	test_must_fail as deployer "network:set shop attach-post-create net1" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "attach-post-create is not supported.*use attach-post-deploy" &&
	test_must_fail as deployer "network:set shop initial-network net1" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "initial-network is not supported.*network berth" &&
	test_must_fail as deployer "network:set shop bind-all-interfaces true" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "bind-all-interfaces is not supported" &&
	test_must_fail as deployer "network:set shop tld svc.local" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "attach-post-deploy NETWORK first" &&
	test_must_fail as deployer "network:set shop bogus x" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "unknown network property" &&
	test_must_fail as deployer "network:set shop attach-post-deploy Bad/Name" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid network name" &&
	test_must_fail as deployer "network:set shop" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: " &&
	test "$(as reader "network:report shop --format json")" = "{\"network-attach-post-create\":\"\",\"network-attach-post-deploy\":\"\",\"network-bind-all-interfaces\":false,\"network-initial-network\":\"berth\",\"network-tld\":\"\"}"
'

test_expect_success 'network names: berth, kamal and docker'"'"'s own are refused' '
	for n in berth kamal bridge host none Bad -x "a b"; do
		test_must_fail as admin1 "network:create \"$n\"" 2>"$TEST_TMP/err" &&
		grep_q "$TEST_TMP/err" "invalid network name" || exit 1
	done &&
	test_must_fail as admin1 "network:destroy --force bridge" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "not one of berthd" &&
	test_must_fail as admin1 "network:create" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: network:create NAME"
'

test_expect_success 'events name the commands; apps:destroy takes the settings with it' '
	bd events shop >"$TEST_TMP/events" &&
	grep_q "$TEST_TMP/events" "ports:set" &&
	grep_q "$TEST_TMP/events" "ports:clear" &&
	bd ports:set shop http:80:3000 >/dev/null &&
	bd apps:destroy shop --force >/dev/null 2>&1 &&
	bd apps:create shop >/dev/null &&
	test "$(map)" = "" &&
	bd apps:destroy shop --force >/dev/null 2>&1 &&
	bd apps:destroy other --force >/dev/null 2>&1
'

test_done
