#!/usr/bin/env bash
# The whole reference stack on loopback (docs/deployment.md#run-the-whole-stack-locally):
# etcd, PostgreSQL, the gateway, HAProxy and Prometheus; Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
exec "${PYTHON:-python3}" scripts/stack.py "$@"
