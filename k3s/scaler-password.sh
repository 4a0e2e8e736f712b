#!/usr/bin/env bash
# Prints the scaler's password (the storefront's credentials on VM 2: list and scale only), for
# VM 1's frontend/create-secrets.sh, which reads it from standard input.
source "$(dirname "$0")/common.sh"
kubectl -n openfaas get secret scaler-auth -o jsonpath='{.data.scaler-password}' | base64 -d
echo
