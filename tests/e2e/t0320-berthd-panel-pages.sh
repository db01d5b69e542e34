#!/usr/bin/env bash
# berthd's panel pages without a lab: `berthd serve --http` on loopback with
# a state of its own. Before set-up every page answers 403 pointing at the
# set-up link; the link `berthd panel:setup-link` prints makes the first
# admin, who logs in with curl; each page then answers with its security
# headers and the ids panel.js and the browser test use, names and versions
# escaped and no config value anywhere; without a session (or with only an
# API token) a page is 303 to /login; a viewer's app page has no change
# control; the assets come with their types and a year's immutable cache.
# One-click apps: /oneclick for admins (403 for others) lists the shipped
# templates and renders one's form (labels, secrets never prefilled, a
# pattern only where the browser reads the regex as berthd does); the API
# lists them and reads a shipped or pasted template's form (a bad one: 400
# naming its line); the form's deploy refuses a value failing its regex.
# The server's API and sections: the dashboard's Host section shows the
# verdicts of a doctor.json written here (details escaped), a check asked for
# runs in the background (berthd serve's own schedule is off; no dockerd for
# it: the report says so), the root domain and SSH keys change through
# /api/v1/server with their checks, admins only, CSRF, audit events.
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND BERTHD_PANEL_ROUTE
PW="correct horse $T battery"
SECRET="s3cret-$T-value"
ORIGIN=https://berth.$T.test

bd() { "$BERTHD" "$@"; }

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
B=http://127.0.0.1:$PORT
# no schedule of doctor's checks; one asked for finds no dockerd (none at that socket)
DOCKER_HOST=unix://$TEST_TMP/no-docker.sock \
	"$BERTHD" serve --http "127.0.0.1:$PORT" --doctor-interval off >"$TEST_TMP/serve.log" 2>&1 &
SERVE=$!
test_cleanup "kill $SERVE"

# get PATH [curl args...]: prints the status; the head in get.head, the body in get.out
get() {
	local p=$1
	shift
	curl -s --max-time 10 -D "$TEST_TMP/get.head" -o "$TEST_TMP/get.out" -w '%{http_code}' \
		"$@" "$B$p"
}
# has_header NAME VALUE: the last answer has this header line, exactly
has_header() {
	if ! tr -d '\r' <"$TEST_TMP/get.head" | grep -qixF "$1: $2"; then
		echo "expected '$1: $2' in:"
		cat "$TEST_TMP/get.head"
		return 1
	fi
}
# login NAME JAR: prints the status of POST /api/v1/login; the session in JAR
login() {
	printf '{"name":"%s","password":"%s"}' "$1" "$PW" |
		curl -s --max-time 10 -c "$2" -o "$TEST_TMP/login.out" -w '%{http_code}' \
			-H 'Content-Type: application/json' --data-binary @- "$B/api/v1/login"
}
# change JAR METHOD PATH [JSON]: a change by the session in JAR, with its CSRF
# token (from GET /api/v1/me) and the panel's Origin; prints the status
change() {
	local jar=$1 m=$2 p=$3 tok
	get /api/v1/me -b "$jar" >/dev/null
	tok=$(jq -r .csrf_token "$TEST_TMP/get.out")
	curl -s --max-time 10 -b "$jar" -o "$TEST_TMP/change.out" -w '%{http_code}' -X "$m" \
		-H "X-CSRF-Token: $tok" -H "Origin: $ORIGIN" -H 'Content-Type: application/json' \
		${4:+--data-binary "$4"} "$B$p"
}
# page_ok: the last answer is a panel page: HTML, its headers, no inline script or style
page_ok() {
	has_header Content-Type "text/html; charset=utf-8" &&
	has_header Content-Security-Policy "default-src 'self'; frame-ancestors 'none'" &&
	has_header X-Content-Type-Options nosniff &&
	has_header Referrer-Policy same-origin &&
	has_header Cache-Control no-store &&
	grep_q "$TEST_TMP/get.out" '<html lang="en">' &&
	grep_q "$TEST_TMP/get.out" '<title>[^<]+</title>' &&
	grep_q "$TEST_TMP/get.out" '<meta name="csrf-token" content="[^"]*">' &&
	! grep -E '<script>|<script [^>]*>[^<]|<style| style=| on[a-z]+=' "$TEST_TMP/get.out"
}
# sql STATEMENT: runs it on berthd's store (python3's sqlite3: no CLI needed)
sql() {
	python3 -c 'import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=30); c.execute(sys.argv[2]); c.commit()' \
		"$BERTHD_STATE_DIR/berthd.db" "$1"
}

