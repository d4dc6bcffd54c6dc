# The Fortress — ML sentiment API behind a secure, observable nginx gateway, provisioned by Ansible.
# `make help` lists the targets.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VENV      := .venv
INVENTORY ?= inventory/local
SCENARIO  ?= default
STAMP     := $(VENV)/.installed
REQS      := requirements/dev.txt requirements/test.txt requirements/train.txt requirements/api.txt requirements/corpus.txt

export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help setup system-packages model start-project stop-project deploy verify test lint unit \
        engine bundle model-candidate promote molecule test-vm test-swarm test-qemu vm-image vm-up vm-down bench bench-compare bench-shadow bench-model lock clean noop-timing

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

# ---------------------------------------------------------------------------------------------------------------
# Toolchain
setup: system-packages $(STAMP) ## Create .venv with the locked toolchain and the Ansible collections (idempotent)

system-packages:
	@missing=""; \
	for tool in rsync:rsync sudo:sudo; do \
	  command -v "$${tool%%:*}" >/dev/null 2>&1 || missing="$$missing $${tool##*:}"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

$(STAMP): $(REQS) requirements.yml
	test -x $(VENV)/bin/python || python3 -m venv $(VENV)
	@# libpass replaced passlib and ships the same passlib/ directory: installed over passlib, uninstalling one
	@# would delete the other's files. Remove both, then install libpass from the lock alone.
	if $(VENV)/bin/pip show --quiet passlib 2>/dev/null; then $(VENV)/bin/pip uninstall --quiet --yes passlib libpass; fi
	$(VENV)/bin/pip install --quiet -r requirements/dev.txt
	@# The training lock (the API's runtime and scikit-learn) has hashes, which puts pip in hash-checking mode for
	@# the whole command: its own step.
	$(VENV)/bin/pip install --quiet --require-hashes -r requirements/train.txt
	$(VENV)/bin/pip install --quiet -r requirements/test.txt
	$(VENV)/bin/pip install --quiet --no-deps -r requirements/corpus.txt
	$(VENV)/bin/ansible-galaxy collection install -r requirements.yml >/dev/null
	touch $@

# train.txt, then api.txt within it (the API serves with the versions training used): resolved for the image
# (CPython 3.11 on manylinux x86_64, as sentiment_api_python_version and sentiment_api_wheel_platforms), with the
# sha256 of every file of each pin (any architecture's wheel matches). Pins already in a lock are kept, as the model
# is trained with them; LOCK_UPGRADE=1 moves them (then `make model`).
lock: ## Re-resolve requirements/dev.in into dev.txt, train.in and api.in into the hashed train.txt and api.txt
	rm -rf /tmp/fortress-lock-venv
	python3 -m venv /tmp/fortress-lock-venv
	/tmp/fortress-lock-venv/bin/pip install --quiet -r requirements/dev.in
	{ echo '# Locked toolchain of the control node; generated from requirements/dev.in by `make lock`.'; \
	  /tmp/fortress-lock-venv/bin/pip freeze; } > requirements/dev.txt
	/tmp/fortress-lock-venv/bin/pip install --quiet uv==0.13.9
	cd requirements && for lock in train api; do \
	  /tmp/fortress-lock-venv/bin/uv pip compile --quiet --native-tls --generate-hashes \
	    --python-version 3.11 --python-platform x86_64-manylinux_2_28 $(if $(LOCK_UPGRADE),--upgrade) \
	    --custom-compile-command 'make lock' $$( [ $$lock = api ] && echo -c train.txt) $$lock.in -o $$lock.txt || exit 1; \
	done
	rm -rf /tmp/fortress-lock-venv

model: setup ## Retrain the model from the labelled corpus into model/ (deterministic)
	$(VENV)/bin/python src/gen_model.py --out model

# ---------------------------------------------------------------------------------------------------------------
# Deployment
start-project: setup ## Deploy the whole stack on this machine (inventory/local) and verify it answers
	$(VENV)/bin/ansible-playbook -i inventory/local playbooks/site.yml

stop-project: setup ## Remove the stack's containers and networks (keeps images, volumes, certificates, secrets)
	$(VENV)/bin/ansible-playbook -i inventory/local playbooks/stop.yml

deploy: setup ## Deploy to INVENTORY (e.g. make deploy INVENTORY=inventory/vm), asks for the vault password off-local
	$(VENV)/bin/ansible-playbook -i $(INVENTORY) playbooks/site.yml $(if $(filter inventory/local,$(INVENTORY)),,--ask-vault-pass)

