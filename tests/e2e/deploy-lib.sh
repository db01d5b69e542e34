# Sourced by the release engine's tests (after lib.sh and proxy-lib.sh): an
# app project in $TEST_TMP/app for service $T, versions of the test app as
# local images $T:VERSION, and helpers to look at the lab's hosts.
lab_env
export DOCKER_HOST=$LAB_LOCAL_DOCKER DOCKER_BUILDKIT=0
read -r -a hosts <<<"$LAB_HOSTS"
h1=${hosts[0]} h2=${hosts[1]} h3=${hosts[2]}
APP=$TEST_TMP/app
mkdir -p "$APP/config" "$APP/.berth"
# Each lab host has its own /run: state kept there is per host, as on real servers.
RUN_DIR=/run/berth-$T
SECRET_VALUE="s3cr3t-$T-$RANDOM$RANDOM"
printf 'SECRET_TOKEN=%s\n' "$SECRET_VALUE" >"$APP/.berth/secrets"
chmod 600 "$APP/.berth/secrets"

# on HOST ARGS...: runs a command on a lab host over ssh.
on() {
	local h=$1
	shift
	ssh -F "$LAB_SSH_CONFIG" "$h" "$@"
}
# addr_of HOST: the lab host's address.
addr_of() {
	local n=${1#lab-h}
	eval echo "\$LAB_H${n}_ADDR"
}

for _h in "${hosts[@]}"; do
	test_cleanup "on $_h 'docker rm -f \$(docker ps -aq --filter label=service=$T) ; docker rmi -f \$(docker images -q $T) ; docker exec berth-proxy berth-proxy remove $T-web ; rm -rf $RUN_DIR'"
done

# make_version V [NAME=VALUE...]: the local image $T:V, the test app answering
# with version V (and these environment variables). The label makes the image's
# ID this test's own: the same build in another test file would get the same ID,
# and a `docker rmi -f ID` there would untag this one too.
make_version() {
	local v=$1 kv
	shift
	mkdir -p "$TEST_TMP/img-$v"
	{
		echo "FROM berth-testapp:latest"
		echo "LABEL berth-e2e-test=$T"
		echo "ENV APP_VERSION=$v"
		for kv in "$@"; do echo "ENV $kv"; done
	} >"$TEST_TMP/img-$v/Dockerfile"
	docker build -q -t "$T:$v" "$TEST_TMP/img-$v" >/dev/null 2>&1
	test_cleanup "docker rmi -f $T:$v"
}

# accessory_image IMAGE: the test app with a static busybox at /busybox and
# /bin/sh (a health-cmd runs under it), labelled as this test's, built and
# pushed to the lab's registry as IMAGE (removed here at the end).
accessory_image() {
	mkdir -p "$TEST_TMP/acc-img"
	cp "$(command -v busybox)" "$TEST_TMP/acc-img/busybox"
	printf 'FROM berth-testapp:latest\nLABEL berth-e2e-test=%s\nCOPY busybox /busybox\nCOPY busybox /bin/sh\n' \
		"$T" >"$TEST_TMP/acc-img/Dockerfile"
	docker build -q -t "$1" "$TEST_TMP/acc-img" >/dev/null
	docker push -q "$1" >/dev/null
	test_cleanup "docker rmi -f $1"
}

# write_config [YAML...]: config/deploy.yml for service $T: a proxied web role
# on lab-h1 and lab-h2 and a worker role on lab-h2, plus the lines given.
write_config() {
	{
		cat <<YML
service: $T
image: $T
builder:
  arch: amd64
servers:
  web:
    hosts: [$h1, $h2]
  worker:
    hosts: [$h2]
    cmd: --port 8080
    proxy: false
proxy:
  host: $T.test
  app_port: 80
  healthcheck:
    path: /up
    interval: 1
readiness_delay: 1
deploy_timeout: 15
drain_timeout: 2
retain_containers: 3
run_directory: $RUN_DIR
ssh:
  config: $LAB_SSH_CONFIG
env:
  clear:
    MODE: e2e
  secret: [SECRET_TOKEN]
YML
		printf '%s\n' "$@"
	} >"$APP/config/deploy.yml"
}

# The Host header of the app's requests (every test app has its own host name).
HOST_H="Host: $T.test"

# berth ARGS...: the CLI, run in the project.
berth() { (cd "$APP" && "$BERTH" "$@"); }

# serving HOST: the version that answers on HOST's port 80.
serving() {
	curl -s --max-time 5 -H "Host: $T.test" "http://$(addr_of "$1")/" | sed -n 's/^testapp version=\([^ ]*\) .*/\1/p'
}

# running HOST ROLE: the names of the role's running containers on HOST.
running() {
	on "$1" docker ps --filter "label=service=$T" --filter "label=role=$2" --format '{{.Names}}' | sort
}

# states HOST: "name state" of every container of the app on HOST.
states() {
	on "$1" "docker ps -a --filter label=service=$T --format '{{.Names}} {{.State}}'" | sort
}
