#!/usr/bin/env bash
# Toolchains and builds for skills written in Python, JavaScript and C.
# The Makefile calls this (`make lang-skills`); it can be run by hand too:
#
#   example-skills/lang-skills.sh toolchain python|js|c
#   example-skills/lang-skills.sh build python|js|c NAME
#
# `build LANG NAME` builds example-skills/LANG/NAME into target/skills/NAME.wasm:
#   python  NAME/app.py (module `app`, class `WitWorld`)  componentize-py, world `skill`
#   js      NAME/NAME.js                                  componentize-js, world `skill-sync`
#   c       NAME/*.c                                      wit-bindgen c + clang + jco new, world `skill`
#                                                         (or the one named in NAME/world)
#
# Toolchains install once, into target/toolchains/ (the C compiler from
# Debian's packages, with apt-get, when missing). Each install is skipped when
# the pinned version is already there, and prints how long it took.
# `sandbot skill build` installs the same toolchains, with the same stamps and
# locks, on first use (host/src/authoring/toolchain.rs); keep the two in step.
set -euo pipefail
cd "$(dirname "$0")/.."

COMPONENTIZE_PY_VERSION=0.25.1 # the JS tools are pinned in toolchains/package-lock.json
WIT_BINDGEN_VERSION=0.63.0     # the same as the Rust SDK's wit-bindgen
C_PACKAGES=(clang lld wasi-libc libclang-rt-dev-wasm32)

TOOLCHAINS=target/toolchains
OUT=target/skills
WIT=wit

say() { echo "lang-skills: $*" >&2; }

# Holds an exclusive lock on a toolchain's install while this script runs:
# `make -j` builds the JavaScript and C skills at once, and both need the
# JavaScript tools.
lock_toolchain() {
    mkdir -p "$TOOLCHAINS"
    local fd
    exec {fd}>"$TOOLCHAINS/.$1.lock"
    flock "$fd"
}

toolchain_python() {
    lock_toolchain python
    local venv=$TOOLCHAINS/python
    local stamp=$venv/.componentize-py-$COMPONENTIZE_PY_VERSION
    if [[ ! -f $stamp ]]; then
        local start=$SECONDS
        say "installing componentize-py $COMPONENTIZE_PY_VERSION into $venv"
        python3 -m venv --clear "$venv"
        "$venv/bin/pip" install --quiet --disable-pip-version-check \
            "componentize-py==$COMPONENTIZE_PY_VERSION"
        touch "$stamp"
        say "componentize-py installed in $((SECONDS - start)) s"
    fi
    # Its wheel, kept: the test of `sandbot skill build`'s first-use install
    # runs pip against it with no index, so it sends nothing to PyPI.
    # componentize-py has no dependencies (`pip show componentize-py`).
    local wheels=$TOOLCHAINS/wheels
    local wheel_stamp=$wheels/.componentize-py-$COMPONENTIZE_PY_VERSION
    if [[ ! -f $wheel_stamp ]]; then
        "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
            -d "$wheels" "componentize-py==$COMPONENTIZE_PY_VERSION"
        touch "$wheel_stamp"
    fi
}

toolchain_js() {
    lock_toolchain js
    local dir=$TOOLCHAINS/js
    local lock=example-skills/toolchains/package-lock.json
    local stamp=$dir/.installed
    [[ -f $stamp && $stamp -nt $lock && $stamp -nt example-skills/toolchains/package.json ]] && return
    local start=$SECONDS
    say "installing componentize-js and jco into $dir"
    mkdir -p "$dir"
    cp example-skills/toolchains/package.json "$lock" "$dir/"
    # `npm install` from the lock file, not `npm ci`: npm 10/11 leave other
    # platforms' optional binaries out of the lock, and `npm ci` then refuses it.
    (cd "$dir" && npm install --no-save --no-fund --no-audit --loglevel=error)
    touch "$stamp"
    say "componentize-js and jco installed in $((SECONDS - start)) s"
}

