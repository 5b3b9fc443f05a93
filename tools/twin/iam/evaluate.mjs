// Evaluates IAM requests offline with @cloud-copilot/iam-simulate. Reads {"requests": [{principal,
// action, resource, context, policies: [{name, policy}]}]} as JSON on stdin and writes one result per
// request: {"decision": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | "Error", "detail": ...}.
import { isWildcardOnlyAction, runSimulation } from '@cloud-copilot/iam-simulate'

const chunks = []
for await (const c of process.stdin) chunks.push(c)
const { requests } = JSON.parse(Buffer.concat(chunks).toString())
const out = []
for (const r of requests) {
  const account = r.principal.split(':')[4]
  let resource = r.resource
  try {
    const [service, name] = r.action.split(':')
    if (await isWildcardOnlyAction(service, name)) resource = '*'
  } catch (e) {
    out.push({ decision: 'Error', detail: `unknown action ${r.action}: ${e.message}` })
    continue
  }
  const sim = {
    request: { principal: r.principal, action: r.action, resource: { resource, accountId: account }, contextVariables: r.context || {} },
    identityPolicies: r.policies, serviceControlPolicies: [], resourceControlPolicies: [],
  }
  try {
    const res = await runSimulation(sim, {})
    if (res.errors) {
      out.push({ decision: 'Error', detail: res.errors.message || JSON.stringify(res.errors) })
    } else {
      out.push({ decision: res.overallResult, detail: res.overallResult === 'Allowed' ? '' : JSON.stringify(res.result?.analysis?.identityAnalysis?.unmatchedStatements?.map(s => s.explain) ?? []).slice(0, 2000) })
    }
  } catch (e) {
    out.push({ decision: 'Error', detail: e.message })
  }
}
process.stdout.write(JSON.stringify(out))