test_expect_success 'berthd serves on loopback' '
	for i in $(seq 100); do
		test "$(get /up)" = 200 && break
		sleep 0.1
	done &&
	test "$(get /up)" = 200
'

test_expect_success 'serve refuses a doctor interval out of bounds, saying so' '
	for v in 5 86401 10m; do
		rc=0 && "$BERTHD" serve --http off --doctor-interval $v >out 2>&1 || rc=$?
		cat out && test $rc = 2 && grep -q "from 10 to 86400, got .$v." out || exit 1
	done
'

test_expect_success 'before set-up, the pages answer 403 pointing at the set-up link' '
	for p in / /login /settings /apps/shop; do
		test "$(get $p)" = 403 &&
		grep_q "$TEST_TMP/get.out" "panel:setup-link" || exit 1
	done &&
	test "$(get /assets/panel.css)" = 200
'

test_expect_success 'the set-up link makes the first admin, who logs in' '
	bd domains:set-global $T.test >/dev/null &&
	url=$(bd panel:setup-link | tail -n 1) &&
	tok=${url#*token=} &&
	test "$(get /setup -H "Content-Type: application/json" \
		--data-binary "{\"token\":\"$tok\",\"name\":\"admin\",\"password\":\"$PW\"}")" = 201 &&
	test "$(login admin "$TEST_TMP/admin.jar")" = 200 &&
	grep -q berth_session "$TEST_TMP/admin.jar"
'

test_expect_success 'setup: apps, a secret, a release with an odd version, a viewer, a token' '
	bd apps:create shop >/dev/null &&
	bd apps:create blog >/dev/null &&
	bd config:set --no-restart shop "SECRET_KEY=$SECRET" >/dev/null &&
	bd domains:add shop shop.$T.test >/dev/null &&
	sql "INSERT INTO releases (app, version, image, time, status) VALUES
		(\"shop\", \"v1<script>alert(1)</script>\", \"img&<i>\", 1, \"deployed\"),
		(\"shop\", \"v2\", \"shop:v2\", 2, \"deployed\")" &&
	sql "INSERT INTO apps (name, created) VALUES (\"x<b>&y\", 1)" &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/users \
		"{\"name\":\"vic\",\"password\":\"$PW\",\"apps\":{\"shop\":\"viewer\"}}")" = 201 &&
	test "$(login vic "$TEST_TMP/vic.jar")" = 200 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/tokens "{\"name\":\"ci\"}")" = 201 &&
	jq -r .token "$TEST_TMP/change.out" >"$TEST_TMP/api-token"
'

test_expect_success 'without a session every page is 303 to /login, an API token too' '
	for p in / /apps/shop /apps/nope /settings; do
		test "$(get $p)" = 303 && has_header Location /login &&
		has_header Content-Security-Policy "default-src '\''self'\''; frame-ancestors '\''none'\''" &&
		test "$(get $p -H "Authorization: Bearer $(cat "$TEST_TMP/api-token")")" = 303 &&
		has_header Location /login &&
		test "$(get $p -H "Cookie: berth_session=0123")" = 303 || exit 1
	done
'

test_expect_success 'the login page: the form, the hidden OTP row, the error line' '
	test "$(get /login)" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<form id=\"login\"" &&
	grep_q "$TEST_TMP/get.out" "<label for=\"name\">" &&
	grep_q "$TEST_TMP/get.out" "<input id=\"password\" name=\"password\" type=\"password\"" &&
	grep_q "$TEST_TMP/get.out" "<p class=\"field\" id=\"otp-row\" hidden><label for=\"otp\">" &&
	grep_q "$TEST_TMP/get.out" "<input id=\"otp\" name=\"otp\" inputmode=\"numeric\"" &&
	grep_q "$TEST_TMP/get.out" "<button type=\"submit\" id=\"login-submit\">" &&
	grep_q "$TEST_TMP/get.out" "<p id=\"login-error\" class=\"error\" role=\"alert\">" &&
	test "$(get /login -b "$TEST_TMP/admin.jar")" = 303 && has_header Location /
'

test_expect_success 'the dashboard lists the apps, their names escaped' '
	test "$(get / -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<main id=\"dashboard\">" &&
	grep_q "$TEST_TMP/get.out" "<table id=\"apps\"" &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"shop\"><td data-label=\"App\"><a href=\"/apps/shop\">shop</a>" &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"blog\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"x&lt;b&gt;&amp;y\">" &&
	! grep -q "<b>" "$TEST_TMP/get.out" &&
	grep_q "$TEST_TMP/get.out" "<a id=\"nav-settings\" href=\"/settings\">" &&
	grep_q "$TEST_TMP/get.out" "<button id=\"logout\" type=\"button\">" &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 200 &&
	grep_q "$TEST_TMP/get.out" "<tr data-app=\"shop\">" &&
	! grep -q "data-app=\"blog\"" "$TEST_TMP/get.out"
'

test_expect_success 'an app page: versions escaped, env names only, domains, deploy, job log' '
	test "$(get /apps/shop -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<main id=\"app\" data-app=\"shop\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-version=\"v2\" class=\"current\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-version=\"v1&lt;script&gt;alert\\(1\\)&lt;/script&gt;\">" &&
	grep_q "$TEST_TMP/get.out" "class=\"rollback\" data-version=\"v1&lt;script&gt;" &&
	! grep -q "class=\"rollback\" data-version=\"v2\"" "$TEST_TMP/get.out" &&
	grep_q "$TEST_TMP/get.out" "img&amp;&lt;i&gt;" &&
	! grep -q "<script>alert" "$TEST_TMP/get.out" &&
	grep_q "$TEST_TMP/get.out" "<li data-key=\"SECRET_KEY\">" &&
	grep_q "$TEST_TMP/get.out" "<li data-domain=\"shop.$T.test\">" &&
	for id in env-form env-key env-save domain-form domain domain-add https deploy-form \
		deploy-file deploy-image deploy-submit job-state; do
		grep_q "$TEST_TMP/get.out" "id=\"$id\"" || exit 1
	done &&
	grep_q "$TEST_TMP/get.out" "<input id=\"env-value\" name=\"value\" type=\"password\"" &&
	grep_q "$TEST_TMP/get.out" "<input type=\"checkbox\" id=\"https\">" &&
	grep_q "$TEST_TMP/get.out" "type=\"file\" accept=\".tar,.tar.gz,.tgz\"" &&
	grep_q "$TEST_TMP/get.out" "<pre id=\"job-log\" aria-live=\"polite\"" &&
	for id in $(grep -o "<input id=\"[^\"]*\"" "$TEST_TMP/get.out" | cut -d\" -f2); do
		grep_q "$TEST_TMP/get.out" "<label for=\"$id\">" || exit 1
	done
'

test_expect_success 'no page ever shows a config value' '
	for jar in admin vic; do
		for p in / /apps/shop /settings /login; do
			get $p -b "$TEST_TMP/$jar.jar" >/dev/null &&
			! grep -q "$SECRET" "$TEST_TMP/get.out" || exit 1
		done
	done
'

test_expect_success 'a viewer sees the app with every change control absent' '
	test "$(get /apps/shop -b "$TEST_TMP/vic.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<main id=\"app\" data-app=\"shop\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-version=\"v2\" class=\"current\">" &&
	grep_q "$TEST_TMP/get.out" "<li data-key=\"SECRET_KEY\">" &&
	# the logs section is for every reader (a search changes nothing): the rest has no control
	sed "/<section id=\"logs\"/,/<\/section>/d" "$TEST_TMP/get.out" >"$TEST_TMP/nologs.out" &&
	grep_q "$TEST_TMP/get.out" "<form id=\"logs-form\" role=\"search\">" &&
	! grep -E "<form|<button type=|id=\"https\"|class=\"(rollback|env-unset|domain-remove)\"" \
		"$TEST_TMP/nologs.out" &&
	test "$(get /apps/blog -b "$TEST_TMP/vic.jar")" = 404 && page_ok &&
	cp "$TEST_TMP/get.out" "$TEST_TMP/blog.out" &&
	test "$(get /apps/nope -b "$TEST_TMP/vic.jar")" = 404 &&
	cmp "$TEST_TMP/blog.out" "$TEST_TMP/get.out"
'

test_expect_success 'settings: 2FA, password, tokens; users for an admin only' '
	test "$(get /settings -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	for id in twofa totp-begin totp-code totp-confirm recovery-codes password tokens users; do
		grep_q "$TEST_TMP/get.out" "id=\"$id\"" || exit 1
	done &&
	grep_q "$TEST_TMP/get.out" "<tr data-user=\"vic\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-token=\"ci\">" &&
	! grep -q "$(cat "$TEST_TMP/api-token")" "$TEST_TMP/get.out" &&
	test "$(get /settings -b "$TEST_TMP/vic.jar")" = 200 &&
	grep_q "$TEST_TMP/get.out" "id=\"twofa\"" &&
	! grep -q "id=\"users\"" "$TEST_TMP/get.out"
'

test_expect_success 'the assets: their types, immutable, the versions the pages link' '
	get / -b "$TEST_TMP/admin.jar" >/dev/null &&
	css=$(grep -o "/assets/panel.css?v=[0-9a-f]*" "$TEST_TMP/get.out") &&
	js=$(grep -o "/assets/panel.js?v=[0-9a-f]*" "$TEST_TMP/get.out") &&
	icon=$(grep -o "/assets/favicon.svg?v=[0-9a-f]*" "$TEST_TMP/get.out") &&
	test "$(get "$css")" = 200 &&
	has_header Content-Type "text/css; charset=utf-8" &&
	has_header Cache-Control "public, max-age=31536000, immutable" &&
	has_header X-Content-Type-Options nosniff &&
	cmp "$TEST_TMP/get.out" "$TOP/web/panel.css" &&
	test "$(get "$js")" = 200 &&
	has_header Content-Type "text/javascript; charset=utf-8" &&
	has_header Cache-Control "public, max-age=31536000, immutable" &&
	cmp "$TEST_TMP/get.out" "$TOP/web/panel.js" &&
	test "$(get "$icon")" = 200 &&
	has_header Content-Type "image/svg+xml" &&
	cmp "$TEST_TMP/get.out" "$TOP/web/favicon.svg" &&
	test "$(get /assets/nope.js)" = 404
'

# post JAR PATH JSON: a POST to the API by the session in JAR (no CSRF token: these read only)
post() {
	curl -s --max-time 10 -b "$1" -o "$TEST_TMP/post.out" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "$3" "$B$2"
}

test_expect_success 'one-click apps: the dashboard links /oneclick for an admin only' '
	test "$(get / -b "$TEST_TMP/admin.jar")" = 200 &&
	grep_q "$TEST_TMP/get.out" "<a id=\"nav-oneclick\" href=\"/oneclick\">One-click apps</a>" &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 200 &&
	! grep -q "nav-oneclick" "$TEST_TMP/get.out"
'

test_expect_success 'one-click apps: /oneclick lists the templates and takes one of your own' '
	test "$(get /oneclick -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<main id=\"oneclick\">" &&
	for n in redis postgres app-postgres static-site; do
		grep_q "$TEST_TMP/get.out" "<li data-template=\"$n\"><span><a href=\"/oneclick\\?template=$n\">" ||
		exit 1
	done &&
	grep_q "$TEST_TMP/get.out" "<textarea id=\"oneclick-yaml\"" &&
	grep_q "$TEST_TMP/get.out" "<input id=\"oneclick-file\" type=\"file\"" &&
	grep_q "$TEST_TMP/get.out" "<div id=\"oneclick-chosen\" hidden></div>" &&
	grep_q "$TEST_TMP/get.out" "<pre id=\"job-log\" aria-live=\"polite\"" &&
	for id in oneclick-file oneclick-yaml; do
		grep_q "$TEST_TMP/get.out" "<label for=\"$id\">" || exit 1
	done
'

test_expect_success 'one-click apps: a shipped template'"'"'s form, labelled, secrets never prefilled' '
	test "$(get "/oneclick?template=redis" -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<form id=\"oneclick-form\" data-template=\"redis\">" &&
	grep_q "$TEST_TMP/get.out" "<a href=\"/oneclick\\?template=redis\" aria-current=\"page\">Redis</a>" &&
	grep_q "$TEST_TMP/get.out" "<label for=\"oc-var-0\">App name</label>" &&
	grep_q "$TEST_TMP/get.out" "<input id=\"oc-var-0\" data-var=\"[$][$]cap_appname\" [^>]* required>" &&
	grep_q "$TEST_TMP/get.out" "data-var=\"[$][$]cap_redis_version\" [^>]* value=\"7\">" &&
	grep_q "$TEST_TMP/get.out" "<input id=\"oc-var-2\" data-var=\"[$][$]cap_redis_password\" aria-describedby=\"oc-var-2-hint\" type=\"password\" autocomplete=\"new-password\">" &&
	grep_q "$TEST_TMP/get.out" "generated at deploy" &&
	! grep -q "value=\"[$][$]cap_gen_random_hex" "$TEST_TMP/get.out" &&
	for id in $(grep -o "<input id=\"[^\"]*\"" "$TEST_TMP/get.out" | cut -d\" -f2); do
		grep_q "$TEST_TMP/get.out" "<label for=\"$id\">" || exit 1
	done &&
	# a regex the browser reads as berthd does becomes a pattern; the others stay with berthd
	test "$(get "/oneclick?template=postgres" -b "$TEST_TMP/admin.jar")" = 200 &&
	grep_q "$TEST_TMP/get.out" "data-var=\"[$][$]cap_postgres_user\" [^>]* pattern=\"\\^\\[a-z_\\]\\[a-z0-9_\\]\\{0,62\\}\\$\" value=\"app\">" &&
	grep -c " pattern=" "$TEST_TMP/get.out" >"$TEST_TMP/count" && test "$(cat "$TEST_TMP/count")" = 3
'

test_expect_success 'one-click apps: an unknown template is 404; not for a non-admin (403); 303 without a session' '
	test "$(get "/oneclick?template=nope" -b "$TEST_TMP/admin.jar")" = 404 && page_ok &&
	test "$(get /oneclick -b "$TEST_TMP/vic.jar")" = 403 && page_ok &&
	grep_q "$TEST_TMP/get.out" "Only an admin" &&
	! grep -q "oneclick-form\|oneclick-yaml" "$TEST_TMP/get.out" &&
	test "$(get /oneclick)" = 303 && has_header Location /login &&
	test "$(get /oneclick -H "Authorization: Bearer $(cat "$TEST_TMP/api-token")")" = 303
'

test_expect_success 'one-click apps: GET /api/v1/oneclick/templates for any user' '
	test "$(get /api/v1/oneclick/templates -b "$TEST_TMP/vic.jar")" = 200 &&
	jq -e "[.templates[].name] | sort == [\"app-postgres\", \"postgres\", \"redis\", \"static-site\"]" \
		"$TEST_TMP/get.out" &&
	jq -e ".templates[] | select(.name == \"redis\") | .displayName == \"Redis\" and (.description | test(\"key-value\"))" \
		"$TEST_TMP/get.out" &&
	test "$(get /api/v1/oneclick/templates -H "Authorization: Bearer $(cat "$TEST_TMP/api-token")")" = 200 &&
	test "$(get /api/v1/oneclick/templates)" = 401
'

test_expect_success 'one-click apps: POST /api/v1/oneclick/form, a shipped or a pasted template' '
	test "$(post "$TEST_TMP/vic.jar" /api/v1/oneclick/form "{\"template\":\"redis\"}")" = 200 &&
	jq -e ".displayName == \"Redis\" and .services == [\"\$\$cap_appname\"] and
		(.instructions.start | test(\"Redis for your apps\")) and
		([.variables[].id] == [\"\$\$cap_appname\", \"\$\$cap_redis_version\", \"\$\$cap_redis_password\"]) and
		(.variables[2] | .secret and .default == \"\$\$cap_gen_random_hex(32)\" and .prefill == null and
			.regex == \"/^[\\\\w.~-]{12,}\$/\" and .pattern == null) and
		(.variables[1] | .label == \"Redis version\" and .default == \"7\" and (.secret | not))" \
		"$TEST_TMP/post.out" &&
	printf "captainVersion: 4\nservices:\n  \$\$cap_appname:\n    image: nginx\ncaproverOneClickApp:\n  displayName: \"<script>x</script>\"\n  variables:\n    - id: \$\$cap_greeting\n      label: \"<b>hi</b>\"\n" >"$TEST_TMP/paste.yml" &&
	test "$(post "$TEST_TMP/admin.jar" /api/v1/oneclick/form "$(jq -Rs "{yaml: .}" "$TEST_TMP/paste.yml")")" = 200 &&
	jq -e ".displayName == \"<script>x</script>\" and .variables[1].label == \"<b>hi</b>\"" "$TEST_TMP/post.out" &&
	has_header Content-Type "application/json"
'

test_expect_success 'one-click apps: a bad template is 400 naming its line; a bad body 400; no such template 404' '
	printf "captainVersion: 4\nservices:\n  web:\n    image: nginx\n    nonsense: 1\n" >"$TEST_TMP/bad.yml" &&
	test "$(post "$TEST_TMP/admin.jar" /api/v1/oneclick/form "$(jq -Rs "{yaml: .}" "$TEST_TMP/bad.yml")")" = 400 &&
	jq -r .error "$TEST_TMP/post.out" >"$TEST_TMP/err" && cat "$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^the template, line 5, column 5: .*nonsense" &&
	test "$(post "$TEST_TMP/admin.jar" /api/v1/oneclick/form "{\"yaml\":\"captainVersion: 3\"}")" = 400 &&
	jq -r .error "$TEST_TMP/post.out" | grep "line 1" &&
	test "$(post "$TEST_TMP/admin.jar" /api/v1/oneclick/form "{}")" = 400 &&
	test "$(post "$TEST_TMP/admin.jar" /api/v1/oneclick/form "{\"template\":\"redis\",\"yaml\":\"x\"}")" = 400 &&
	test "$(post "$TEST_TMP/admin.jar" /api/v1/oneclick/form "{\"template\":3}")" = 400 &&
	test "$(post "$TEST_TMP/admin.jar" /api/v1/oneclick/form "{\"template\":\"nope\"}")" = 404 &&
	test "$(post "" /api/v1/oneclick/form "{\"template\":\"redis\"}")" = 401
'

test_expect_success 'one-click apps: the form'"'"'s deploy, POST /api/v1/oneclick, refuses a value failing its validRegex' '
	code=$(change "$TEST_TMP/admin.jar" POST /api/v1/oneclick \
		"{\"template\":\"redis\",\"values\":{\"\$\$cap_appname\":\"r$T\",\"\$\$cap_redis_version\":\"7 x\"}}") &&
	cat "$TEST_TMP/change.out" &&
	test "$code" = 400 && jq -r .error "$TEST_TMP/change.out" | grep redis_version &&
	! bd apps:list | grep -q "r$T"
'

test_expect_success 'the dashboard: no check of the host yet, then the verdicts of doctor.json' '
	test "$(get / -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "<section id=\"host\"" &&
	grep_q "$TEST_TMP/get.out" "<p id=\"host-checked\">Not checked yet.</p>" &&
	grep_q "$TEST_TMP/get.out" "<button type=\"button\" id=\"host-check\">Check now</button>" &&
	test "$(get /api/v1/server -b "$TEST_TMP/admin.jar")" = 200 &&
	test "$(jq -r .doctor "$TEST_TMP/get.out")" = null &&
	cat >"$BERTHD_STATE_DIR/doctor.json" <<-\EOF &&
	{"checked_at": "2026-01-02T03:04:05Z", "host": "h", "status": "fail", "checks": [
	 {"name": "disk", "status": "fail", "detail": "/ 3% free <b>&amp; low</b>"},
	 {"name": "memory", "status": "warn", "detail": "low headroom"},
	 {"name": "load", "status": "ok", "detail": "0.1"},
	 {"name": "odd", "status": "bad", "detail": "left out"}]}
	EOF
	test "$(get / -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	grep_q "$TEST_TMP/get.out" "Checked at <time datetime=\"2026-01-02T03:04:05Z\">" &&
	grep_q "$TEST_TMP/get.out" "<tr data-check=\"disk\"><td data-label=\"Check\">disk</td><td data-label=\"Verdict\" class=\"verdict-fail\">fail</td>" &&
	grep_q "$TEST_TMP/get.out" "/ 3% free &lt;b&gt;&amp;amp; low&lt;/b&gt;" &&
	grep_q "$TEST_TMP/get.out" "class=\"verdict-warn\">warn</td>" &&
	grep_q "$TEST_TMP/get.out" "class=\"verdict-ok\">ok</td>" &&
	! grep -q "<b>&amp; low" "$TEST_TMP/get.out" &&
	! grep -q "data-check=\"odd\"" "$TEST_TMP/get.out" &&
	test "$(get /api/v1/server -b "$TEST_TMP/admin.jar")" = 200 &&
	test "$(jq -r .domain "$TEST_TMP/get.out")" = "$T.test" &&
	test "$(jq -r .doctor.checked_at "$TEST_TMP/get.out")" = 2026-01-02T03:04:05Z &&
	test "$(jq -r "[.doctor.checks[].status] | join(\",\")" "$TEST_TMP/get.out")" = fail,warn,ok &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 200 &&
	! grep -q "id=\"host\"" "$TEST_TMP/get.out" &&
	test "$(get /api/v1/server -b "$TEST_TMP/vic.jar")" = 403 &&
	# an API token of the admin is the admin (an app token would not be)
	test "$(get /api/v1/server -H "Authorization: Bearer $(cat "$TEST_TMP/api-token")")" = 200
'

test_expect_success 'a check of the host asked for runs in the background and writes doctor.json' '
	test "$(change "$TEST_TMP/vic.jar" POST /api/v1/server/doctor "{}")" = 403 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -b "$TEST_TMP/admin.jar" -X POST \
		-H "Origin: $ORIGIN" -H "Content-Type: application/json" --data-binary "{}" \
		"$B/api/v1/server/doctor")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/doctor "{}")" = 202 &&
	test "$(jq -r .checked_at "$TEST_TMP/change.out")" = 2026-01-02T03:04:05Z &&
	for i in $(seq 120); do
		get /api/v1/server -b "$TEST_TMP/admin.jar" >/dev/null &&
		test "$(jq -r .doctor.checked_at "$TEST_TMP/get.out")" != 2026-01-02T03:04:05Z && break
		sleep 0.5
	done &&
	jq -e ".doctor.checked_at | test(\"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$\")" "$TEST_TMP/get.out" &&
	jq -e ".doctor.status == \"fail\" and (.doctor.checks | length) > 0" "$TEST_TMP/get.out" &&
	jq -e "[.doctor.checks[] | (.name | type) == \"string\" and (.detail | type) == \"string\"
		and (.status | IN(\"ok\", \"warn\", \"fail\"))] | all" "$TEST_TMP/get.out" &&
	test "$(stat -c %a "$BERTHD_STATE_DIR/doctor.json")" = 644 &&
	bd events | grep -q "panel:doctor"
'

test_expect_success 'settings: the root domain and the SSH keys, editable by an admin' '
	test "$(get /settings -b "$TEST_TMP/admin.jar")" = 200 && page_ok &&
	for id in server root-domain-form root-domain key-form key-name key-text key-admin \
		grant-form grant-key grant-app grant-right ssh-keys; do
		grep_q "$TEST_TMP/get.out" "id=\"$id\"" || exit 1
	done &&
	grep_q "$TEST_TMP/get.out" "<input id=\"root-domain\" required [^>]*value=\"$T.test\">" &&
	grep_q "$TEST_TMP/get.out" "reached as APP.DOMAIN from their next deploy" &&
	grep_q "$TEST_TMP/get.out" "<td colspan=\"4\">No SSH keys.</td>" &&
	for id in $(grep -o "<input id=\"[^\"]*\"" "$TEST_TMP/get.out" | cut -d\" -f2); do
		grep_q "$TEST_TMP/get.out" "<label for=\"$id\">" || exit 1
	done &&
	test "$(get /settings -b "$TEST_TMP/vic.jar")" = 200 &&
	! grep -q "id=\"server\"" "$TEST_TMP/get.out"
'

test_expect_success 'the root domain through the API: checked, admins only, CSRF, an event' '
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":\"bad domain\"}")" = 400 &&
	grep_q "$TEST_TMP/change.out" "invalid domain" &&
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":\"*.x.test\"}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":7}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "[]")" = 400 &&
	test "$(change "$TEST_TMP/vic.jar" PUT /api/v1/server/domain "{\"domain\":\"v.test\"}")" = 403 &&
	test "$(curl -s -o /dev/null -w "%{http_code}" -b "$TEST_TMP/admin.jar" -X PUT \
		-H "Origin: $ORIGIN" -H "Content-Type: application/json" \
		--data-binary "{\"domain\":\"v.test\"}" "$B/api/v1/server/domain")" = 403 &&
	test "$(bd domains:report --global --format json 2>/dev/null | jq -r .global_vhost 2>/dev/null ||
		get /api/v1/server -b "$TEST_TMP/admin.jar" >/dev/null; jq -r .domain "$TEST_TMP/get.out")" = "$T.test" &&
	# the same domain again, in capitals: lowercased, set; the panel stays reachable
	test "$(change "$TEST_TMP/admin.jar" PUT /api/v1/server/domain "{\"domain\":\"${T^^}.TEST\"}")" = 200 &&
	test "$(jq -r .domain "$TEST_TMP/change.out")" = "$T.test" &&
	test "$(jq -r .panel "$TEST_TMP/change.out")" = "https://berth.$T.test/" &&
	jq -r .note "$TEST_TMP/change.out" | grep -q "APP.$T.test from their next deploy" &&
	bd events | grep "panel:domains:set-global" | grep -q "user:admin.*$T.test from 127.0.0.1"
'

test_expect_success 'SSH keys through the API: added, granted, revoked, removed; checked' '
	rm -f "$TEST_TMP/k" "$TEST_TMP/k.pub" &&
	ssh-keygen -q -t ed25519 -N "" -C "me@laptop" -f "$TEST_TMP/k" &&
	fp=$(ssh-keygen -l -f "$TEST_TMP/k.pub" | cut -d" " -f2) &&
	key=$(cat "$TEST_TMP/k.pub") &&
	body=$(jq -nc --arg k "$key" "{name: \"laptop@$T\", key: \$k}") &&
	test "$(change "$TEST_TMP/vic.jar" POST /api/v1/server/keys "$body")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x\"}")" = 400 &&
	grep_q "$TEST_TMP/change.out" "key: expected one public key" &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x y\",\"key\":\"$key\"}")" = 400 &&
	grep_q "$TEST_TMP/change.out" "invalid key name" &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x\",\"key\":\"ssh-ed25519 AAAA\"}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "{\"name\":\"x\",\"key\":\"$key\",\"admin\":1}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "$body")" = 201 &&
	test "$(jq -r .fingerprint "$TEST_TMP/change.out")" = "$fp" &&
	test "$(jq -r .admin "$TEST_TMP/change.out")" = false &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys "$body")" = 409 &&
	grep -q "$(cut -d" " -f2 "$TEST_TMP/k.pub") laptop@$T" "$BERTHD_STATE_DIR/ssh/authorized_keys" &&
	test "$(change "$TEST_TMP/admin.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"shop\",\"right\":\"all\"}")" = 400 &&
	test "$(change "$TEST_TMP/admin.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"nope\",\"right\":\"read\"}")" = 404 &&
	test "$(change "$TEST_TMP/admin.jar" POST /api/v1/server/keys/nokey/grants "{\"app\":\"shop\",\"right\":\"read\"}")" = 404 &&
	test "$(change "$TEST_TMP/vic.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"shop\",\"right\":\"deploy\"}")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" POST "/api/v1/server/keys/laptop@$T/grants" "{\"app\":\"shop\",\"right\":\"deploy\"}")" = 200 &&
	bd ssh-keys:list --format json | jq -e ".[] | select(.name == \"laptop@$T\") | .rights.shop == \"deploy\"" &&
	test "$(get /api/v1/server -b "$TEST_TMP/admin.jar")" = 200 &&
	jq -e ".keys[] | select(.name == \"laptop@$T\") | .fingerprint == \"$fp\" and .rights.shop == \"deploy\" and .admin == false" "$TEST_TMP/get.out" &&
	! grep -q "$(cut -d" " -f2 "$TEST_TMP/k.pub")" "$TEST_TMP/get.out" &&
	test "$(get /settings -b "$TEST_TMP/admin.jar")" = 200 &&
	grep -qF "<tr data-key-name=\"laptop@$T\"><td data-label=\"Name\">laptop@$T</td><td data-label=\"Fingerprint\"><code>$fp</code></td><td data-label=\"Rights\">shop: deploy <button type=\"button\" class=\"grant-revoke\" data-key-name=\"laptop@$T\" data-app=\"shop\">" "$TEST_TMP/get.out" &&
	! grep -q "$(cut -d" " -f2 "$TEST_TMP/k.pub")" "$TEST_TMP/get.out" &&
	test "$(change "$TEST_TMP/admin.jar" DELETE "/api/v1/server/keys/laptop@$T/grants/shop")" = 200 &&
	bd ssh-keys:list --format json | jq -e ".[] | select(.name == \"laptop@$T\") | .rights == {}" &&
	test "$(change "$TEST_TMP/admin.jar" DELETE /api/v1/server/keys/nokey)" = 404 &&
	test "$(change "$TEST_TMP/vic.jar" DELETE "/api/v1/server/keys/laptop@$T")" = 403 &&
	test "$(change "$TEST_TMP/admin.jar" DELETE "/api/v1/server/keys/laptop%40$T")" = 200 &&
	! grep -q "laptop@$T" "$BERTHD_STATE_DIR/ssh/authorized_keys" &&
	test "$(change "$TEST_TMP/admin.jar" DELETE "/api/v1/server/keys/laptop@$T")" = 404 &&
	bd events >"$TEST_TMP/events" &&
	for a in add grant revoke remove; do
		grep "panel:ssh-keys:$a" "$TEST_TMP/events" | grep -q "user:admin.*laptop@$T.* from 127.0.0.1" || exit 1
	done
'

test_expect_success 'logging out ends the session: the pages send it to /login' '
	test "$(change "$TEST_TMP/vic.jar" POST /api/v1/logout "{}")" = 200 &&
	test "$(get / -b "$TEST_TMP/vic.jar")" = 303 && has_header Location /login
'

test_done
