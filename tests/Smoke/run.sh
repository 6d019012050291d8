#!/usr/bin/env bash
# Packs every Sourced package (Release) into a folder, then builds and runs a C# and an F# app outside the
# solution that install them from that folder (third-party packages from the machine's usual NuGet sources).
# Usage: tests/Smoke/run.sh [packages folder]   (default: a fresh temporary folder)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
out="${1:-$work/packages}"
mkdir -p "$out"

sourcelink=$("$root/tools/sourcelink-remote.sh")
dotnet pack "$root/Sourced.FSharp.sln" -c Release -o "$out" -warnaserror $sourcelink --nologo -v quiet
core=$(ls "$out"/Sourced.Core.*.nupkg | grep -v '\.symbols\.' | head -1)
version=$(basename "$core" .nupkg)
version=${version#Sourced.Core.}
echo "smoke: packed version $version:"
(cd "$out" && ls -1 *.nupkg *.snupkg | sed 's/^/  /')

# Outside the repository, so that its Directory.*.props (central versions, lock files) do not apply; a package
# folder of its own, so that no earlier pack of the same version is taken from the cache.
cp -r "$root/tests/Smoke/CSharp" "$root/tests/Smoke/FSharp" "$work/"
cat >"$work/nuget.config" <<CONFIG
<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <packageSources>
    <add key="sourced-local" value="$out" />
  </packageSources>
</configuration>
CONFIG
export NUGET_PACKAGES="$work/nuget-packages"

for app in CSharp FSharp; do
  dotnet build "$work/$app" -c Release -p:SourcedVersion="$version" --nologo -v quiet
  dotnet run --project "$work/$app" -c Release --no-build
done
echo "smoke: both apps ran from the packages"
