// Runs opt-out operations with the official ACS JavaScript client, unchanged, and prints the
// results as JSON. Input (stdin): {"connectionString": "...", "ops": [{"op": "add"|"remove"|
// "check", "from": "+1...", "to": ["+1..."]}]}. Output: one entry per op, either
// {"result": [...]} or {"error": {"name", "statusCode", "code", "message"}}, with "ids": the
// x-ms-client-request-id the client sent, the one the service echoed, and its x-ms-request-id.
import { SmsClient } from "@azure/communication-sms";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

// Watches the client's own pipeline (the SDK drops onResponse) for the request ids.
let ids = {};
const watchIds = {
  name: "watchRequestIds",
  async sendRequest(request, next) {
    const response = await next(request);
    ids = {
      sent: request.headers.get("x-ms-client-request-id"),
      echoed: response.headers.get("x-ms-client-request-id"),
      server: response.headers.get("x-ms-request-id"),
    };
    return response;
  },
};
const client = new SmsClient(input.connectionString, {
  allowInsecureConnection: true,
  additionalPolicies: [{ policy: watchIds, position: "perRetry" }],
});
const out = [];
for (const { op, from, to } of input.ops) {
  ids = {};
  try {
    out.push({ result: await client.optOuts[op](from, to), ids });
  } catch (e) {
    out.push({
      error: { name: e.name, statusCode: e.statusCode, code: e.code, message: e.message },
      ids,
    });
  }
}
process.stdout.write(JSON.stringify(out));
