// Message ids: ULIDs (time-ordered, URL-safe), monotonic within one process.
import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
let lastTime = -1;
let lastRandom: number[] = [];

/** A new ULID for the given time (ms); ids made in the same millisecond still sort in creation order. */
export function newMessageId(time: number = Date.now()): string {
  let random: number[];
  if (time <= lastTime) {
    time = lastTime;
    random = increment(lastRandom);
  } else {
    const bytes = randomBytes(16);
    random = Array.from({ length: 16 }, (_, i) => bytes[i]! & 31);
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
