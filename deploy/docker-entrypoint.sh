#!/bin/sh
# The raqib container: import the Kibana objects in the background (waiting for Kibana up to
# RAQIB_KIBANA_WAIT seconds) so that crawling is never held up by Kibana, then run the command.
set -eu

if [ "${1:-}" = "run" ] && [ -n "${RAQIB_KIBANA_URL:-}" ]; then
  (
    if raqib kibana import --wait "${RAQIB_KIBANA_WAIT:-600}"; then
      echo "raqib: Kibana objects imported"
    else
      echo "raqib: WARNING: the Kibana objects were not imported; run: docker compose exec raqib raqib kibana import" >&2
    fi
  ) &
fi

exec raqib "$@"