# A candidate model for the shadow/canary flow: fixed hyperparameters (seconds, no CV), another seed by default.
CANDIDATE_DIR ?= $(CURDIR)/.cache/candidate
CANDIDATE_ARGS ?= --seed 7 --C 2.0
model-candidate: setup ## Train a candidate model into CANDIDATE_DIR (.cache/candidate; CANDIDATE_ARGS, e.g. --seed 7 --C 2.0)
	$(VENV)/bin/python src/gen_model.py --out $(CANDIDATE_DIR) $(CANDIDATE_ARGS)

promote: setup ## Promote INVENTORY's deployed candidate to api-v1 if the gate on its shadow traffic passes (playbooks/promote.yml)
	$(VENV)/bin/ansible-playbook -i $(INVENTORY) playbooks/promote.yml --tags secrets,api,gateway \
	  $(if $(filter inventory/local,$(INVENTORY)),,--ask-vault-pass) $(EXTRA)

# The roles' defaults, as a target has them; BUNDLE_VARS=FILE adds an inventory's settings (e.g. its group_vars main.yml).
bundle: setup ## Make the offline bundle dist/fortress-bundle.tar (images, engine packages, models) for air-gapped targets
	$(VENV)/bin/ansible-playbook -i localhost, playbooks/bundle.yml $(if $(BUNDLE_VARS),-e @$(BUNDLE_VARS))

engine: setup ## Only ensure the Docker engine and base image on this machine
	$(VENV)/bin/ansible-playbook -i inventory/local playbooks/site.yml --tags engine

