"""Writes kubeconform schemas: VERSION's from the kubernetes-validate wheel, and the vendored CRDs'.

usage: python k8s-schemas.py VERSION OUTDIR CRD_DIR   (e.g. v1.36.0 ~/.cache/execution-orchestrator/k8s-schemas deploy/crds)

kubernetes-validate's schemas refer to each other by absolute kubernetes.io URLs; kubeconform resolves them
relative to the file, so the refs are rewritten and the $id dropped. Each CRD version becomes
OUTDIR/crds/<group>/<kind>_<version>.json (strict: no unknown fields where the CRD lists its properties).
"""
import json
import os
import sys

import kubernetes_validate
import yaml


def builtin(version: str, out: str) -> None:
    root = os.path.join(os.path.dirname(kubernetes_validate.__file__), "kubernetes-json-schema")
    for flavour, suffix in (("local", ""), ("local-strict", "-strict")):
        src, dst = os.path.join(root, f"{version}-{flavour}"), os.path.join(out, f"{version}-standalone{suffix}")
        os.makedirs(dst, exist_ok=True)
        for name in os.listdir(src):
            with open(os.path.join(src, name)) as f:
                doc = json.loads(f.read().replace('"/api/_definitions.json#', '"_definitions.json#'))
            doc.pop("$id", None)
            with open(os.path.join(dst, name), "w") as f:
                json.dump(doc, f)


def strict(schema):
    if isinstance(schema, dict):
        if "properties" in schema and "additionalProperties" not in schema and not schema.get("x-kubernetes-preserve-unknown-fields"):
            schema["additionalProperties"] = False
        for value in schema.values():
            strict(value)
    elif isinstance(schema, list):
        for value in schema:
            strict(value)
    return schema


def crds(crd_dir: str, out: str) -> int:
    written = 0
    for dirpath, _, files in os.walk(crd_dir):
        for name in sorted(files):
            if not name.endswith(".yaml"):
                continue
            with open(os.path.join(dirpath, name)) as f:
                for doc in yaml.safe_load_all(f):
                    if not doc or doc.get("kind") != "CustomResourceDefinition":
                        continue
                    group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"].lower()
                    for version in doc["spec"]["versions"]:
                        schema = strict(version["schema"]["openAPIV3Schema"])
                        dst = os.path.join(out, "crds", group)
                        os.makedirs(dst, exist_ok=True)
                        with open(os.path.join(dst, f"{kind}_{version['name']}.json"), "w") as f2:
                            json.dump(schema, f2)
                        written += 1
    return written


if __name__ == "__main__":
    version, out, crd_dir = sys.argv[1:4]
    builtin(version, out)
    print(f"{crds(crd_dir, out)} CRD schemas", file=sys.stderr)
