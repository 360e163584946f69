#!/usr/bin/env bash
# Re-vendors Apache ECharts for the explorer page from the npm registry: the minified bundle and
# its licences into crates/affinity-serve/assets/vendor/echarts. Prints the digests to record in
# that folder's README. Needs npm (the machine's Node.js); the build itself never fetches it.
set -euo pipefail
version=${1:?usage: vendor_echarts.sh VERSION (e.g. 6.1.0)}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dest="$root/crates/affinity-serve/assets/vendor/echarts"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
npm pack "echarts@$version" >/dev/null
tar xzf "echarts-$version.tgz"
zrender=$(sed -n 's/.*"zrender": *"\([^"]*\)".*/\1/p' package/package.json)
tslib=$(sed -n 's/.*"tslib": *"\([^"]*\)".*/\1/p' package/package.json)
npm pack "zrender@$zrender" "tslib@$tslib" >/dev/null
mkdir z t
tar xzf "zrender-$zrender.tgz" -C z
tar xzf "tslib-$tslib.tgz" -C t
rm -f "$dest"/echarts-*.min.js
cp package/dist/echarts.min.js "$dest/echarts-$version.min.js.tmp"
mv "$dest/echarts-$version.min.js.tmp" "$dest/echarts-$version.min.js"
cp package/LICENSE package/NOTICE "$dest/"
cp package/licenses/LICENSE-d3 "$dest/LICENSE-d3"
cp z/package/LICENSE "$dest/LICENSE-zrender"
cp t/package/LICENSE.txt "$dest/LICENSE-tslib"
echo "echarts $version (zrender $zrender, tslib $tslib)"
sha256sum "echarts-$version.tgz" "$dest/echarts-$version.min.js"
