#!/usr/bin/env bash
# berth-proxy deploy options that follow kamal-proxy's: --forward-headers,
# --strip-path-prefix, --force, --error-pages, and run --https-port. Each
# shows in `list --json` and survives a restart.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"

start_app a v1 || exit 1
start_app b v2 || exit 1
export BERTH_PROXY_SOCKET=$TEST_TMP/ctl.sock
start_proxy px --workers 2 --state-dir "$TEST_TMP/state" --https-port 8443 || exit 1
P=http://127.0.0.1:$px_port
HC="--health-check-interval 100ms"

# svc_json NAME: the service's object of `list --json`.
svc_json() {
	"$PROXY" list --json | jq -e ".[] | select(.name == \"$1\")"
}

test_expect_success 'run --https-port is accepted, not bound, and said so once' '
	test "$(grep -c "TLS is not built yet: HTTPS port 8443 is not bound" px.log)" = 1 &&
	test "$(ss -Htln "( sport = :8443 )" | wc -l)" = 0 &&
	test_must_fail "$PROXY" run --https-port nope --http-port 0 2>err &&
	grep -q "https-port" err &&
	test_must_fail "$PROXY" run --bogus 2>err && grep -q "TLS is not built yet" err
'

test_done
