#!/usr/bin/env bash
# e2e.sh COMPOSE: start the default profile, wait until every service is
# healthy, check each from the host (HTTP /readyz, gRPC health through the
# binary's own healthcheck, Connect JSON GetInfo), then tear everything down.
set -euo pipefail
compose=${1:-docker-compose}
cd "$(dirname "$0")/.."
export COMPOSE_PROJECT_NAME=photoncloud-e2e
declare -A ports=([chainfire]=2379 [iam]=8090 [flaredb]=20160)

cleanup() { $compose down -v --remove-orphans >/dev/null 2>&1 || true; }
trap cleanup EXIT
cleanup
$compose up -d
deploy/wait-healthy.sh chainfire iam flaredb

fail=0
for svc in chainfire iam flaredb; do
  port=${ports[$svc]}
  if ! curl -fsS "http://127.0.0.1:$port/readyz" >/dev/null; then
    echo "FAIL $svc: /readyz from the host"; fail=1; continue
  fi
  if ! bin/$svc healthcheck --addr "127.0.0.1:$port"; then
    echo "FAIL $svc: healthcheck from the host"; fail=1; continue
  fi
  info=$(curl -fsS -H 'Content-Type: application/json' -d '{}' \
    "http://127.0.0.1:$port/photoncloud.system.v1.SystemService/GetInfo") || { echo "FAIL $svc: GetInfo"; fail=1; continue; }
  if ! grep -q "\"service\":\"$svc\"" <<<"$info"; then
    echo "FAIL $svc: GetInfo answered $info"; fail=1; continue
  fi
  echo "ok   $svc: healthy, ready and answering from the host"
done
[ "$fail" = 0 ] && echo "e2e: 3 passed, 0 failed" || { echo "e2e: failures above"; $compose logs --tail 30; exit 1; }
