#!/usr/bin/env bash
# A local registry (registry.server: localhost:PORT), as Kamal 2 has it:
# `berth registry setup|remove` run the container berth-docker-registry on
# this machine, builds push to it, and the hosts pull from it through an ssh
# remote forward held by the pull's own ssh command.
#
# The lab has no registry:3 image and cannot download one: the container
# runs an image made here from the docker-registry Debian package's binary
# (the lab's own registry) on debian:bookworm-slim, named with
# BERTH_REGISTRY_IMAGE.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/proxy-lib.sh"
. "$TOP/tests/e2e/deploy-lib.sh"

# a port free here and on the hosts (each host's 127.0.0.1:5000 is the lab's registry)
PORT=$((21000 + $$ % 9000))
REG_IMAGE=berth-e2e-registry:$T
export BERTH_REGISTRY_IMAGE=$REG_IMAGE

mkdir -p "$TEST_TMP/regimg"
cp /usr/bin/docker-registry "$TEST_TMP/regimg/"
cat >"$TEST_TMP/regimg/config.yml" <<'YML'
version: 0.1
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
YML
cat >"$TEST_TMP/regimg/Dockerfile" <<'DF'
FROM debian:bookworm-slim
COPY docker-registry /usr/bin/docker-registry
COPY config.yml /etc/docker/registry/config.yml
VOLUME /var/lib/registry
EXPOSE 5000
CMD ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]
DF
docker build -q -t "$REG_IMAGE" "$TEST_TMP/regimg" >/dev/null 2>&1
test_cleanup "docker rmi -f $REG_IMAGE"
test_cleanup "docker rm -f berth-docker-registry"
for _h in "${hosts[@]}"; do
	test_cleanup "on $_h 'docker rmi -f \$(docker images -q localhost:$PORT/$T)'"
done
test_cleanup "docker rmi -f \$(docker images -q localhost:$PORT/$T)"

write_config "registry:" "  server: localhost:$PORT"
# the image is named after the service, as Kamal names it with a local registry
sed -i "/^image: /d" "$APP/config/deploy.yml"

# dockerfile V: the app's Dockerfile, answering with version V
dockerfile() {
	printf 'FROM berth-testapp:latest\nLABEL berth-e2e-test=%s\nENV APP_VERSION=%s\n' "$T" "$1" \
		>"$APP/Dockerfile"
}

test_expect_success 'login and logout refuse a local registry and name setup and remove' '
	test_must_fail berth registry login 2>err &&
	grep_q err "names a local registry \(localhost:$PORT\).*berth registry setup" &&
	test_must_fail berth registry logout 2>err &&
	grep_q err "berth registry remove"
'

test_expect_success 'setup runs the registry here, on the loopback, once' '
	berth registry setup 2>err &&
	grep_q err "local registry created: berth-docker-registry \($REG_IMAGE\) on 127.0.0.1:$PORT" &&
	test "$(docker inspect -f "{{.State.Running}}" berth-docker-registry)" = true &&
	docker port berth-docker-registry 5000 | grep -qx "127.0.0.1:$PORT" &&
	curl -sf "http://127.0.0.1:$PORT/v2/" &&
	berth registry setup 2>err &&
	grep_q err "local registry already running" &&
	docker stop berth-docker-registry >/dev/null &&
	berth registry setup 2>err &&
	grep_q err "local registry started" &&
	test "$(docker ps -q --filter name=^berth-docker-registry$ | wc -l)" = 1
'

test_expect_success 'a registry container on another port is not taken for ours' '
	sed -i "s/localhost:$PORT/localhost:$((PORT + 1))/" "$APP/config/deploy.yml" &&
	test_must_fail berth registry setup 2>err &&
	sed -i "s/localhost:$((PORT + 1))/localhost:$PORT/" "$APP/config/deploy.yml" &&
	grep_q err "publishes port $PORT, not $((PORT + 1))"
'

test_expect_success 'build push sends the image to the local registry' '
	dockerfile r1 &&
	berth build push --version r1 >out 2>err &&
	test "$(tail -n 1 out)" = "localhost:$PORT/$T:r1" &&
	curl -sf "http://127.0.0.1:$PORT/v2/$T/tags/list" | grep -q "\"r1\""
'

test_expect_success 'build pull: a host pulls through a forward that ends with the pull' '
	berth build pull --version r1 -h "$h1" -v >out 2>err &&
	grep_q err "run on $h1 \(registry port forwarded\): docker pull --quiet localhost:$PORT/$T:r1" &&
	on "$h1" docker image inspect "localhost:$PORT/$T:r1" >/dev/null &&
	! on "$h2" docker image inspect "localhost:$PORT/$T:r1" >/dev/null 2>&1 &&
	# nothing listens on the host port once the pull is done
	! on "$h1" "curl -s --max-time 2 http://127.0.0.1:$PORT/v2/" >/dev/null
'

test_expect_success 'deploy builds, pushes here and pulls on every host through the forward' '
	dockerfile r2 &&
	berth deploy --version r2 >out 2>&1 || { cat out; exit 1; }
	cat out &&
	grep -q "pushed localhost:$PORT/$T:r2" out &&
	grep -q "localhost:$PORT/$T:r2 pulled on 2 host(s)" out &&
	test "$(serving $h1)" = r2 && test "$(serving $h2)" = r2 &&
	test "$(running $h2 worker)" = "$T-worker-r2"
'

test_expect_success 'a port taken on a host fails the pull there, saying so' '
	# another forward of the same port holds it on the host
	ssh -F "$LAB_SSH_CONFIG" -o ControlPath=none -o ExitOnForwardFailure=yes -f -N \
		-R "127.0.0.1:$PORT:127.0.0.1:$PORT" "$h1" &&
	holder=$(pgrep -n -f -- "-R 127.0.0.1:$PORT:127.0.0.1:$PORT $h1") &&
	test_must_fail berth build pull --version r1 -h "$h1" 2>err;
	kill "$holder" &&
	grep_q err "host .$h1.: cannot forward the local registry.s port $PORT to it: something there listens on 127.0.0.1:$PORT"
'

test_expect_success 'remove takes the container away, and again is fine' '
	berth registry remove -L 2>err &&
	grep_q err "nothing to do with -L" &&
	berth registry remove 2>err &&
	grep_q err "removed the local registry berth-docker-registry" &&
	! docker container inspect berth-docker-registry >/dev/null 2>&1 &&
	berth registry remove 2>err &&
	grep_q err "no local registry container berth-docker-registry here"
'

test_done
