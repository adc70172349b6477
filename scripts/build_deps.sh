#!/usr/bin/env bash
# Sourced by scripts/test.sh and scripts/main_job.sh: the Debian packages a
# build of the wheel needs, installed when missing.
# The journal (in the wheel since phase 2 of the durability issue) links
# OpenSSL's libcrypto and ISA-L: their headers and libraries must be there
# before the wheel is built (Debian: libssl-dev, libisal-dev).
ensure_build_packages() {
  local wanted=(libssl-dev libisal-dev) missing=() pkg
  for pkg in "${wanted[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || dpkg -s "$pkg:$(dpkg --print-architecture)" >/dev/null 2>&1 || missing+=("$pkg")
  done
  ((${#missing[@]} == 0)) && return 0
  echo "==> installing the journal's build dependencies: ${missing[*]}"
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null 2>&1 || { echo "not root and no sudo: install ${missing[*]} by hand" >&2; exit 2; }
    sudo=(sudo)
  fi
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
}