toolchain_c() {
    lock_toolchain c
    local missing=() p
    for p in "${C_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    if ((${#missing[@]})); then
        local start=$SECONDS sudo=
        [[ $(id -u) == 0 ]] || sudo=sudo
        say "installing Debian packages: ${missing[*]}"
        $sudo flock /tmp/sandbot-apt.lock apt-get -o DPkg::Lock::Timeout=600 update -q
        DEBIAN_FRONTEND=noninteractive $sudo flock /tmp/sandbot-apt.lock apt-get -o DPkg::Lock::Timeout=600 install -y -q "${missing[@]}"
        say "Debian packages installed in $((SECONDS - start)) s"
    fi
    local wit_bindgen=$TOOLCHAINS/bin/wit-bindgen
    if [[ "$("$wit_bindgen" --version 2>/dev/null)" != "wit-bindgen-cli $WIT_BINDGEN_VERSION" ]]; then
        local start=$SECONDS
        say "installing wit-bindgen-cli $WIT_BINDGEN_VERSION (C generator only) into $TOOLCHAINS/bin"
        # Only the C generator, unoptimised and without debug info: it runs for
        # milliseconds, and this build takes a third of the CPU time of a
        # release build (see docs/skills/c.md).
        CARGO_PROFILE_DEV_DEBUG=0 cargo install --locked --quiet --debug --root "$TOOLCHAINS" \
            "wit-bindgen-cli@$WIT_BINDGEN_VERSION" --no-default-features --features c
        say "wit-bindgen-cli installed in $((SECONDS - start)) s"
    fi
    # `jco new` (with the WASI preview1 reactor adapter it ships) makes the component.
    toolchain_js
}

# Writes $OUT/NAME.wasm from a build into a temporary file, so a bot watching
# a folder never sees half a file.
publish() {
    local tmp=$1 name=$2
    mv -f "$tmp" "$OUT/$name.wasm"
    say "built $OUT/$name.wasm ($(stat -c %s "$OUT/$name.wasm") bytes)"
}

build_python() {
    local name=$1 src=example-skills/python/$1 tmp=$OUT/.$1.tmp.wasm
    "$TOOLCHAINS/python/bin/componentize-py" \
        -d "$WIT" -w skill componentize -p "$src" app -o "$tmp" >/dev/null
    publish "$tmp" "$name"
}

build_js() {
    local name=$1 src=example-skills/js/$1 tmp=$OUT/.$1.tmp.wasm
    # No HTTP: the skill does not use it, and the bot refuses components that
    # import wasi:http without a grant.
    "$TOOLCHAINS/js/node_modules/.bin/componentize-js" "$src/$name.js" \
        --wit "$WIT" --world-name skill-sync --disable http fetch-event -o "$tmp" >/dev/null
    publish "$tmp" "$name"
}

build_c() {
    local name=$1 src=example-skills/c/$1 tmp=$OUT/.$1.tmp.wasm
    local gen=target/lang-skills/c/$1
    rm -rf "$gen" && mkdir -p "$gen"
    # A skill that declares its settings names world `skill-with-settings`
    # in NAME/world; the generated files (and C names) are the world's.
    local world=skill
    [[ -f $src/world ]] && world=$(<"$src/world")
    local stem=${world//-/_}
    # `--sync all`: handle is lifted synchronously (it never waits on anything),
    # which also avoids a name clash in the async helpers (see docs/skills/c.md).
    local out
    out=$("$TOOLCHAINS/bin/wit-bindgen" c "$WIT" --world "$world" --sync all --out-dir "$gen" 2>&1) ||
        { echo "$out" >&2; exit 1; }
    clang --target=wasm32-wasi -mexec-model=reactor -Os -Wall -Wextra -Wl,--strip-all \
        -I "$gen" -o "$gen/$name.core.wasm" \
        "$src"/*.c "$gen/$stem.c" "$gen/${stem}_component_type.o"
    "$TOOLCHAINS/js/node_modules/.bin/jco" new "$gen/$name.core.wasm" --wasi-reactor -o "$tmp" >/dev/null
    publish "$tmp" "$name"
}

usage() {
    sed -n '2,12p' "$0" >&2
    exit 2
}

case "${1:-} ${2:-}" in
toolchain\ python | toolchain\ js | toolchain\ c)
    "toolchain_$2"
    ;;
build\ python | build\ js | build\ c)
    [[ -n ${3:-} && -d example-skills/$2/$3 ]] || usage
    mkdir -p "$OUT"
    "toolchain_$2"
    "build_$2" "$3"
    ;;
*) usage ;;
esac
