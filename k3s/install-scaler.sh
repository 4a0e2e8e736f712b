#!/usr/bin/env bash
# VM 2: the scaler (k3s/scaler.yaml, k3s/scaler-nginx.conf), so that the storefront on VM 1 can
# list and scale functions without holding the gateway's admin password. Generates the scaler's
# password once (kept across runs), writes the htpasswd and the gateway's Authorization header
# into the Secret scaler-auth, and rolls the pod when anything changed. No secret ever appears on
# a command line: values go through files in a private temporary folder and standard input.
# Print the scaler's password for VM 1 with: sudo k3s/scaler-password.sh
source "$(dirname "$0")/common.sh"
need_root

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
chmod 700 "$work"
umask 077

# The scaler's own password: kept if the Secret has one.
if ! kubectl -n openfaas get secret scaler-auth -o jsonpath='{.data.scaler-password}' 2>/dev/null | base64 -d > "$work/scaler-password" || [ ! -s "$work/scaler-password" ]; then
  openssl rand -base64 32 | tr -d '\n=' | tr '+/' '-_' > "$work/scaler-password"
  log "generated the scaler's password"
fi
printf 'scaler:%s\n' "$(openssl passwd -6 -stdin < "$work/scaler-password")" > "$work/htpasswd"
printf 'proxy_set_header Authorization "Basic %s";\n' "$( { printf 'admin:'; gateway_password; } | base64 -w0)" > "$work/gateway-auth.conf"

kubectl -n openfaas create secret generic scaler-auth \
  --from-file=htpasswd="$work/htpasswd" --from-file=gateway-auth.conf="$work/gateway-auth.conf" \
  --from-file=scaler-password="$work/scaler-password" --dry-run=client -o yaml | kubectl apply -f - >/dev/null
kubectl -n openfaas create configmap scaler-config --from-file=nginx.conf="${K3S_DIR}/scaler-nginx.conf" \
  --dry-run=client -o yaml | kubectl apply -f - >/dev/null

# The htpasswd line is salted anew each run: hash the password and config, not the files.
hash="$(cat "$work/scaler-password" "$work/gateway-auth.conf" "${K3S_DIR}/scaler-nginx.conf" | sha256sum | cut -c1-16)"
sed "s/CONFIG_HASH/${hash}/" "${K3S_DIR}/scaler.yaml" | kubectl apply -f -
kubectl -n openfaas rollout status deploy/scaler --timeout=120s
echo "Scaler: http://${VM2_IP}:31113 (user scaler; password: sudo k3s/scaler-password.sh)"
