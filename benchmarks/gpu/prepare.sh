#!/usr/bin/env bash
# Build .devkit/, what a lent GPU machine lacks to run benchmarks/gpu/run.sh (see benchmarks/gpu/README.md).
# Run here, in the project's venv, from anywhere: bash benchmarks/gpu/prepare.sh
#   .devkit/whl    kgrec's own wheel and the dependencies the machine's image does not hold, for its Python
#   .devkit/model  the packaged text model, packed to int8 rows (pack_model.py: 91 MB does not travel)
#   .devkit/data   a link to ../shared/data: the datasets travel through it, by name, and are never copied
# .devkit/ is in .gitignore: never committed, and it travels only where the call's carry names it.
set -euo pipefail
cd "$(dirname "$0")/../.."
kit=.devkit
py_version=${KIT_PYTHON_VERSION:-3.12}   # the machine's python3 (KINDS.md: 3.12.3); 3.11 for a rehearsal here
data_home=$(cd "${KGREC_DATA_HOME:-../shared/data}" && pwd)

rm -rf "$kit"
mkdir -p "$kit/whl"

# kgrec itself (its package-dir layout cannot be imported from the source tree) and the image's gaps:
# pydantic and its parts. Versions pinned to this venv's, so what runs there is what passed here.
python -m pip wheel -q --no-deps --no-build-isolation -w "$kit/whl" . >/dev/null
rm -rf build
pins=()
for name in pydantic pydantic-core annotated-types typing-inspection typing-extensions; do
  pins+=("$name==$(python -c "import importlib.metadata as m; print(m.version('$name'))")")
done
python -m pip download -q --no-deps --only-binary=:all: --python-version "$py_version" --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux2014_x86_64 -d "$kit/whl" "${pins[@]}" 2>&1 | grep -v "^WARNING: Location" || true

python benchmarks/gpu/pack_model.py pack "$kit/model"
ln -s "$data_home" "$kit/data"

ls -l "$kit/whl"
du -shL "$kit/whl" "$kit/model" "$kit/data/hetrec2011-lastfm-2k" "$kit/data/lastfm-kgcn" "$kit/data/lastfm-dbpedia-entity2rec"
