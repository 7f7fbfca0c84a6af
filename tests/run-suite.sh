#!/usr/bin/env bash
# THE test command (run as root from anywhere in the repo):
#
#     ./tests/run-suite.sh
#
# 1. installs the Debian packages (deploy/install-deps.sh),
# 2. configures and builds build/ with --werror and runs every suite
#    (unit, fuzz, integration) with `meson test`,
# 3. builds build-asan/ with ASan+UBSan and runs the suites there once,
# 4. prints the failed tests with the tail of their logs, then a summary
#    whose very last line is "N passed, N failed, N skipped".
# Exits non-zero if anything failed (a build failure counts as one failure).
#
# Environment (for development; CI uses the defaults):
#   BERTH_BUILD_DIR (build), BERTH_ASAN_BUILD_DIR (build-asan),
#   BERTH_SKIP_DEPS=1 (do not run install-deps.sh), BERTH_SKIP_ASAN=1,
#   BERTH_TEST_ARGS (extra arguments for meson test, e.g. "--suite unit"),
#   BERTH_SUMMARY_ONLY="DIR..." (only summarise existing testlogs of DIRs).
set -uo pipefail

cd "$(dirname "$(readlink -f "$0")")/.." || exit 1
repo=$(pwd)

build=${BERTH_BUILD_DIR:-build}
asan=${BERTH_ASAN_BUILD_DIR:-build-asan}
read -r -a test_args <<<"${BERTH_TEST_ARGS:-}"
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n==== %s ====\n' "$*"; }

# Results that are not in a testlog.json (build failures) go here.
extra_failed=()
dirs_run=()

if [[ -n ${BERTH_SUMMARY_ONLY:-} ]]; then
        read -r -a dirs_run <<<"$BERTH_SUMMARY_ONLY"
        BERTH_SKIP_DEPS=1
fi

if [[ ${BERTH_SKIP_DEPS:-0} != 1 ]]; then
        step "install dependencies"
        if [[ $(id -u) -eq 0 ]]; then
                if ! "$repo/deploy/install-deps.sh"; then
                        echo "run-suite: install-deps.sh failed" >&2
                        extra_failed+=("install-deps")
                fi
        else
                echo "run-suite: not root, not installing packages (root-only tests will skip)" >&2
        fi
fi

for tool in meson ninja jq; do
        if ! command -v "$tool" >/dev/null; then
                echo "run-suite: $tool is missing; run deploy/install-deps.sh as root" >&2
                echo "0 passed, 1 failed, 0 skipped"
                exit 1
        fi
done

# setup_dir DIR ARGS...: configure DIR (or reconfigure it with ARGS).
setup_dir() {
        local dir=$1
        shift
        if [[ -f $dir/meson-private/coredata.dat ]]; then
                meson setup --reconfigure "$dir" "$@"
        else
                meson setup "$dir" "$@"
        fi
}

# run_in DIR TIMEOUT_MULTIPLIER ARGS...: configure, build and test DIR.
run_in() {
        local dir=$1 mult=$2
        shift 2
        rm -f "$dir/meson-logs/testlog.json"
        step "configure $dir"
        if ! setup_dir "$dir" "$@"; then
                extra_failed+=("configure:$dir")
                return
        fi
        step "build $dir"
        if ! ninja -C "$dir" -j "$jobs"; then
                extra_failed+=("build:$dir")
                return
        fi
        step "test $dir"
        # Integration tests are is_parallel:false; meson runs them alone.
        meson test -C "$dir" --num-processes "$jobs" --timeout-multiplier "$mult" \
                --print-errorlogs "${test_args[@]}"
        if [[ -f $dir/meson-logs/testlog.json ]]; then
                dirs_run+=("$dir")
        else
                extra_failed+=("test:$dir")
        fi
}

# Test builds compile in the fault-injection crash points (tests/integration/crash-*.sh).
[[ -z ${BERTH_SUMMARY_ONLY:-} ]] && run_in "$build" 1 --werror -Dcrash_points=true

if [[ -z ${BERTH_SUMMARY_ONLY:-} && ${BERTH_SKIP_ASAN:-0} != 1 ]]; then
        export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1}
        export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
        run_in "$asan" 3 -Db_sanitize=address,undefined -Db_lundef=false -Dcrash_points=true
fi

# ---- summary ----
step "summary"
passed=0 failed=0 skipped=0
failed_names=()
for dir in "${dirs_run[@]}"; do
        log=$dir/meson-logs/testlog.json
        # One JSON object per line: result OK / SKIP / anything else = failed.
        read -r p s f < <(jq -rs '[ (map(select(.result == "OK")) | length),
                                    (map(select(.result == "SKIP")) | length),
                                    (map(select(.result != "OK" and .result != "SKIP")) | length) ]
                                  | @tsv' "$log")
        passed=$((passed + p))
        skipped=$((skipped + s))
        failed=$((failed + f))
        while IFS= read -r name; do
                [[ -n $name ]] && failed_names+=("$dir: $name")
        done < <(jq -r 'select(.result != "OK" and .result != "SKIP") | "\(.name) [\(.result)]"' "$log")
        if [[ $f -gt 0 ]]; then
                # Failed checks ("not ok" lines and their "#   " details), then the tail.
                jq -r 'select(.result != "OK" and .result != "SKIP")
                       | ((.stdout // "") + (.stderr // "")) as $out
                       | "---- '"$dir"': \(.name) [\(.result), rc \(.returncode)] ----",
                         ([$out | split("\n") | foreach .[] as $l ({keep: false, l: null};
                                 if ($l | test("^not ok")) then {keep: true, l: $l}
                                 elif .keep and ($l | test("^#   ")) then {keep: true, l: $l}
                                 else {keep: false, l: null} end; .l) | select(. != null)] | .[:60] | join("\n")),
                         "-- last lines --",
                         ($out | split("\n") | .[-20:] | join("\n"))' "$log"
        fi
        while IFS= read -r line; do
                echo "skipped ($dir): $line"
        done < <(jq -r 'select(.result == "SKIP")
                        | "\(.name): \(((.stderr // "") + (.stdout // "")) | split("\n") | map(select(length > 0)) | .[-1] // "no reason given")"' "$log")
done

for e in "${extra_failed[@]}"; do
        failed=$((failed + 1))
        failed_names+=("$e")
done

if [[ ${#failed_names[@]} -gt 0 ]]; then
        echo
        echo "FAILED:"
        for n in "${failed_names[@]}"; do
                echo "  $n"
        done
fi
echo
echo "$passed passed, $failed failed, $skipped skipped"
[[ $failed -eq 0 ]]
