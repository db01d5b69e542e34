#!/usr/bin/env bash
# berthd's one-click app commands without a lab: oneclick:list shows the
# shipped templates, oneclick:show a template's form, oneclick:plan the apps
# a filled form gives, secrets masked; a template may come on stdin, and a
# bad one or a bad value is refused with what was expected. Nothing changes.
. "$(dirname "$0")/lib.sh"

BERTHD=${BERTHD_BIN:-$TOP/bin/berthd}
export BERTHD_STATE_DIR=$TEST_TMP/state
export BERTHD_SSH_COMMAND=/home/berth/berthd-ssh
unset BERTHD_SSH_UID BERTHD_SSH_GID BERTHD_KEY SSH_ORIGINAL_COMMAND

bd() { "$BERTHD" "$@"; }
# as KEY 'COMMAND LINE': what sshd runs for a client of that key
as() { BERTHD_KEY=$1 SSH_ORIGINAL_COMMAND=$2 "$BERTHD" ssh; }

for k in admin1 limited; do
	ssh-keygen -q -t ed25519 -N '' -C "$k@test" -f "$TEST_TMP/$k"
done

cat >"$TEST_TMP/custom.yml" <<'YML'
captainVersion: 4
services:
  $$cap_appname:
    image: busybox:$$cap_tag
    command: httpd -f -p 8080
    environment:
      GREETING: hello from $$cap_appname
      API_TOKEN: $$cap_gen_random_hex(24)
    ports: ['8080:8080']
    caproverExtra:
      containerHttpPort: '8080'
caproverOneClickApp:
  displayName: Custom
  variables:
    - id: $$cap_tag
      label: Tag
      defaultValue: '1.36'
      validRegex: /^\d+(\.\d+)*$/
  instructions:
    start: Just busybox.
    end: $$cap_appname is up.
YML

test_expect_success 'setup: keys' '
	bd ssh-keys:add admin1 <"$TEST_TMP/admin1.pub" &&
	bd ssh-keys:add --limited limited <"$TEST_TMP/limited.pub"
'

test_expect_success 'help lists the oneclick commands' '
	as limited help >"$TEST_TMP/help" &&
	for c in oneclick:list oneclick:show oneclick:plan oneclick:deploy; do
		grep_q "$TEST_TMP/help" "^    $c " || exit 1
	done
'

test_expect_success 'oneclick:list shows the shipped templates, to any key' '
	as limited oneclick:list >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^=====> One-click app templates" &&
	grep_q "$TEST_TMP/out" "^       postgres +PostgreSQL: " &&
	grep_q "$TEST_TMP/out" "^       redis +Redis: " &&
	grep_q "$TEST_TMP/out" "^       static-site +Static site: " &&
	test_must_fail as limited "oneclick:list extra" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: .*oneclick:list"
'

