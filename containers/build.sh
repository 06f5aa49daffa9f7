#!/usr/bin/env bash
# Build and tag the pipeline's images; the module `container` lines name these tags.
#   containers/build.sh [--engine docker|podman] [--base IMAGE] [--push REGISTRY] [-- ENGINE BUILD OPTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."

engine=docker
base=""
push=""
while [ $# -gt 0 ]; do
    case "$1" in
        --engine) engine=$2; shift 2 ;;
        --base) base=$2; shift 2 ;;
        --push) push=$2; shift 2 ;;
        --) shift; break ;;
        -h|--help) sed -n '2,3p' "$0"; exit 0 ;;
        *) echo "unknown option: $1" >&2; exit 2 ;;
    esac
done

version=$(sed -n 's/^version = "\(.*\)"/\1/p' pyproject.toml)
build_args=()
[ -n "$base" ] && build_args+=(--build-arg "BASE_IMAGE=$base")

"$engine" build "${build_args[@]}" "$@" -f containers/Dockerfile -t "cellannotate/cellannotate:${version}" .
echo "built cellannotate/cellannotate:${version}"
# The Azimuth image adds the weights (downloaded and checked while building: needs internet).
"$engine" build --build-arg "CELLANNOTATE_IMAGE=cellannotate/cellannotate:${version}" "$@" \
    -f containers/Dockerfile.azimuth -t "cellannotate/cellannotate-azimuth:${version}" .
echo "built cellannotate/cellannotate-azimuth:${version}"

if [ -n "$push" ]; then
    for image in cellannotate cellannotate-azimuth; do
        "$engine" tag "cellannotate/${image}:${version}" "${push}/cellannotate/${image}:${version}"
        "$engine" push "${push}/cellannotate/${image}:${version}"
    done
fi
