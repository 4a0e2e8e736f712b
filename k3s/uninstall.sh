#!/usr/bin/env bash
# Removes the shop's functions and OpenFaaS; with --all also the registry and k3s itself.
source "$(dirname "$0")/common.sh"
need_root

if have helm && helm status openfaas -n openfaas >/dev/null 2>&1; then
  log "removing OpenFaaS"
  helm uninstall openfaas -n openfaas
fi
if have kubectl; then
  kubectl delete namespace openfaas-fn openfaas --ignore-not-found
fi
if [ "${1:-}" = "--all" ]; then
  log "removing the registry and k3s"
  if have docker; then docker rm -f shop-registry >/dev/null 2>&1 || true; fi
  if [ -x /usr/local/bin/k3s-uninstall.sh ]; then /usr/local/bin/k3s-uninstall.sh; fi
fi