test_expect_success 'oneclick:show lists the variables, the app name first' '
	as limited "oneclick:show postgres" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^=====> PostgreSQL" &&
	test "$(grep -E "^       [a-z_]+$" "$TEST_TMP/out" | head -n 1)" = "       appname" &&
	grep_q "$TEST_TMP/out" "^       postgres_password$" &&
	grep_q "$TEST_TMP/out" "default: +\\\$\\\$cap_gen_random_hex\\(32\\)" &&
	grep_q "$TEST_TMP/out" "must match: +/\\^\\(\\[\\^\\\\s\\^\\\\/\\]\\)\\+\\$/" &&
	grep_q "$TEST_TMP/out" "secret: +yes" &&
	test_must_fail as limited "oneclick:show wordpress" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^ !     no template .wordpress. \\(see oneclick:list" &&
	test_must_fail as limited "oneclick:show" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: .*oneclick:show NAME"
'

test_expect_success 'oneclick:plan fills a template and masks its secrets' '
	as limited "oneclick:plan postgres appname=pg postgres_user=bob" >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "^-----> Plan for PostgreSQL: 1 app" &&
	grep_q "$TEST_TMP/out" "^=====> pg: service, not exposed" &&
	grep_q "$TEST_TMP/out" "image: +postgres:16$" &&
	grep_q "$TEST_TMP/out" "POSTGRES_USER=bob$" &&
	grep_q "$TEST_TMP/out" "POSTGRES_PASSWORD=\\(secret\\) \\*\\*\\*$" &&
	grep_q "$TEST_TMP/out" "volume: +pg-data:/var/lib/postgresql/data$" &&
	grep_q "$TEST_TMP/out" "postgres://bob:\\*\\*\\*@pg:5432/app" &&
	! grep -qE "[0-9a-f]{32}" "$TEST_TMP/out" &&
	as limited "oneclick:plan postgres appname=pg postgres_password=hunter2hunter2" \
		>"$TEST_TMP/out" &&
	! grep -q hunter2 "$TEST_TMP/out"
'

test_expect_success 'oneclick:plan puts dependencies first and needs a global domain for it' '
	test_must_fail as admin1 "oneclick:plan app-postgres appname=shop app_image=me/shop:1" \
		2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "root_domain, but no global domain is set \\(domains:set-global" &&
	bd domains:set-global example.test >/dev/null &&
	as admin1 "oneclick:plan app-postgres appname=shop app_image=me/shop:1 app_port=8080" \
		>"$TEST_TMP/out" &&
	test "$(grep "^=====> " "$TEST_TMP/out" | cut -d: -f1)" = "$(printf "=====> shop-db\n=====> shop")" &&
	grep_q "$TEST_TMP/out" "^=====> shop: web app, container port 8080 behind berth-proxy" &&
	grep_q "$TEST_TMP/out" "depends on: +shop-db$" &&
	grep_q "$TEST_TMP/out" "DATABASE_URL=\\(secret\\) postgres://app:\\*\\*\\*@shop-db:5432/app$" &&
	grep_q "$TEST_TMP/out" "http://shop.example.test/"
'

test_expect_success 'oneclick:plan refuses bad values, naming what was expected' '
	test_must_fail as limited "oneclick:plan postgres" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^ !     appname is required" &&
	test_must_fail as limited "oneclick:plan postgres appname=Bad" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid app name .Bad." &&
	test_must_fail as limited "oneclick:plan postgres appname=pg postgres_user=A-B" \
		2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "postgres_user \\(Database user\\): .A-B. does not match" &&
	test_must_fail as limited "oneclick:plan postgres appname=pg postgres_password=short" \
		2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "postgres_password \\(Database password\\): the value given does not match" &&
	! grep -q short "$TEST_TMP/err" &&
	test_must_fail as limited "oneclick:plan postgres appname=pg nope=1" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" ".nope. is not a variable of the template" &&
	test_must_fail as limited "oneclick:plan postgres appname=pg junk" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "invalid argument .junk.: expected NAME=VALUE"
'

test_expect_success 'a template on stdin: shown, planned, its ports ignored with a warning' '
	as limited "oneclick:show -" <"$TEST_TMP/custom.yml" >"$TEST_TMP/out" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/out" "^=====> Custom" &&
	grep_q "$TEST_TMP/out" "^       tag$" &&
	grep_q "$TEST_TMP/err" "warning: stdin:9: services.\\\$\\\$cap_appname.ports ignored" &&
	as limited "oneclick:plan - appname=web tag=1.37" <"$TEST_TMP/custom.yml" >"$TEST_TMP/out" \
		2>/dev/null &&
	grep_q "$TEST_TMP/out" "^=====> web: web app, container port 8080" &&
	grep_q "$TEST_TMP/out" "image: +busybox:1.37$" &&
	grep_q "$TEST_TMP/out" "GREETING=hello from web$" &&
	grep_q "$TEST_TMP/out" "API_TOKEN=\\(secret\\) \\*\\*\\*$" &&
	grep_q "$TEST_TMP/out" "^       web is up\\.$" &&
	test_must_fail as limited "oneclick:plan - appname=web tag=latest" \
		<"$TEST_TMP/custom.yml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "tag \\(Tag\\): .latest. does not match"
'

test_expect_success 'bad templates on stdin are refused with their line' '
	sed "s/    command:/    networks: [x]\\n    command:/" "$TEST_TMP/custom.yml" >"$TEST_TMP/bad1.yml" &&
	test_must_fail as limited "oneclick:show -" <"$TEST_TMP/bad1.yml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "^ !     stdin:5:5: services.\\\$\\\$cap_appname: unknown key .networks." &&
	sed "s|    command:|    volumes: [\"/:/host\"]\\n    command:|" "$TEST_TMP/custom.yml" \
		>"$TEST_TMP/bad2.yml" &&
	test_must_fail as limited "oneclick:show -" <"$TEST_TMP/bad2.yml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "stdin:5:.*mounts a host path: only named volumes" &&
	sed "s|validRegex: .*|validRegex: /(?<=a)b/|" "$TEST_TMP/custom.yml" >"$TEST_TMP/bad3.yml" &&
	test_must_fail as limited "oneclick:show -" <"$TEST_TMP/bad3.yml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "validRegex: regex /\\(\\?<=a\\)b/: lookarounds" &&
	printf "captainVersion: 3\\nservices: {}\\n" >"$TEST_TMP/bad4.yml" &&
	test_must_fail as limited "oneclick:show -" <"$TEST_TMP/bad4.yml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "captainVersion: expected 4"
'

test_expect_success '--format json: the form and the plan, secrets masked' '
	as limited "--format json oneclick:list" >"$TEST_TMP/out" &&
	jq -e "map(.name) | index(\"postgres\") != null" "$TEST_TMP/out" >/dev/null &&
	as limited "--format json oneclick:show postgres" >"$TEST_TMP/out" &&
	test "$(jq -r ".variables[0].id, .variables[0].required" "$TEST_TMP/out")" = "$(printf "appname\ntrue")" &&
	test "$(jq -r ".variables[] | select(.id == \"postgres_password\") | .secret" "$TEST_TMP/out")" = true &&
	as limited "--format json oneclick:plan postgres appname=pg postgres_password=hunter2hunter2" \
		>"$TEST_TMP/out" &&
	test "$(jq -r ".apps[0].env[] | select(.key == \"POSTGRES_PASSWORD\") | .value, .secret" "$TEST_TMP/out")" = "$(printf "***\ntrue")" &&
	test "$(jq -r ".apps[0].name, .apps[0].web" "$TEST_TMP/out")" = "$(printf "pg\nfalse")" &&
	! grep -q hunter2 "$TEST_TMP/out"
'

test_expect_success 'oneclick:deploy is an admin'"'"'s, and refuses bad values before making anything' '
	test_must_fail as limited "oneclick:deploy redis appname=rd" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "permission denied" &&
	test_must_fail as admin1 "oneclick:deploy - appname=web tag=latest" \
		<"$TEST_TMP/custom.yml" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "tag \\(Tag\\): .latest. does not match" &&
	test_must_fail as admin1 "oneclick:deploy redis appname=Bad_Name" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "appname" &&
	test_must_fail as admin1 "oneclick:deploy redis" 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "usage: .*oneclick:deploy NAME"
'

test_expect_success 'nothing was created' '
	bd apps:list >"$TEST_TMP/out" &&
	grep_q "$TEST_TMP/out" "You haven.t deployed any applications yet"
'

test_done
