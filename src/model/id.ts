// Message ids: ULIDs (time-ordered, URL-safe), monotonic within one process.
import { randomFillSync } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let lastRandom: number[] = [];
/** Random bytes drawn 4 KiB at a time: one call into the system per 256 ids instead of one per id. */
const pool = Buffer.alloc(4096);
let poolAt = pool.length;

function randomDigits(): number[] {
  if (poolAt + 16 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  const digits = new Array<number>(16);
  for (let i = 0; i < 16; i++) digits[i] = pool[poolAt + i]! & 31;
  poolAt += 16;
  return digits;
}

/** A new ULID for the given time (ms); ids made in the same millisecond still sort in creation order. */
export function newMessageId(time: number = Date.now()): string {
  let random: number[];
  if (time <= lastTime) {
    time = lastTime;
    random = increment(lastRandom);
  } else {
    random = randomDigits();
  }
  lastTime = time;
  lastRandom = random;
  let head = '';
  let t = time;
  for (let i = 0; i < 10; i++) {
    head = CROCKFORD[t % 32] + head;
    t = Math.floor(t / 32);
  }
  return head + random.map((d) => CROCKFORD[d]).join('');
}

function increment(digits: number[]): number[] {
  const next = [...digits];
  for (let i = next.length - 1; i >= 0; i--) {
    if (next[i]! < 31) {
      next[i]! += 1;
      return next;
    }
    next[i] = 0;
  }
  return next;
}

/** The time (ms) encoded in a ULID, or undefined when the string is not one. */
export function messageIdTime(id: string): number | undefined {
  if (!/^[0-9A-HJKMNP-TV-Z]{26}$/.test(id)) return undefined;
  let t = 0;
  for (let i = 0; i < 10; i++) t = t * 32 + CROCKFORD.indexOf(id[i]!);
  return t;
}
