#!/usr/bin/env bash
# VM 2: installs Helm, OpenFaaS CE from its Helm chart with k3s/openfaas-values.yaml, the
# cron-connector (for order-sweep) and faas-cli, then logs faas-cli in to the gateway. Safe to
# run again (helm upgrade --install).
source "$(dirname "$0")/common.sh"
need_root

if ! have helm; then
  log "installing Helm"
  curl -fsSL https://raw.githubusercontent.com/helm/helm/main/scripts/get-helm-3 | bash
fi
if ! have faas-cli; then
  log "installing faas-cli"
  curl -sSL https://cli.openfaas.com | sh
fi

log "installing OpenFaaS CE"
kubectl apply -f https://raw.githubusercontent.com/openfaas/faas-netes/master/namespaces.yml
helm repo add openfaas https://openfaas.github.io/faas-netes/ >/dev/null
helm repo update openfaas >/dev/null
helm upgrade --install openfaas openfaas/openfaas --namespace openfaas -f "${K3S_DIR}/openfaas-values.yaml" --wait
kubectl -n openfaas rollout status deploy/gateway --timeout=180s

# order-sweep runs every minute: the cron-connector calls functions annotated topic=cron-function.
log "installing the cron-connector"
helm upgrade --install cron-connector openfaas/cron-connector --namespace openfaas --wait

log "logging faas-cli in to ${OPENFAAS_URL}"
gateway_password | faas-cli login -u admin --password-stdin -g "$OPENFAAS_URL"
if [ -n "${SUDO_USER:-}" ]; then
  # faas-cli keeps its login in ~/.openfaas: give the operator one too.
  gateway_password | sudo -u "$SUDO_USER" -H faas-cli login -u admin --password-stdin -g "$OPENFAAS_URL"
fi
echo "Gateway: ${OPENFAAS_URL} (user admin; password: sudo k3s/gateway-password.sh)"
