#!/usr/bin/env bash
# The prepared GPU run, in one command (see bench/gpu/README.md):
#   bench/gpu/run.sh [--dry-run] [gpu_run.ts options...]
# Installs what it needs from bench/gpu/carry/ (Deno from deno.xz, the Vulkan loader from a
# libvulkan1 .deb or libvulkan.so.1, the npm packages from node_modules.tar.xz) into a scratch
# folder when the machine lacks them, then runs bench/gpu/gpu_run.ts, which prints the adapter
# (and whether it offers subgroups), times the training steps, runs PyTorch with CUDA when
# present and the oracle tests (again with PREFIX_EDGE_SUBGROUPS=1 where the adapter offers
# subgroups), and writes bench/gpu/results.json.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
CARRY="${PREFIX_EDGE_CARRY:-$HERE/carry}"
SCRATCH="${TMPDIR:-/tmp}/prefix-edge-gpu"
mkdir -p "$SCRATCH/bin"
say() { echo "[gpu run] $*"; }

# Deno: the one on PATH, else the carried xz-compressed binary.
if ! command -v deno >/dev/null 2>&1; then
  if [ -f "$CARRY/deno.xz" ]; then
    xz -dc "$CARRY/deno.xz" >"$SCRATCH/bin/deno"
    chmod +x "$SCRATCH/bin/deno"
    export PATH="$SCRATCH/bin:$PATH"
    say "installed Deno from $CARRY/deno.xz"
  else
    say "Cannot run: no deno on PATH and no $CARRY/deno.xz (see bench/gpu/README.md)"
    exit 2
  fi
fi
say "$(deno --version | head -1)"

# The Vulkan loader (Deno's WebGPU opens libvulkan.so.1 at run time).
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  deb="$(ls "$CARRY"/libvulkan1_*.deb 2>/dev/null | head -1 || true)"
  if [ -n "$deb" ]; then
    dpkg-deb -x "$deb" "$SCRATCH/vulkan"
    lib="$(dirname "$(find "$SCRATCH/vulkan" -name 'libvulkan.so.1*' | head -1)")"
    export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "using the Vulkan loader from $deb"
  elif [ -f "$CARRY/libvulkan.so.1" ]; then
    export LD_LIBRARY_PATH="$CARRY${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    say "using $CARRY/libvulkan.so.1"
  else
    say "warning: no libvulkan.so.1 in the linker cache or in $CARRY: Deno falls back to GL, if any (see README)"
  fi
fi

# NVIDIA's Vulkan driver: containers often mount the driver's libraries without its ICD file.
if [ -z "${VK_ICD_FILENAMES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia* /etc/vulkan/icd.d/nvidia* >/dev/null 2>&1; then
  glx="$(ldconfig -p 2>/dev/null | awk '/libGLX_nvidia\.so\.0/ {print $NF; exit}')"
  if [ -n "$glx" ]; then
    cat >"$SCRATCH/nvidia_icd.json" <<EOF
{ "file_format_version": "1.0.0", "ICD": { "library_path": "$glx", "api_version": "1.3.0" } }
EOF
    export VK_ICD_FILENAMES="$SCRATCH/nvidia_icd.json"
    say "wrote an ICD file for $glx"
  fi
fi

# The npm packages the SDK imports (the machine may have no network).
if [ ! -d "$ROOT/node_modules" ] && [ -f "$CARRY/node_modules.tar.xz" ]; then
  tar -xJf "$CARRY/node_modules.tar.xz" -C "$ROOT"
  say "unpacked $CARRY/node_modules.tar.xz"
fi
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | sed 's/^/[gpu run] nvidia-smi: /'

cd "$ROOT"
exec deno run -A bench/gpu/gpu_run.ts "$@"
