// Redaction benchmark (npm run bench:redact): the CPU a logger or a collector spends scrubbing one realistic
// message (~2.5 KB: headers, cookies, form, query, data, a stack; every title unique) with the built-in rules.
// Prints microseconds per message over BENCH_MESSAGES scrubs of 200 distinct messages.
import { createRedactor } from '../src/model/redact';
import { benchBatch } from './fixtures';

const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 100_000);
const BATCH = 200;

const redactor = createRedactor();
const messages = benchBatch(0, BATCH, { total: BATCH, uniqueTitles: true });
// Warm up: the first passes compile the rules' code and fill the memo of names.
for (const m of messages) redactor.scrub(m);
const start = process.cpuUsage();
for (let i = 0; i < MESSAGES; i++) redactor.scrub(messages[i % BATCH]!);
const used = process.cpuUsage(start);
const micros = (used.user + used.system) / MESSAGES;
console.log(`redaction: ${MESSAGES} messages, ${micros.toFixed(1)} µs of CPU per message`);
