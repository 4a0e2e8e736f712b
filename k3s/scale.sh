#!/usr/bin/env bash
# Scales one function through the gateway's API: k3s/scale.sh FUNCTION REPLICAS
# (OpenFaaS CE: 1 to 5 replicas; the next deploy resets it to com.openfaas.scale.min).
# Set OPENFAAS_PASSWORD to run it away from VM 2; on VM 2 it reads the password itself.
source "$(dirname "$0")/common.sh"

fn="${1:-}"
replicas="${2:-}"
[[ "$fn" =~ ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ ]] || die "usage: $0 FUNCTION REPLICAS"
[[ "$replicas" =~ ^[1-5]$ ]] || die "REPLICAS is 1 to 5 on OpenFaaS CE"
password="${OPENFAAS_PASSWORD:-$(gateway_password)}"

# The credentials reach curl as a config on stdin, never on its command line.
answer=$(printf 'user = "admin:%s"\n' "$password" | curl -sS -K - -w '\n%{http_code}' -X POST \
  -H 'Content-Type: application/json' \
  -d "{\"serviceName\":\"${fn}\",\"replicas\":${replicas}}" \
  "${OPENFAAS_URL}/system/scale-function/${fn}")
status="${answer##*$'\n'}"
[ "$status" = 200 ] || [ "$status" = 202 ] || die "the gateway answered ${status}: ${answer%$'\n'*}"
echo "${fn}: scaling to ${replicas}"
