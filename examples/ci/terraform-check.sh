#!/bin/sh
# terraform-check.sh: the plan check a CI job runs on a Terraform configuration that manages vaultguard.
#
#   examples/ci/terraform-check.sh [DIR]          (DIR: the configuration's directory, default ".")
#
# Steps, in order; the first failure ends the run:
#   1. terraform fmt -check -recursive    every .tf file is in canonical format
#   2. terraform init -input=false        providers installed (and checked against .terraform.lock.hcl)
#   3. terraform validate                 the configuration is valid, without contacting the server
#   4. terraform plan -detailed-exitcode  the live objects match the configuration; waits up to
#                                         $TF_PLAN_LOCK_TIMEOUT (default 5m) for a state lock another run
#                                         holds (an apply in progress), then fails
#
# Exit status:
#   0  formatted, valid, and the plan is empty
#   1  Terraform failed (init, validate or plan error), or no Terraform was found
#   2  the plan is not empty: drift (something changed out of band) or a change not applied yet
#   3  files are not formatted (run `terraform fmt -recursive`)
#
# Which Terraform runs: $TERRAFORM when set (e.g. /usr/bin/tofu), else `terraform` on PATH, else the one
# bundled with vaultguard (`vaultguard terraform`).
# The environment supplies the rest, as for any Terraform run: TF_CLI_CONFIG_FILE (written by
# `vaultguard provider rc --output FILE`), VAULT_ADDR, VAULT_TOKEN, VAULT_NAMESPACE, VAULT_CACERT, and the
# state backend's settings (PG_CONN_STR for the `pg` backend). The state must be shared with whoever applies:
# with the default local state a CI checkout has none, and every plan would propose to create everything.
# Under GitHub Actions (GITHUB_ACTIONS=true) failures are also printed as ::error:: annotations.
set -u

dir=${1:-.}

say() {
    printf 'terraform-check: %s\n' "$*"
}

fail() {
    status=$1
    shift
    say "FAILED: $*" >&2
    if [ "${GITHUB_ACTIONS:-}" = "true" ]; then
        printf '::error title=terraform-check::%s\n' "$*"
    fi
    exit "$status"
}

if [ -n "${TERRAFORM:-}" ]; then
    tf() { "$TERRAFORM" "$@"; }
elif command -v terraform >/dev/null 2>&1; then
    tf() { terraform "$@"; }
elif command -v vaultguard >/dev/null 2>&1; then
    tf() { vaultguard terraform "$@"; }
else
    fail 1 "no Terraform found: set TERRAFORM=/path/to/terraform, put terraform on PATH, or install vaultguard[terraform]"
fi

cd "$dir" || fail 1 "cannot enter directory $dir"
say "checking $(pwd) with $(tf version 2>/dev/null | head -n 1)"

say "1/4 terraform fmt -check -recursive"
tf fmt -check -recursive -diff
case $? in
    0) ;;
    3) fail 3 "the files listed above are not in canonical format; run 'terraform fmt -recursive' and commit the result" ;;
    *) fail 1 "terraform fmt could not check the files (see the error above)" ;;
esac

say "2/4 terraform init"
tf init -input=false || fail 1 "terraform init failed (see the error above)"

say "3/4 terraform validate"
tf validate || fail 1 "terraform validate found errors in the configuration (see above)"

say "4/4 terraform plan -detailed-exitcode"
tf plan -input=false -detailed-exitcode -lock-timeout="${TF_PLAN_LOCK_TIMEOUT:-5m}"
case $? in
    0) say "OK: formatted, valid, and no changes: the live objects match the configuration" ;;
    2) fail 2 "drift: the plan above is not empty, so the live objects differ from the configuration (changed out of band, or a change not applied yet). Apply the configuration, or change it to match what should be live." ;;
    *) fail 1 "terraform plan failed (see the error above)" ;;
esac
