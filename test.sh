#!/usr/bin/env bash
# The one command that runs every StarStudio test (see README).
set -euo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
dotnet build StarStudio.sln -c Release
dotnet test StarStudio.Tests/StarStudio.Tests.csproj -c Release --no-build --logger "console;verbosity=normal"
