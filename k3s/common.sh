#!/usr/bin/env bash
# Shared settings of the VM 2 scripts. Every value can be overridden from the environment.
set -euo pipefail

export KUBECONFIG="${KUBECONFIG:-/etc/rancher/k3s/k3s.yaml}"
VM2_IP="${VM2_IP:-192.168.122.11}"
# The image registry, on VM 2's LAN address: OpenFaaS CE HEADs every image from inside its own
# pod, so a loopback name would not do. k3s/firewall.sh lets only VM 2 and its pods reach it.
# stack.yml names it the same way.
REGISTRY="${REGISTRY:-${VM2_IP}:5000}"
OPENFAAS_URL="${OPENFAAS_URL:-http://${VM2_IP}:31112}"
K3S_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export VM2_IP REGISTRY OPENFAAS_URL K3S_DIR

# Pinned versions of what the scripts download (bump deliberately, after reading the release notes).
K3S_VERSION="${K3S_VERSION:-v1.31.4+k3s1}"
HELM_VERSION="${HELM_VERSION:-v3.16.4}"
FAAS_CLI_VERSION="${FAAS_CLI_VERSION:-0.17.8}"
OPENFAAS_CHART_VERSION="${OPENFAAS_CHART_VERSION:-14.2.124}"
CRON_CONNECTOR_CHART_VERSION="${CRON_CONNECTOR_CHART_VERSION:-0.6.5}"
export K3S_VERSION HELM_VERSION FAAS_CLI_VERSION OPENFAAS_CHART_VERSION CRON_CONNECTOR_CHART_VERSION

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }
need_root() { [ "$(id -u)" -eq 0 ] || die "run this as root (sudo $0)"; }
have() { command -v "$1" >/dev/null 2>&1; }

# Downloads URL to FILE over HTTPS only (no redirect to plain HTTP), failing on any error.
download() { # url file
  curl --proto '=https' --tlsv1.2 -fsSL -o "$2" "$1"
}

# Checks FILE against SHA-256 EXPECTED; dies on a mismatch. The expected sum comes from the
# release's own checksum file, or from the environment when the operator pinned it
# (K3S_INSTALL_SHA256, HELM_SHA256, FAAS_CLI_SHA256): a pinned sum also guards against a release
# replaced after the fact.
verify_sha256() { # file expected
  local actual
  actual="$(sha256sum "$1" | cut -d' ' -f1)"
  [ -n "$2" ] && [ "$actual" = "$2" ] || die "checksum mismatch for $(basename "$1"): expected ${2:-nothing}, got ${actual}"
  echo "$(basename "$1"): sha256 ${actual} verified"
}

# The OpenFaaS gateway's admin password, from the secret the Helm chart generated.
gateway_password() {
  kubectl -n openfaas get secret basic-auth -o jsonpath='{.data.basic-auth-password}' | base64 -d
}
