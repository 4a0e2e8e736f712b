#!/usr/bin/env bash
# Creates the shop's OpenFaaS secrets in openfaas-fn (what `faas-cli secret create` does),
# before the first `faas-cli up`:
#   mongo-url            from MONGO_URL, or asked for
#   shop-internal-token  from SHOP_INTERNAL_TOKEN, else kept if it exists, else generated
#   shop-admin-token     from SHOP_ADMIN_TOKEN, else kept if it exists, else generated
# Safe to run again. Functions read secrets when called, so a change applies at once.
source "$(dirname "$0")/common.sh"

# Values reach kubectl in a file of a private folder, never on a command line (which every
# local user can read in /proc while it runs).
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
put_secret() { # name value
  (umask 077 && printf '%s' "$2" > "$work/$1")
  kubectl -n openfaas-fn create secret generic "$1" --from-file="$1=$work/$1" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
  rm -f "$work/$1"
  echo "secret $1: set"
}
existing() { # name
  kubectl -n openfaas-fn get secret "$1" -o jsonpath="{.data.$1}" 2>/dev/null | base64 -d
}
token() { # name, env value
  if [ -n "$2" ]; then put_secret "$1" "$2"
  elif [ -n "$(existing "$1")" ]; then echo "secret $1: kept"
  else put_secret "$1" "$(openssl rand -base64 32 | tr -d '\n=' | tr '+/' '-_')"
  fi
}

mongo_url="${MONGO_URL:-}"
if [ -z "$mongo_url" ] && [ -z "$(existing mongo-url)" ]; then
  read -r -s -p "MongoDB URL (mongodb://shop:PASSWORD@192.168.122.12:27017/shopdb): " mongo_url
  echo
fi
if [ -n "$mongo_url" ]; then put_secret mongo-url "$mongo_url"; else echo "secret mongo-url: kept"; fi
token shop-internal-token "${SHOP_INTERNAL_TOKEN:-}"
token shop-admin-token "${SHOP_ADMIN_TOKEN:-}"
