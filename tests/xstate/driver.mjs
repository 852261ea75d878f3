// Runs machine configs through the real XState v5 and prints what it observes, for the differential test
// (tests/xstate/test_differential.py). Usage: node driver.mjs XSTATE_DIR < cases.json > results.json
//
// Input: {"cases": [{"config": {...}, "script": [{"send": "EVENT"} | {"wait": ms}, ...]}, ...]}.
// Output: one JSON array with, per case, the observations after the start and after every script item:
// {"config": [active state ids, sorted], "status": "active"|"done"|"error", "context": ...} or {"error": message}.
//
// Timers run on XState's SimulatedClock. A wait fires due timers one at a time, in order of their due time,
// by setting the clock to each due time in turn; two timers due at the same instant are reported as
// {"tie": true} (their order is not defined) and the case stops there.
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.argv[2], 'package.json'));
const { createMachine, createActor, SimulatedClock, assign } = require('xstate');

// the one named action random charts use: append params.t to context.trace (interlock_run.py has its twin)
const trace = assign(({ context }, params) => ({ trace: [...context.trace, params.t] }));

const MAX_ITERATIONS = 200;  // a chart that loops through eventless transitions throws instead of hanging

function observe(actor) {
  const snap = actor.getSnapshot();
  if (snap.status === 'error') return { status: 'error', error: String(snap.error) };
  return { config: snap._nodes.map((n) => n.id).sort(), status: snap.status, context: snap.context && Object.keys(snap.context).length ? snap.context : null };
}

function wait(clock, ms) {
  const target = clock.now() + ms;
  for (;;) {
    let next = Infinity;
    let count = 0;
    for (const t of clock.timeouts.values()) {
      const end = t.start + t.timeout;
      if (end < next) { next = end; count = 1; } else if (end === next) count += 1;
    }
    if (next > target) break;
    if (count > 1) return false;
    clock.set(next);
  }
  clock.set(target);
  return true;
}

function runCase({ config, script }) {
  const out = [];
  let actor;
  const clock = new SimulatedClock();
  try {
    const machine = createMachine({ ...config, options: { maxIterations: MAX_ITERATIONS } }).provide({ actions: { trace } });
    actor = createActor(machine, { clock });
    actor.subscribe({ error: () => {} });
    actor.start();
  } catch (e) {
    return [{ error: String(e.message || e).split('\n')[0] }];
  }
  out.push(observe(actor));
  for (const item of script) {
    try {
      if ('send' in item) actor.send({ type: item.send });
      else if (!wait(clock, item.wait)) { out.push({ tie: true }); break; }
    } catch (e) {
      out.push({ error: String(e.message || e).split('\n')[0] });
      break;
    }
    out.push(observe(actor));
    if (out[out.length - 1].status === 'error') break;
  }
  return out;
}

const input = JSON.parse(readFileSync(0, 'utf8'));
const console_warn = console.warn;
console.warn = () => {};  // XState warns about events sent to stopped actors; not part of the result
process.stdout.write(JSON.stringify(input.cases.map(runCase)));
console.warn = console_warn;
