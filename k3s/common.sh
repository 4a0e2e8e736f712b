#!/usr/bin/env bash
# Shared settings of the VM 2 scripts. Every value can be overridden from the environment.
set -euo pipefail

export KUBECONFIG="${KUBECONFIG:-/etc/rancher/k3s/k3s.yaml}"
VM2_IP="${VM2_IP:-192.168.122.11}"
REGISTRY="${REGISTRY:-${VM2_IP}:5000}"
OPENFAAS_URL="${OPENFAAS_URL:-http://${VM2_IP}:31112}"
K3S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export VM2_IP REGISTRY OPENFAAS_URL K3S_DIR

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "run this as root (sudo $0)"; }
have() { command -v "$1" >/dev/null 2>&1; }

# The OpenFaaS gateway's admin password, from the secret the Helm chart generated.
gateway_password() {
  kubectl -n openfaas get secret basic-auth -o jsonpath='{.data.basic-auth-password}' | base64 -d
}
