#!/usr/bin/env bash
# One-shot setup of a fresh cluster (docker-compose `setup` service): sets the kibana_system
# password and creates the role and user raqib writes with. Safe to run again.
set -euo pipefail

: "${ES_URL:?}" "${ELASTIC_PASSWORD:?}" "${KIBANA_PASSWORD:?}" "${RAQIB_PASSWORD:?}" "${KIBANA_ENCRYPTION_KEY:?}"

for name in ELASTIC_PASSWORD KIBANA_PASSWORD RAQIB_PASSWORD; do
  value="${!name}"
  if [[ "$value" == change-me* || ${#value} -lt 12 ]]; then
    echo "setup: $name is still the example value or shorter than 12 characters; set it in deploy/.env" >&2
    exit 1
  fi
done
if [[ "$KIBANA_ENCRYPTION_KEY" == change-me* || ${#KIBANA_ENCRYPTION_KEY} -lt 32 ]]; then
  echo "setup: KIBANA_ENCRYPTION_KEY is still the example value or shorter than 32 characters; set it in deploy/.env" >&2
  exit 1
fi

es() {   # es METHOD PATH [JSON]: fails on an HTTP error, prints the reply
  local method=$1 path=$2
  local args=(-fsS -u "elastic:${ELASTIC_PASSWORD}" -X "$method" -H 'Content-Type: application/json')
  if [[ $# -ge 3 ]]; then args+=(--data-binary "$3"); fi
  curl "${args[@]}" "${ES_URL}${path}"
}

echo "setup: waiting for Elasticsearch at ${ES_URL}"
for _ in $(seq 1 60); do
  es GET /_cluster/health >/dev/null 2>&1 && break
  sleep 5
done
es GET '/_cluster/health?wait_for_status=yellow&timeout=60s' >/dev/null

echo "setup: kibana_system password"
es POST /_security/user/kibana_system/_password "{\"password\":\"${KIBANA_PASSWORD}\"}" >/dev/null

# What raqib needs on the cluster is the one role of deploy/elasticsearch/raqib-role.json (the
# same file an operator uses on an existing cluster); importing its saved objects into Kibana's
# default space is a second, separate role, so the cluster role stays least-privileged.
echo "setup: roles raqib_writer and raqib_kibana, user raqib"
es PUT /_security/role/raqib_writer "$(cat "${RAQIB_ROLE_FILE:-/usr/local/share/raqib/raqib-role.json}")" >/dev/null
es PUT /_security/role/raqib_kibana '{
  "applications": [{"application": "kibana-.kibana", "privileges": ["all"], "resources": ["space:default"]}]
}' >/dev/null
es PUT /_security/user/raqib "{
  \"password\": \"${RAQIB_PASSWORD}\",
  \"roles\": [\"raqib_writer\", \"raqib_kibana\"],
  \"full_name\": \"raqib crawler\"
}" >/dev/null
echo "setup: done"
