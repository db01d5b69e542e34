#!/usr/bin/env bash
# berth config shows the config as berth reads it and never a secret value,
# in either format; berth init writes what it says and overwrites nothing.
# Needs no lab: everything happens in a temporary project.
. "$(dirname "$0")/lib.sh"

P=$TEST_TMP/project
mkdir -p "$P/config" "$P/.kamal"
cat >"$P/config/deploy.yml" <<'YML'
service: shop
image: acme/shop
builder:
  arch: amd64
servers:
  web:
    - 10.0.0.1
  workers:
    hosts:
      - 10.0.0.2
    cmd: bin/jobs
proxy:
  host: shop.example.com
  app_port: 3000
registry:
  server: ghcr.io
  username: acme-bot
  password:
    - KAMAL_REGISTRY_PASSWORD
env:
  clear:
    ECHOED: <%= ENV.fetch("T0020_TOKEN") %>
  secret:
    - DB_PASSWORD
    - DATABASE_URL
    - FROM_COMMAND
    - RENAMED:FROM_ENV
YML
cat >"$P/.kamal/secrets" <<'SEC'
KAMAL_REGISTRY_PASSWORD=reg-Secret-4711
DB_PASSWORD='db-Secret-0815'
DATABASE_URL="postgres://shop:${DB_PASSWORD}@db/shop"
FROM_COMMAND=$(printf 'cmd-%s' Secret-2342 | tr a-z A-Z)
FROM_ENV=$T0020_TOKEN
SEC
export T0020_TOKEN=env-Secret-1234

# ECHOED is a clear value: shown as it is, though a secret has the same value
secret_values='reg-Secret-4711|db-Secret-0815|postgres://shop:db-Secret|CMD-SECRET-2342'

test_expect_success 'berth config prints the config as YAML' '
	(cd "$P" && "$BERTH" config) >"$TEST_TMP/out.yml" &&
	grep_q "$TEST_TMP/out.yml" "^service: shop$" &&
	grep_q "$TEST_TMP/out.yml" "^  workers:$" &&
	grep_q "$TEST_TMP/out.yml" "shop.example.com" &&
	grep_q "$TEST_TMP/out.yml" "RENAMED:FROM_ENV"
'

test_expect_success 'berth config --json prints the same config as JSON' '
	(cd "$P" && "$BERTH" config --json) >"$TEST_TMP/out.json" &&
	jq -e ".service == \"shop\" and .servers.workers.cmd == \"bin/jobs\"" "$TEST_TMP/out.json" &&
	jq -e ".registry.password == \"[REDACTED]\"" "$TEST_TMP/out.json" &&
	jq -e ".env.secret | index(\"DB_PASSWORD\") != null" "$TEST_TMP/out.json"
'

test_expect_success 'no secret value appears in either output' '
	for f in out.yml out.json; do
		if grep -En "$secret_values" "$TEST_TMP/$f"; then
			echo "a secret value leaked into $f"
			exit 1
		fi
	done &&
	grep_q "$TEST_TMP/out.json" "REDACTED" &&
	grep_q "$TEST_TMP/out.yml" "ECHOED: env-Secret-1234"
'

test_expect_success 'a missing secret stops a deploy early, naming it and the files' '
	printf "service: shop\nimage: acme/shop\nservers: [10.0.0.1]\nbuilder: {arch: amd64}\nenv:\n  secret: [NOPE]\n" \
		>"$TEST_TMP/deploy-missing.yml" &&
	(cd "$P" && "$BERTH" config -c ../deploy-missing.yml) >/dev/null &&
	(cd "$P" && test_must_fail "$BERTH" deploy -c ../deploy-missing.yml) 2>"$TEST_TMP/err" &&
	grep_q "$TEST_TMP/err" "NOPE" &&
	grep_q "$TEST_TMP/err" "\.kamal/secrets"
'

test_expect_success 'berth init writes a config, secrets and hooks and says so' '
	mkdir "$TEST_TMP/new" &&
	(cd "$TEST_TMP/new" && "$BERTH" init) >"$TEST_TMP/init.out" &&
	for f in config/deploy.yml .berth/secrets .berth/hooks/pre-connect.sample \
		.berth/hooks/pre-build.sample .berth/hooks/pre-deploy.sample \
		.berth/hooks/post-deploy.sample .berth/hooks/pre-app-boot.sample \
		.berth/hooks/post-app-boot.sample .berth/hooks/pre-proxy-reboot.sample \
		.berth/hooks/post-proxy-reboot.sample; do
		test -f "$TEST_TMP/new/$f" && grep_q "$TEST_TMP/init.out" "wrote $f"
	done &&
	test "$(stat -c %a "$TEST_TMP/new/.berth/secrets")" = 600 &&
	! grep -v "^#" "$TEST_TMP/new/.berth/secrets" | grep -q . &&
	(cd "$TEST_TMP/new" && "$BERTH" config --json) >"$TEST_TMP/new.json" &&
	jq -e ".service == \"new\"" "$TEST_TMP/new.json"
'

test_expect_success 'berth init refuses to overwrite' '
	echo "# mine" >>"$TEST_TMP/new/config/deploy.yml" &&
	cp "$TEST_TMP/new/config/deploy.yml" "$TEST_TMP/before.yml" &&
	(cd "$TEST_TMP/new" && test_must_fail "$BERTH" init) >"$TEST_TMP/init2.out" 2>&1 &&
	cmp "$TEST_TMP/before.yml" "$TEST_TMP/new/config/deploy.yml" &&
	grep_q "$TEST_TMP/init2.out" "config/deploy.yml exists, left alone" &&
	grep_q "$TEST_TMP/init2.out" "nothing written"
'

test_done
