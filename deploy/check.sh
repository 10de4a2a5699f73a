#!/usr/bin/env bash
# Checks the Kubernetes manifests (called by .ci/run; run it after any change under deploy/):
#   1. renders each overlay of deploy/k8s with `kubectl kustomize`;
#   2. kubeconform -strict: every object against the Kubernetes 1.36 schemas, the ScaledObject against KEDA's CRD;
#   3. kube-score: the lint checks (probes, limits, security context, PDBs, NetworkPolicies …);
#   4. against the local control plane (`npm run stack -- up kubernetes`, started here when it is not up):
#      `kubectl apply --dry-run=server` of each overlay (any warning fails, e.g. PodSecurity), then the local overlay
#      applied for real: its Deployments must become Available (pods admitted under PodSecurity "restricted",
#      scheduled on the kwok node), and the worker's ServiceAccount may do in eo-runs exactly what the runner needs.
# usage: deploy/check.sh [--no-server]     tools are installed once by deploy/tools.sh (cached in EO_CACHE_DIR)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/tools.sh
source deploy/tools.sh
server=1
[ "${1:-}" = "--no-server" ] && server=0

started=$SECONDS
step() { echo "[deploy/check +$((SECONDS - started))s] $*" >&2; }
fail() { echo "[deploy/check] FAILED: $*" >&2; exit 1; }

step "tools"
ensure_manifest_tools
kubectl="$venv/bin/kubectl"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

overlays=()
for dir in deploy/k8s/overlays/*/; do overlays+=("$(basename "$dir")"); done
for overlay in "${overlays[@]}"; do
  step "render $overlay"
  "$kubectl" kustomize "deploy/k8s/overlays/$overlay" > "$out/$overlay.yaml" || fail "kubectl kustomize deploy/k8s/overlays/$overlay"
done

step "kubeconform (Kubernetes ${K8S_SCHEMA_VERSION#v}, KEDA CRDs)"
"$tools_bin/kubeconform" -strict -summary -output text -kubernetes-version "${K8S_SCHEMA_VERSION#v}" \
  -schema-location "$schemas/{{ .NormalizedKubernetesVersion }}-standalone{{ .StrictSuffix }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
  -schema-location "$schemas/crds/{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json" \
  "$out"/*.yaml deploy/crds || fail "kubeconform"

step "kube-score"
# Every check kube-score runs by default applies to every object; the one exception is annotated on its object
# (kube-score/ignore on the runs' deny-all NetworkPolicy: the pods it selects are made at run time).
kube_score_ignores=()
for overlay in "${overlays[@]}"; do
  "$tools_bin/kube-score" score --output-format ci ${kube_score_ignores[@]+"${kube_score_ignores[@]}"} "$out/$overlay.yaml" > "$out/$overlay.score" \
    || { cat "$out/$overlay.score" >&2; fail "kube-score on overlay $overlay"; }
  # Warnings fail too: kube-score exits non-zero on CRITICAL only.
  if grep -E '^\[(WARNING|CRITICAL)\]' "$out/$overlay.score" >&2; then fail "kube-score warned about overlay $overlay"; fi
done

if [ "$server" = 0 ]; then
  step "done without the server checks (--no-server) in $((SECONDS - started)) s"
  exit 0
fi

step "local control plane"
ours=0
if ! npm run --silent stack -- status kubernetes >/dev/null 2>&1; then
  npm run --silent stack -- up kubernetes </dev/null >&2 || fail "npm run stack -- up kubernetes"
  ours=1
fi
kubeconfig=$(npx --no-install tsx -e "import { kubeconfigPath } from './stack/kubernetes'; process.stdout.write(kubeconfigPath())")
[ -f "$kubeconfig" ] || fail "no kubeconfig at $kubeconfig"
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }
# shellcheck disable=SC2064
[ "$ours" = 1 ] && trap "rm -rf '$out'; npm run --silent stack -- down kubernetes >/dev/null 2>&1 || true" EXIT

step "KEDA CRDs and the namespaces (for real: a dry run of objects in a namespace needs the namespace)"
k apply --server-side --force-conflicts -f deploy/crds/keda-v2.21.0/ >/dev/null
k wait --for=condition=Established --timeout=60s crd/scaledobjects.keda.sh crd/triggerauthentications.keda.sh >/dev/null
"$venv/bin/python" - "$out"/*.yaml > "$out/namespaces.yaml" <<'PY'
import sys, yaml
docs = [d for f in sys.argv[1:] for d in yaml.safe_load_all(open(f)) if d and d.get("kind") == "Namespace"]
print(yaml.safe_dump_all({d["metadata"]["name"]: d for d in docs}.values()))
PY
k apply -f "$out/namespaces.yaml" >/dev/null

for overlay in "${overlays[@]}"; do
  step "kubectl apply --dry-run=server, overlay $overlay"
  k apply --dry-run=server -f "$out/$overlay.yaml" > "$out/$overlay.dry" 2>&1 || { grep -v '(server dry run)$' "$out/$overlay.dry" >&2; fail "server-side dry run of overlay $overlay"; }
  if grep -i 'warning' "$out/$overlay.dry" >&2; then fail "the server warned about overlay $overlay"; fi
done

step "overlay local applied for real: Deployments Available, the worker's RBAC"
k apply -f "$out/local.yaml" >/dev/null
if ! k -n execution-orchestrator wait --for=condition=Available --timeout=120s deployment --all >&2; then
  k -n execution-orchestrator get events --field-selector type=Warning >&2 || true
  fail "the local overlay's Deployments did not become Available"
fi
worker="--as=system:serviceaccount:execution-orchestrator:worker"
# (A subresource is asked with --subresource: `can-i get pods/log` would ask about a pod named "log".)
for allowed in "create pods" "get pods" "list pods" "watch pods" "delete pods" "get pods --subresource=log" \
  "create configmaps" "get configmaps" "update configmaps" "delete configmaps"; do
  # shellcheck disable=SC2086
  [ "$(k auth can-i $allowed -n eo-runs "$worker" 2>/dev/null)" = yes ] || fail "the worker may not '$allowed' in eo-runs"
done
for denied in "get secrets -n eo-runs" "create pods --subresource=exec -n eo-runs" "create pods --subresource=attach -n eo-runs" \
  "patch pods -n eo-runs" "update pods -n eo-runs" "create pods -n execution-orchestrator" "get secrets -n execution-orchestrator" \
  "list pods -n default" "create pods -n default"; do
  # shellcheck disable=SC2086
  [ "$(k auth can-i $denied "$worker" 2>/dev/null)" = no ] || fail "the worker may '$denied'"
done

# The runner namespace really refuses what "restricted" forbids (a bare pod: root allowed, capabilities kept).
if k -n eo-runs run psa-probe --image=busybox:1 --restart=Never --dry-run=server -o name >/dev/null 2>"$out/psa.err"; then
  fail "namespace eo-runs admitted a pod that PodSecurity restricted forbids"
fi
grep -q 'violates PodSecurity "restricted' "$out/psa.err" || { cat "$out/psa.err" >&2; fail "a bare pod in eo-runs was refused, but not by PodSecurity"; }

step "all manifest checks passed in $((SECONDS - started)) s"
