#!/usr/bin/env bash
# WebSocket and other upgrades through berth-proxy: a 101 from the app
# turns the pair of connections into a byte tunnel both ways; on a switch, a
# tunnel to the old target stays open through the drain and is closed when
# the drain timeout ends.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

WS=$TEST_TMP/wsclient
gcc -std=c11 -D_GNU_SOURCE -O2 -o "$WS" "$TOP/tests/fixtures/testapp/wsclient.c" || exit 1
start_app v1 v1 || exit 1
start_app v2 v2 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" || exit 1
P=http://127.0.0.1:$px_port
"$PROXY" deploy web --target 127.0.0.1:$v1_port --health-check-interval 100ms >/dev/null || exit 1

test_expect_success 'a WebSocket works through the proxy (echo, 1 MiB fragmented, ping, close)' '
	timeout 30 "$WS" $px_port >out 2>&1 &&
	cat out &&
	grep -q "ok: 1 MiB fragmented binary echo" out &&
	grep -q "ok: TCP connection closed by the server" out &&
	grep -q "GET /ws 101" v1.log
'

test_expect_success 'an upgrade the app refuses is an ordinary response' '
	test $(curl -s -o /dev/null -w "%{http_code}" -H "Connection: upgrade" \
		-H "Upgrade: websocket" $P/) = 200 &&
	test $(curl -s -o /dev/null -w "%{http_code}" $P/ws) = 426 &&
	curl -sf $P/ | grep -q version=v1
'

test_expect_success 'a tunnel stays open across a deploy and is closed at the drain timeout' '
	(timeout 60 "$WS" $px_port --hold 40 >hold 2>&1; echo "exit $?" >>hold) &
	wait_for_line hold "echo 2" &&
	("$PROXY" deploy web --target 127.0.0.1:$v2_port --drain-timeout 3s \
		--health-check-interval 100ms >deploy 2>&1; echo "exit $?" >>deploy) &
	for i in $(seq 100); do
		curl -s $P/ | grep -q version=v2 && break
		sleep 0.05
	done &&
	curl -s $P/ | grep -q version=v2 &&
	n=$(grep -c "^echo" hold) &&
	wait_for_line hold "echo $((n + 3))" &&
	! grep -q closed hold &&
	! grep -q exit deploy &&
	wait_for_line deploy "exit 0" &&
	wait_for_line hold "exit 0" &&
	cat deploy hold &&
	grep -q "closed 1 tunnel(s) to old targets at the drain timeout" deploy &&
	grep -q "^closed after" hold
'

test_expect_success 'a new WebSocket goes to the new version, and a deploy with none open is quick' '
	timeout 30 "$WS" $px_port >out 2>&1 &&
	grep -q "GET /ws 101" v2.log &&
	"$PROXY" deploy web --target 127.0.0.1:$v1_port --drain-timeout 30s \
		--health-check-interval 100ms >deploy &&
	! grep -q tunnel deploy
'

test_expect_success 'remove closes the tunnels of the service' '
	(timeout 60 "$WS" $px_port --hold 40 >hold2 2>&1; echo "exit $?" >>hold2) &
	wait_for_line hold2 "echo 2" &&
	"$PROXY" remove web &&
	wait_for_line hold2 "exit 0" &&
	grep -q "^closed after" hold2
'

test_done
