#!/usr/bin/env bash
# Prints the OpenFaaS gateway's admin password.
source "$(dirname "$0")/common.sh"
gateway_password
echo