verify: setup ## Run the integration tests against a deployed stack (INVENTORY=inventory/local by default)
	$(VENV)/bin/pytest -p no:cacheprovider tests/integration \
	  $(if $(filter inventory/local,$(INVENTORY)),--hosts=local://,--hosts='ansible://fortress' --ansible-inventory=$(INVENTORY))

# ---------------------------------------------------------------------------------------------------------------
# Tests
test: setup lint unit engine molecule test-vm ## Lint, unit tests, Molecule default (the stack) and vm (an air-gapped fresh host)

lint: setup ## yamllint, ansible-lint (production profile), ruff
	$(VENV)/bin/yamllint --strict .
	$(VENV)/bin/ansible-lint --offline
	$(VENV)/bin/ruff check src tests roles bench scripts vm playbooks/strategy_plugins
	$(VENV)/bin/ruff format --check src tests roles bench scripts vm playbooks/strategy_plugins
	$(VENV)/bin/python scripts/roledocs.py check

.PHONY: docs
docs: setup ## Regenerate the variable tables of the READMEs from meta/argument_specs.yml
	$(VENV)/bin/python scripts/roledocs.py write

unit: setup ## Unit tests: API and model helpers, dashboards/datasource files, alert rules (promtool)
	$(VENV)/bin/pytest -p no:cacheprovider tests/unit tests/monitoring \
	  --deselect tests/monitoring/test_monitoring.py::test_panel_query_returns_data

# When a scenario fails, the failed tests are listed again at the very end (a CI log may keep only its last lines).
JUNIT_XML = /tmp/fortress-junit-$(1).xml
define molecule_test
rm -f $(call JUNIT_XML,$(1)); \
FORTRESS_JUNIT_XML=$(call JUNIT_XML,$(1)) $(VENV)/bin/molecule test -s $(1) \
  || { status=$$?; $(VENV)/bin/python scripts/test_failures.py $(call JUNIT_XML,$(1)); exit $$status; }
endef

molecule: setup ## Molecule scenario SCENARIO (default: the full stack)
	@$(call molecule_test,$(SCENARIO))

# A rehearsal ($(1): scenario) uses an example inventory's group_vars ($(2)) as they are, plus a vault file encrypted
# here with generated secrets and a generated vault password (both in a private temporary directory, removed
# afterwards), the scenario's own group_vars where it has them (molecule/<scenario>/group_vars), and host_vars for its instances ($(3)); it deploys the
# offline bundle (make bundle): the instances have no apt source and build nothing.
define rehearsal_test
vm=$$(mktemp -d /tmp/fortress-$(1).XXXXXX); trap 'rm -rf "$$vm"' EXIT; \
password=$$(openssl rand -hex 24); \
mkdir -p "$$vm/group_vars/fortress" "$$vm/host_vars"; \
for host in $(3); do \
  printf 'ansible_connection: docker\nfortress_images_from: bundle\nfortress_bundle: %s\n' \
    "$(CURDIR)/dist/fortress-bundle.tar" > "$$vm/host_vars/$$host.yml"; \
done; \
cp $(2)/group_vars/fortress/main.yml "$$vm/group_vars/fortress/main.yml"; \
if [ -d molecule/$(1)/group_vars/fortress ]; then cp molecule/$(1)/group_vars/fortress/*.yml "$$vm/group_vars/fortress/"; fi; \
(umask 077; openssl rand -hex 32 > "$$vm/vault-password"; \
 printf 'vault_gateway_user: api-client\nvault_gateway_password: %s\nvault_grafana_admin_password: %s\n' \
   "$$password" "$$(openssl rand -hex 24)" > "$$vm/group_vars/fortress/vault.yml"); \
$(VENV)/bin/ansible-vault encrypt --vault-password-file "$$vm/vault-password" "$$vm/group_vars/fortress/vault.yml"; \
export FORTRESS_VM_GROUP_VARS="$$vm/group_vars" FORTRESS_VM_HOST_VARS="$$vm/host_vars" \
  ANSIBLE_VAULT_PASSWORD_FILE="$$vm/vault-password"; \
export FORTRESS_VM_PASSWORD="$$password"; $(call molecule_test,$(1))
endef

test-vm: setup engine bundle ## Rehearse an air-gapped VM: fresh Debian instance, own Docker engine, from the bundle (scenario vm)
	@$(call rehearsal_test,vm,inventory/vm.example,fortress-vm)

# Three Docker-in-Docker nodes of the vm scenario's instance image (built here: the scenario uses it pre-built).
test-swarm: setup engine bundle ## Rehearse a Docker Swarm cluster: 3 fresh nodes (1 manager, 2 workers), from the bundle (scenario swarm)
	docker build --quiet --tag fortress-node:bookworm --file molecule/vm/Dockerfile.j2 molecule/vm
	@$(call rehearsal_test,swarm,inventory/swarm.example,fortress-swarm-1 fortress-swarm-2 fortress-swarm-3)

# A real QEMU virtual machine (vm/fortress_vm): the cached Debian 12 image, a throw-away overlay booted under TCG (KVM
# when usable), air-gapped, reached over SSH on a 127.0.0.1 forward; tests/qemu deploys the offline bundle
# (make bundle) to it as ops would and destroys it.
test-qemu: setup engine ## Air-gapped real VM (QEMU): the whole stack from the bundle over SSH, systemd, kill, reboot
	$(VENV)/bin/pytest -p no:cacheprovider tests/qemu -v -rs

vm-image: setup ## Build (or reuse) the cached VM disk image
	PYTHONPATH=vm $(VENV)/bin/python -m fortress_vm build

vm-up: setup ## Boot a throw-away VM (NAME=fortress-vm, AIR_GAPPED=1: no way out): SSH on 127.0.0.1, inventory in .cache/vm/run/NAME
	PYTHONPATH=vm $(VENV)/bin/python -m fortress_vm up $(or $(NAME),fortress-vm) $(if $(AIR_GAPPED),--air-gapped)

vm-down: ## Power off a VM started by vm-up and remove its overlay
	PYTHONPATH=vm $(VENV)/bin/python -m fortress_vm down $(or $(NAME),fortress-vm)

# 966e74c is the last commit before the stack contract and the fast no-change run (issue 10).
NOOP_REFS ?= 966e74c WORKTREE@linear WORKTREE
noop-timing: setup engine ## Time a no-change converge and --check --diff: before issue 10, plain strategy, now
	$(VENV)/bin/python scripts/noop_timing.py $(NOOP_REFS)

bench: setup ## Benchmark /predict through the gateway vs directly (numbers to bench/ and docs/BENCHMARK.md)
	$(VENV)/bin/python bench/run.py

bench-compare: setup ## Before/after in one run: the benchmark's load on the tree at REV (default: before the hardening) and on this one
	$(VENV)/bin/python bench/run.py --compare $(or $(REV),f3b3db0) --levels $(or $(LEVELS),32)

SHADOW_LEVELS ?= 8,32
bench-shadow: setup ## Shadow traffic off vs on, same run: client req/s, p50, p99 at c=8 and c=32, CPU of the mirror (CANDIDATE=dir)
	$(VENV)/bin/python bench/run.py --shadow --levels $(SHADOW_LEVELS) --duration $(or $(DURATION),15) \
	  $(if $(CANDIDATE),--candidate $(CANDIDATE))

bench-model: setup ## The model file formats side by side: safetensors (served) vs joblib vs skops (size, load, cold start, p50)
	$(VENV)/bin/python bench/modelfile.py

clean: ## Remove the virtualenv and caches (not deployed containers)
	rm -rf $(VENV) .cache .pytest_cache .ruff_cache
