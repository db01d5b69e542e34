#!/usr/bin/env bash
# The test app that later tests deploy: every endpoint, graceful shutdown,
# WebSocket and SSE, checked as a plain process on loopback, then in its
# FROM scratch image on the lab's dockerd.
set -u
top=$(cd "$(dirname "$0")/../.." && pwd)
exec "$top/tests/fixtures/testapp/check-testapp" "$top/build/testapp"
