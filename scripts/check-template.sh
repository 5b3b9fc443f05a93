#!/usr/bin/env bash
# Checks a synthesized template: cfn-lint (pip, preinstalled on the project's machines), then every
# state machine's definition through asl-validator (npm, tools/cdk). Definitions are rebuilt from their
# Fn::Join with pseudo parameters given example values and other tokens replaced by well-formed ARNs.
set -euo pipefail
cd "$(dirname "$0")/.."
template=${1:-cdk.out/SparkFlow.template.json}
if ! command -v cfn-lint >/dev/null; then
  echo "check-template: cfn-lint is needed (pip install cfn-lint)" >&2
  exit 1
fi
echo "cfn-lint $template"
# W3005: CDK adds DependsOn beside a GetAtt that implies it already; harmless, and not ours to change.
cfn-lint --format parseable --ignore-checks W3005 -- "$template"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 - "$template" "$out" <<'PY'
import json, sys
template, out = sys.argv[1], sys.argv[2]
doc = json.load(open(template))
n = 0
for lid, r in doc["Resources"].items():
    if r["Type"] != "AWS::StepFunctions::StateMachine":
        continue
    ds = r["Properties"]["DefinitionString"]
    if isinstance(ds, dict):
        pseudo = {"AWS::Partition": "aws", "AWS::Region": "us-east-1", "AWS::AccountId": "123456789012"}
        def part(p):
            if isinstance(p, str):
                return p
            if p.get("Ref") in pseudo:
                return pseudo[p["Ref"]]
            return "arn:aws:lambda:us-east-1:123456789012:function:stand-in"
        text = "".join(part(p) for p in ds["Fn::Join"][1])
    else:
        text = ds
    json.loads(text)
    open(f"{out}/{lid}.json", "w").write(text)
    n += 1
if n == 0:
    sys.exit("no state machine in the template")
print(f"{n} state machine definitions extracted")
PY
for f in "$out"/*.json; do
  echo "asl-validator $(basename "$f" .json)"
  tools/cdk/node_modules/.bin/asl-validator --json-path "$f"
done
