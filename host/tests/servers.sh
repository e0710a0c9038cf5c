#!/usr/bin/env bash
# Programs the tests drive that are not built here: a headless Chromium and
# its WebDriver (the web chat page's browser test). Installed from Debian's
# packages when missing; `make test` runs this first. Everything they serve
# or reach is on loopback.
set -euo pipefail

say() { echo "test-servers: $*" >&2; }

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
if ((${#need[@]})); then
    start=$SECONDS
    say "installing ${need[*]} with apt-get"
    sudo=""
    if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    say "installed ${need[*]} in $((SECONDS - start)) s"
fi
