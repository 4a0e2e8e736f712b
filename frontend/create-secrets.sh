#!/usr/bin/env bash
# VM 1: the storefront's secrets as files, for compose to mount at /run/secrets/:
#   frontend/secrets/cookie-secret     generated once (256 bits), then kept
#   frontend/secrets/scaler-password   the scaler's password (VM 2: sudo k3s/scaler-password.sh),
#                                      read from standard input, never from the command line:
#     ssh ubuntu@192.168.122.11 'sudo shop/k3s/scaler-password.sh' | sudo frontend/create-secrets.sh
# Each file is readable only by the storefront container's user (node, uid 1000). Without a
# password on stdin an existing one is kept (or an empty one made: no replicas on the operator page).
set -euo pipefail
[ "$(id -u)" -eq 0 ] || { echo "run as root (sudo $0): the files belong to the container's user" >&2; exit 1; }
dir="$(cd "$(dirname "$0")" && pwd)/secrets"
owner="${STOREFRONT_UID:-1000}"
umask 077
mkdir -p "$dir"
chmod 700 "$dir"

put() { # name, value on stdin
  cat > "$dir/$1.new"
  chown "$owner:$owner" "$dir/$1.new"
  chmod 400 "$dir/$1.new"
  mv "$dir/$1.new" "$dir/$1"
}

if [ ! -s "$dir/cookie-secret" ]; then
  openssl rand -base64 32 | tr -d '\n' | put cookie-secret
  echo "cookie-secret: generated"
else
  echo "cookie-secret: kept"
fi

password=""
if [ ! -t 0 ]; then IFS= read -r password || true; fi
if [ -n "$password" ]; then
  printf '%s' "$password" | put scaler-password
  echo "scaler-password: set"
elif [ ! -e "$dir/scaler-password" ]; then
  put scaler-password < /dev/null
  echo "scaler-password: empty (the operator page shows no replicas)"
else
  echo "scaler-password: kept"
fi
