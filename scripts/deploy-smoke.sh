#!/usr/bin/env bash
# Deploy smoke test: `cdk bootstrap` and `cdk deploy` of the synthesized stack into moto (an AWS
# emulator on 127.0.0.1), then checks that the stack is CREATE_COMPLETE, that its outputs name real
# resources, and that a run request sent to the deployed queue comes back intact.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in moto_server aws python3; do
  command -v $tool >/dev/null || { echo "deploy-smoke: $tool is needed (moto[server]==5.2.1 and awscli from pip)" >&2; exit 1; }
done
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
moto_server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto=$!
work=$(mktemp -d)
trap 'kill $moto 2>/dev/null; rm -rf "$work" "$log"' EXIT
export AWS_ENDPOINT_URL="http://localhost:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
  AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 CDK_DISABLE_VERSION_CHECK=true AWS_PAGER=""
for i in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/" && break
  sleep 0.1
done
cdk=tools/cdk/node_modules/.bin/cdk
echo "deploy-smoke: cdk bootstrap"
$cdk bootstrap aws://123456789012/us-east-1 --no-notices >"$work/bootstrap.log" 2>&1 || { cat "$work/bootstrap.log"; exit 1; }
echo "deploy-smoke: cdk deploy"
$cdk deploy --app cdk.out --method=direct --require-approval never --no-notices --outputs-file "$work/outputs.json" >"$work/deploy.log" 2>&1 || { cat "$work/deploy.log"; exit 1; }
status=$(aws cloudformation describe-stacks --stack-name SparkFlow --query 'Stacks[0].StackStatus' --output text)
[ "$status" = CREATE_COMPLETE ] || { echo "deploy-smoke: stack is $status" >&2; exit 1; }
out() { python3 -c "import json,sys; print(json.load(open('$work/outputs.json'))['SparkFlow']['$1'])"; }
aws dynamodb describe-table --table-name "$(out TableName)" --query 'Table.GlobalSecondaryIndexes[].IndexName' --output text | grep -q gsi3
aws stepfunctions describe-state-machine --state-machine-arn "$(out RunStateMachineArn)" --query type --output text | grep -qx STANDARD
aws stepfunctions describe-state-machine --state-machine-arn "$(out PoolStateMachineArn)" --query name --output text | grep -qx SparkFlow-pool
queue=$(out RunsQueueUrl)
queue="http://localhost:$port/${queue#https://*/}"
aws --endpoint-url "$AWS_ENDPOINT_URL" sqs get-queue-attributes --queue-url "$queue" --attribute-names RedrivePolicy --query Attributes.RedrivePolicy --output text | grep -q maxReceiveCount
aws --endpoint-url "$AWS_ENDPOINT_URL" sqs send-message --queue-url "$queue" --message-body "$(cat events/run-request.json)" >/dev/null
body=$(aws --endpoint-url "$AWS_ENDPOINT_URL" sqs receive-message --queue-url "$queue" --wait-time-seconds 1 --query 'Messages[0].Body' --output text)
python3 - "$body" <<'PY'
import json, sys
got, want = json.loads(sys.argv[1]), json.load(open("events/run-request.json"))
assert got == want, f"the run request came back as {got}"
assert set(got) <= {"id", "transform", "params"}, f"unknown fields {set(got)}"
PY

# The CLI against the deployed stack (its outputs found through CloudFormation, the user's credentials).
go build -o "$work/sparkflow" ./cmd/sparkflow
sf() { "$work/sparkflow" --target aws --stack SparkFlow "$@"; }
sf tier list >/dev/null
sf pool list >/dev/null
if sf run submit daily-sales >"$work/err" 2>&1; then echo "deploy-smoke: a run of an unknown transform was accepted" >&2; exit 1; fi
grep -q 'transform "daily-sales" does not exist' "$work/err" || { cat "$work/err"; exit 1; }
# Seed the sample transform as the pool workflow would write it (moto cannot run the Lambdas here).
table=$(out TableName)
python3 - "$work/item.json" <<'PY'
import json, sys
t = json.load(open("events/transform-request.json"))
item = {"pk": {"S": "TRANSFORM#" + t["name"]}, "sk": {"S": "#"}, "data": {"S": json.dumps(t)},
        "pl": {"S": t["pool"]}, "g1pk": {"S": "TRANSFORMS"}, "g1sk": {"S": t["name"]}}
json.dump(item, open(sys.argv[1], "w"))
PY
aws dynamodb put-item --table-name "$table" --item "file://$work/item.json"
sf transform list | grep -q daily-sales
id=$(sf run submit daily-sales --arg day=2026-11-23 -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
body=$(aws --endpoint-url "$AWS_ENDPOINT_URL" sqs receive-message --queue-url "$queue" --wait-time-seconds 1 --query 'Messages[0].Body' --output text)
python3 - "$body" "$id" <<'PY'
import json, sys
got = json.loads(sys.argv[1])
assert got == {"id": sys.argv[2], "transform": "daily-sales", "params": {"day": "2026-11-23"}}, got
PY
# The web UI over the deployed stack.
uiport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sf ui --addr "127.0.0.1:$uiport" >"$work/ui.log" 2>&1 &
ui=$!
for i in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$uiport/api/health" && break; sleep 0.1; done
curl -s "http://127.0.0.1:$uiport/transforms" | grep -q 'href="/transforms/daily-sales"' || { kill $ui; cat "$work/ui.log"; echo "deploy-smoke: the UI does not show the stack's transform" >&2; exit 1; }
kill $ui
echo "deploy-smoke: stack CREATE_COMPLETE; outputs resolve to a table, two Standard state machines and a queue with redrive; a run request round-trips; sparkflow --target aws reads the stack and queues a valid run request"
