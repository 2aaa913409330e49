// Runs opt-out operations with the official ACS JavaScript client, unchanged, and prints the
// results as JSON. Input (stdin): {"connectionString": "...", "ops": [{"op": "add"|"remove"|
// "check", "from": "+1...", "to": ["+1..."]}]}. Output: one entry per op, either
// {"result": [...]} or {"error": {"name", "statusCode", "code", "message"}}.
import { SmsClient } from "@azure/communication-sms";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

const client = new SmsClient(input.connectionString, { allowInsecureConnection: true });
const out = [];
for (const { op, from, to } of input.ops) {
  try {
    out.push({ result: await client.optOuts[op](from, to) });
  } catch (e) {
    out.push({
      error: { name: e.name, statusCode: e.statusCode, code: e.code, message: e.message },
    });
  }
}
process.stdout.write(JSON.stringify(out));
