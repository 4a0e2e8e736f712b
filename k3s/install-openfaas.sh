#!/usr/bin/env bash
# VM 2: installs Helm and faas-cli (pinned versions from common.sh, each checked against its
# release's SHA-256 before it is installed), OpenFaaS CE from its Helm chart at a pinned version
# with k3s/openfaas-values.yaml, the cron-connector (for order-sweep), then logs faas-cli in to
# the gateway. Nothing downloaded is piped into a shell. Safe to run again (helm upgrade --install).
source "$(dirname "$0")/common.sh"
need_root

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if ! have helm; then
  log "installing Helm ${HELM_VERSION}"
  tarball="helm-${HELM_VERSION}-linux-amd64.tar.gz"
  download "https://get.helm.sh/${tarball}" "$work/${tarball}"
  download "https://get.helm.sh/${tarball}.sha256sum" "$work/${tarball}.sha256sum"
  verify_sha256 "$work/${tarball}" "${HELM_SHA256:-$(cut -d' ' -f1 "$work/${tarball}.sha256sum")}"
  tar -xzf "$work/${tarball}" -C "$work" linux-amd64/helm
  install -m 755 "$work/linux-amd64/helm" /usr/local/bin/helm
fi
if ! have faas-cli; then
  log "installing faas-cli ${FAAS_CLI_VERSION}"
  base="https://github.com/openfaas/faas-cli/releases/download/${FAAS_CLI_VERSION}"
  download "${base}/faas-cli" "$work/faas-cli"
  download "${base}/faas-cli.sha256" "$work/faas-cli.sha256"
  verify_sha256 "$work/faas-cli" "${FAAS_CLI_SHA256:-$(cut -d' ' -f1 "$work/faas-cli.sha256")}"
  install -m 755 "$work/faas-cli" /usr/local/bin/faas-cli
fi

log "installing OpenFaaS CE (chart ${OPENFAAS_CHART_VERSION})"
# faas-netes's namespaces.yml, written here rather than fetched from a moving branch.
kubectl apply -f - <<'YAML'
apiVersion: v1
kind: Namespace
metadata:
  name: openfaas
  labels: { role: openfaas-system, access: openfaas-system }
---
apiVersion: v1
kind: Namespace
metadata:
  name: openfaas-fn
  labels: { role: openfaas-fn }
YAML
helm repo add openfaas https://openfaas.github.io/faas-netes/ >/dev/null
helm repo update openfaas >/dev/null
helm upgrade --install openfaas openfaas/openfaas --version "$OPENFAAS_CHART_VERSION" --namespace openfaas \
  -f "${K3S_DIR}/openfaas-values.yaml" --wait
kubectl -n openfaas rollout status deploy/gateway --timeout=180s

# order-sweep runs every minute: the cron-connector calls functions annotated topic=cron-function.
log "installing the cron-connector (chart ${CRON_CONNECTOR_CHART_VERSION})"
helm upgrade --install cron-connector openfaas/cron-connector --version "$CRON_CONNECTOR_CHART_VERSION" \
  --namespace openfaas --wait

log "logging faas-cli in to ${OPENFAAS_URL}"
gateway_password | faas-cli login -u admin --password-stdin -g "$OPENFAAS_URL"
if [ -n "${SUDO_USER:-}" ]; then
  # faas-cli keeps its login in ~/.openfaas: give the operator one too.
  gateway_password | sudo -u "$SUDO_USER" -H faas-cli login -u admin --password-stdin -g "$OPENFAAS_URL"
fi
echo "Gateway: ${OPENFAAS_URL} (user admin; password: sudo k3s/gateway-password.sh)"
