#!/usr/bin/env bash
# The one command that runs every StarStudio test (see README).
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# Browser tests drive Debian's Chromium (Playwright's own browser download cannot work offline). Install it when
# missing and we may; otherwise the browser tests skip themselves and say why.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
    echo "test.sh: installing chromium for the browser tests"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq chromium >/dev/null \
      || echo "test.sh: could not install chromium; browser tests will be skipped"
  else
    echo "test.sh: chromium is not installed and this is not root; browser tests will be skipped (install chromium to run them)"
  fi
fi
# One OpenMP thread for libtorch: on AVX-512 machines its multi-threaded CPU kernels returned NaN at random in the
# tiny training tests (0 of 6 runs of TrainingTests failed with one thread, about 1 in 4 with two; TorchNativeLoader
# holds oneDNN and MKL to AVX2 for the same reason). Tests that time or train real models set their own threads.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
dotnet build StarStudio.sln -c Release
log="$(mktemp)"
if ! dotnet test StarStudio.Tests/StarStudio.Tests.csproj -c Release --no-build --logger "console;verbosity=normal" 2>&1 | tee "$log"; then
  # Repeat the failures at the end, where a CI log's tail shows them.
  echo "test.sh: failed tests (repeated from above):"
  awk '/^ +Failed [A-Za-z]/ { show = 1 } /^ +Stack Trace:/ { show = 0 } show' "$log"
  exit 1
fi
