// A Node.js client of `talktrack serve`, with the built-in fetch and no packages.
//
//   talktrack serve --bundle policies/telecom-upsell &
//   node examples/node/client.mjs http://127.0.0.1:8181 examples/requests/minor.json
//
// Decides one turn, reports the conversation's outcome, and prints one JSON line:
// the decision id, the chosen track, the bundle digest and the outcome's status.
import { readFile } from "node:fs/promises";

const [base = "http://127.0.0.1:8181", requestFile = "examples/requests/minor.json"] =
  process.argv.slice(2);

async function post(path, body) {
  const res = await fetch(base + path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const json = await res.json();
  if (res.status >= 400) {
    throw new Error(`${path}: ${res.status} ${json.error?.kind}: ${json.error?.message}`);
  }
  return { status: res.status, json };
}

const request = JSON.parse(await readFile(requestFile, "utf8"));
const { json: decision } = await post("/v1/decide?detail=compact", request);
const { status } = await post("/v1/outcome", {
  conversation_id: request.conversation_id,
  decision_id: decision.decision_id,
  converted: true,
  value: 30,
  final_reply: "positive",
});
console.log(
  JSON.stringify({
    decision_id: decision.decision_id,
    track: decision.track,
    propensity: decision.propensity,
    digest: decision.bundle.digest,
    outcome_status: status,
  }),
);
