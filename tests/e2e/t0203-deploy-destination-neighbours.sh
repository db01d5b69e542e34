#!/usr/bin/env bash
# A plain deploy and a destination of the same service on one host: deploying
# one leaves the other's containers alone.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

cp "$APP/.berth/secrets" "$APP/.berth/secrets.staging"
STAGING_HOST=staging.$T.test
make_version v1
make_version v2
test_cleanup "on $h3 docker exec berth-proxy berth-proxy remove $T-web-staging"

cat >"$APP/config/deploy.yml" <<YML
service: $T
image: $T
builder:
  arch: amd64
servers:
  web:
    hosts: [$h3]
proxy:
  host: $T.test
  app_port: 80
  healthcheck:
    path: /up
    interval: 1
readiness_delay: 1
deploy_timeout: 15
drain_timeout: 1
retain_containers: 2
run_directory: $RUN_DIR
ssh:
  config: $LAB_SSH_CONFIG
env:
  secret: [SECRET_TOKEN]
YML
cat >"$APP/config/deploy.staging.yml" <<YML
proxy:
  host: $STAGING_HOST
YML

# serving_host HOST NAME: the version that answers on HOST's port 80 for Host: NAME.
serving_host() {
	curl -s --max-time 5 -H "Host: $2" "http://$(addr_of "$1")/" |
		sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'
}

# state HOST: "name state" of every container of $T on HOST.
state() {
	on "$1" "docker ps -a --filter label=service=$T --format '{{.Names}} {{.State}}'" | sort
}

test_expect_success 'the plain deploy and staging on one host' '
	berth deploy --version v1 -P >out 2>&1 || { cat out; exit 1; }
	berth deploy -d staging --version v1 -P >out 2>&1 || { cat out; exit 1; }
	test "$(serving $h3)" = v1 && test "$(serving_host $h3 $STAGING_HOST)" = v1
'

test_expect_success 'a plain deploy leaves the staging containers running' '
	berth deploy --version v2 -P >out 2>&1 || { cat out; exit 1; }
	cat out && state $h3 &&
	test "$(serving $h3)" = v2 &&
	test "$(serving_host $h3 $STAGING_HOST)" = v1 &&
	state $h3 | grep -qx "$T-web-staging-v1 running"
'

test_expect_success 'a plain deploy prunes none of the staging containers' '
	berth deploy -d staging --version v2 -P >out 2>&1 || { cat out; exit 1; }
	berth deploy --version v1 -P >out 2>&1 || { cat out; exit 1; }
	cat out && state $h3 &&
	# retain_containers 2: staging keeps v2 running and v1 stopped
	state $h3 | grep -qx "$T-web-staging-v2 running" &&
	state $h3 | grep -q "^$T-web-staging-v1 "
'

test_done
