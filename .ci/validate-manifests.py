"""Validates manifests rendered by `helm template`, for .ci/run.

Every resource is checked against the Kubernetes OpenAPI schemas that kubernetes-validate ships,
strictly (an unknown field is an error), for the oldest Kubernetes the chart supports (argument 1,
from Chart.yaml's kubeVersion) and for the newest the tool knows. kubernetes-validate has no schema for
custom resources: given one, it warns and passes. Here a kind it does not know fails, except the
ServiceMonitor (monitoring.coreos.com/v1), which is checked against .ci/servicemonitor.schema.json, a
strict subset of the Prometheus Operator's CRD, instead.

usage: validate-manifests.py OLDEST_KUBERNETES_VERSION FILE...
"""

import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml
from kubernetes_validate import SchemaNotFoundError, ValidationError

HERE = os.path.dirname(os.path.abspath(__file__))
CUSTOM_SCHEMAS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.schema.json",
}


def check_custom(resource, schema_file):
    with open(os.path.join(HERE, schema_file)) as source:
        schema = json.load(source)
    validator = jsonschema.Draft7Validator(schema)
    return [
        "%s: %s" % ("/".join(str(part) for part in error.absolute_path) or "(top)", error.message)
        for error in validator.iter_errors(resource)
    ]


def check_kubernetes(resource, versions):
    problems = []
    for version in versions:
        try:
            kubernetes_validate.validate(resource, version, strict=True)
        except ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            problems.append("Kubernetes %s: %s: %s" % (error.version, path, error.message))
        except SchemaNotFoundError as error:
            problems.append("%s (and no schema of our own for it)" % error.message)
    return problems


def main():
    oldest, paths = sys.argv[1], sys.argv[2:]
    versions = [oldest, kubernetes_validate.latest_version()]
    checked = failed = 0
    for path in paths:
        with open(path) as source:
            resources = [resource for resource in yaml.safe_load_all(source) if resource]
        if not resources:
            print("ERROR %s: no resources" % path)
            failed += 1
        for resource in resources:
            name = "%s/%s" % (resource.get("kind"), resource.get("metadata", {}).get("name"))
            schema_file = CUSTOM_SCHEMAS.get((resource.get("apiVersion"), resource.get("kind")))
            if schema_file:
                problems = check_custom(resource, schema_file)
                against = schema_file
            else:
                problems = check_kubernetes(resource, versions)
                against = "Kubernetes %s" % " and ".join(versions)
            checked += 1
            if problems:
                failed += 1
                for problem in problems:
                    print("ERROR %s %s: %s" % (path, name, problem))
            else:
                print("ok %s %s (%s)" % (os.path.basename(path), name, against))
    print("%d resources checked, %d failed" % (checked, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
