#!/usr/bin/env bash
# wait-healthy.sh SERVICE...: wait until each compose service's container
# reports healthy (Docker health check), or fail after a timeout.
set -euo pipefail
timeout=${WAIT_TIMEOUT:-120}
project=${COMPOSE_PROJECT_NAME:-photoncloud}
deadline=$(( $(date +%s) + timeout ))
for svc in "$@"; do
  while :; do
    id=$(docker ps -aq --filter "label=com.docker.compose.project=$project" --filter "label=com.docker.compose.service=$svc" | head -n1)
    status=$([ -n "$id" ] && docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}' "$id" || echo missing)
    if [ "$status" = healthy ]; then echo "$svc: healthy"; break; fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "$svc: not healthy after ${timeout}s (status: $status)" >&2
      [ -n "$id" ] && docker logs --tail 50 "$id" >&2
      exit 1
    fi
    sleep 1
  done
done
