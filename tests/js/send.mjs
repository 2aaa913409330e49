// Sends SMS with the official ACS JavaScript client, unchanged, and prints the results as JSON.
// Input (stdin): {"connectionString": "...", "sends": [{"from": "+1...", "to": ["+1..."],
// "message": "...", "options": {...}?}]}. Output: one entry per send, either {"result": [...]}
// (SmsSendResult items) or {"error": {"name", "statusCode", "code", "message"}}.
import { SmsClient } from "@azure/communication-sms";

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const input = JSON.parse(Buffer.concat(chunks).toString("utf8"));

// The SDK's own retries would hide the first answer from the test; callers keep theirs.
const client = new SmsClient(input.connectionString, {
  allowInsecureConnection: true,
  retryOptions: { maxRetries: input.maxRetries ?? 0 },
});
const out = [];
for (const { from, to, message, options } of input.sends) {
  try {
    out.push({ result: await client.send({ from, to, message }, options ?? {}) });
  } catch (e) {
    out.push({
      error: { name: e.name, statusCode: e.statusCode, code: e.code, message: e.message },
    });
  }
}
process.stdout.write(JSON.stringify(out));
