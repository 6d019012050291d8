#!/usr/bin/env bash
# SourceLink maps each package's sources to the public repository at the built commit, read from a git remote.
# In a clone whose origin is not a GitHub URL (CI clones a local path), this adds a remote 'sourced-public' with
# the public URL (SourcedRepositoryUrl in src/Directory.Build.props), leaving origin alone, and prints the
# MSBuild argument that makes SourceLink use it; in a GitHub clone it prints nothing.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if git remote get-url origin 2>/dev/null | grep -q '^https://github\.com/'; then
  exit 0
fi
url=$(dotnet msbuild src/Sourced.Core/Sourced.Core.fsproj -getProperty:SourcedRepositoryUrl)
if git remote get-url sourced-public >/dev/null 2>&1; then
  git remote set-url sourced-public "$url"
else
  git remote add sourced-public "$url"
fi
echo "-p:GitRepositoryRemoteName=sourced-public"
