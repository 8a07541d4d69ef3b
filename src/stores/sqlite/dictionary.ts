// The key/value lists of a message, stored compactly: names and name/value pairs that repeat across messages
// (header names, a user agent, `[Filtered]` cookies) are kept once in elmah_names / elmah_pairs and referred
// to by number; what is unique to an occurrence (a request id, a referer) stays inline.
import type BetterSqlite3 from 'better-sqlite3';
import { LIST_FIELDS, type KeyValue } from '../../model/message.js';

type Lists = Record<(typeof LIST_FIELDS)[number], KeyValue[]>;

/** Names longer than this stay inline; so do values longer than MAX_VALUE. */
const MAX_NAME = 100;
const MAX_VALUE = 300;
/** The dictionary stops growing here (hostile input with ever new names or values cannot bloat it). */
const MAX_NAMES = 20_000;
const MAX_PAIRS = 200_000;
/** Pairs seen once are remembered (up to this many) so that the second sighting interns them. */
const MAX_CANDIDATES = 50_000;

/**
 * Encodes and decodes the lists column. Each list is a flat JSON array of items: a positive number is a pair
 * id; a negative number is a name id followed by the value; a string is a name followed by the value. Trailing
 * empty lists are left out; all empty is null. Ids are assigned by the database (unique constraints), so
 * several processes writing one file agree on them; entries are never removed, so a cached id stays valid.
 */
export class ListDictionary {
  private readonly nameIds = new Map<string, number>();
  private readonly names = new Map<number, string>();
  private readonly pairIds = new Map<string, number>();
  private readonly pairs = new Map<number, [number, string]>();
  private readonly seen = new Set<string>();
  /** Per name id: values looked at and how many were seen before; a name whose values never repeat is skipped. */
  private readonly repeats = new Map<number, { tries: number; hits: number }>();
  private full: { names: boolean; pairs: boolean } | undefined;
  private readonly stmts: Record<string, BetterSqlite3.Statement>;

  constructor(private readonly db: BetterSqlite3.Database) {
    const p = (sql: string): BetterSqlite3.Statement => db.prepare(sql);
    this.stmts = {
      nameInsert: p('INSERT INTO elmah_names (name) VALUES (?) ON CONFLICT (name) DO NOTHING RETURNING nid').pluck(),
      nameFind: p('SELECT nid FROM elmah_names WHERE name = ?').pluck(),
      nameRead: p('SELECT name FROM elmah_names WHERE nid = ?').pluck(),
      pairInsert: p('INSERT INTO elmah_pairs (nid, value) VALUES (?, ?) ON CONFLICT (nid, value) DO NOTHING RETURNING pid').pluck(),
      pairFind: p('SELECT pid FROM elmah_pairs WHERE nid = ? AND value = ?').pluck(),
      pairRead: p('SELECT nid, value FROM elmah_pairs WHERE pid = ?').raw(),
      sizes: p('SELECT (SELECT count(*) FROM elmah_names), (SELECT count(*) FROM elmah_pairs)').raw(),
    };
  }

  /** Forgets every cached id: after a rolled-back transaction, ids it assigned no longer exist. */
  reset(): void {
    this.nameIds.clear();
    this.names.clear();
    this.pairIds.clear();
    this.pairs.clear();
    this.full = undefined;
    this.repeats.clear();
  }

  private limits(): { names: boolean; pairs: boolean } {
    if (!this.full) {
      const [names, pairs] = this.stmts.sizes!.get() as [number, number];
      this.full = { names: names >= MAX_NAMES, pairs: pairs >= MAX_PAIRS };
    }
    return this.full;
  }

  /** The id of a name, interning it when short and the dictionary has room; undefined to keep it inline. */
  private nameId(name: string): number | undefined {
    const known = this.nameIds.get(name);
    if (known !== undefined) return known;
    if (name.length > MAX_NAME || this.limits().names) return undefined;
    const id = (this.stmts.nameInsert!.get(name) ?? this.stmts.nameFind!.get(name)) as number;
    this.nameIds.set(name, id);
    this.names.set(id, name);
    if (this.nameIds.size % 1000 === 0) this.full = undefined;
    return id;
  }

  /** The id of a pair seen before, interning it on its second sighting; undefined to keep the value inline. */
  private pairId(nid: number, value: string): number | undefined {
    const key = `${nid}\u0000${value}`;
    const known = this.pairIds.get(key);
    if (known !== undefined) return known;
    if (value.length > MAX_VALUE || this.limits().pairs) return undefined;
    // Request ids, trace parents, timestamps: after 200 values of a name with under 5 % seen twice, its values
    // stay inline without being remembered (they would only churn the candidates).
    let r = this.repeats.get(nid);
    if (!r) this.repeats.set(nid, (r = { tries: 0, hits: 0 }));
    if (r.tries >= 200 && r.hits * 20 < r.tries) return undefined;
    r.tries++;
    if (!this.seen.has(key)) {
      if (this.seen.size >= MAX_CANDIDATES) this.seen.clear();
      this.seen.add(key);
      return undefined;
    }
    r.hits++;
    this.seen.delete(key);
    const id = (this.stmts.pairInsert!.get(nid, value) ?? this.stmts.pairFind!.get(nid, value)) as number;
    this.pairIds.set(key, id);
    this.pairs.set(id, [nid, value]);
    if (this.pairIds.size % 1000 === 0) this.full = undefined;
    return id;
  }

  /** The lists column of a message. Runs in the caller's write transaction. */
  encode(m: Lists): string | null {
    let last = -1;
    const out: (string | number)[][] = [];
    for (let i = 0; i < LIST_FIELDS.length; i++) {
      const list = m[LIST_FIELDS[i]!];
      const flat: (string | number)[] = [];
      for (const { key, value } of list) {
        const nid = this.nameId(key);
        if (nid === undefined) {
          flat.push(key, value);
          continue;
        }
        const pid = this.pairId(nid, value);
        if (pid !== undefined) flat.push(pid);
        else flat.push(-nid, value);
      }
      out.push(flat);
      if (flat.length > 0) last = i;
    }
    return last < 0 ? null : JSON.stringify(out.slice(0, last + 1));
  }

  private nameOf(nid: number): string {
    let name = this.names.get(nid);
    if (name === undefined) {
      name = (this.stmts.nameRead!.get(nid) as string | undefined) ?? '';
      this.names.set(nid, name);
    }
    return name;
  }

  private pairOf(pid: number): KeyValue {
    let pair = this.pairs.get(pid);
    if (!pair) {
      pair = (this.stmts.pairRead!.get(pid) as [number, string] | undefined) ?? [0, ''];
      this.pairs.set(pid, pair);
    }
    return { key: this.nameOf(pair[0]), value: pair[1] };
  }

  /** The inverse of {@link encode}. */
  decode(text: string | null): Lists {
    const parsed = text ? (JSON.parse(text) as (string | number)[][]) : [];
    const out = {} as Lists;
    LIST_FIELDS.forEach((f, i) => {
      const flat = parsed[i] ?? [];
      const list: KeyValue[] = [];
      for (let j = 0; j < flat.length; j++) {
        const item = flat[j]!;
        if (typeof item === 'number' && item > 0) list.push(this.pairOf(item));
        else {
          const key = typeof item === 'number' ? this.nameOf(-item) : item;
          list.push({ key, value: String(flat[++j] ?? '') });
        }
      }
      out[f] = list;
    });
    return out;
  }
}
