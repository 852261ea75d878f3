// The live fan-out's subscribers (bench/server_live.py): N WebSocket clients (the npm package `ws`) in
// one Node.js process, each subscribed to a machine; every change received is timed at once against the
// change's `at` (its commit, stamped by the server) and the sender's `at` in the instance's context.
//
// node server_live_client.mjs WS_URL MACHINE SUBSCRIBERS CHANGES AUTHORIZATION
// Prints "ready" once every client is subscribed, then one JSON line when each client has its CHANGES
// changes (or 30 s passed without one): {"from_commit": [...], "from_send": [...], "missing": n}, seconds.
import { createRequire } from "node:module";
import { performance } from "node:perf_hooks";

const require = createRequire(process.env.INTERLOCK_BENCH_WS_MODULES + "/");
const WebSocket = require("ws");
const [url, machine, subscribers, changes, authorization] = process.argv.slice(2);
const total = Number(subscribers), wanted = Number(changes);
const now = () => (performance.timeOrigin + performance.now()) / 1000;
const fromCommit = [], fromSend = [];
let subscribed = 0, finished = 0, received = 0;

function finish() {
  finished += 1;
  if (finished === total) {
    process.stdout.write(JSON.stringify({ from_commit: fromCommit, from_send: fromSend,
                                          missing: total * wanted - received }) + "\n",
                         () => process.exit(0));  // exit once written: a pipe takes 64 KiB at a time
  }
}

for (let i = 0; i < total; i++) {
  const ws = new WebSocket(url, { headers: authorization ? { Authorization: authorization } : {},
                                  perMessageDeflate: false, maxPayload: 1 << 20 });
  let got = 0, first = true, idle = null;
  const quiet = () => { clearTimeout(idle); idle = setTimeout(() => { ws.terminate(); }, 30000); };
  ws.on("open", () => ws.send(JSON.stringify({ subscribe: { machine } })));
  ws.on("message", (raw) => {
    const t = now();
    const message = JSON.parse(raw);
    if (first) {
      first = false;
      if (!message.subscribed) { console.error("refused: " + raw); process.exit(2); }
      subscribed += 1;
      if (subscribed === total) process.stdout.write("ready\n");
      quiet();
      return;
    }
    fromCommit.push(t - message.at);
    fromSend.push(t - message.instance.context.at);
    received += 1;
    got += 1;
    quiet();
    if (got === wanted) { clearTimeout(idle); ws.close(); finish(); }
  });
  ws.on("error", (err) => { console.error(String(err)); });
  ws.on("close", () => { if (got < wanted) { got = wanted; finish(); } });
}
