// Triage: the state of a group (open, resolved, ignored), how a user changes it, and what one more occurrence
// does to it (a regression, the end of an ignore). Every store applies the same rules through occurrenceEffect.
import { ElmahError } from './errors.js';
import type { FieldError } from './message.js';

/** The states a group can be in. */
export const GROUP_STATUSES = ['open', 'resolved', 'ignored'] as const;

/** One group state. */
export type GroupStatus = (typeof GROUP_STATUSES)[number];

/** True for a known state name. */
export function isGroupStatus(value: unknown): value is GroupStatus {
  return typeof value === 'string' && (GROUP_STATUSES as readonly string[]).includes(value);
}

/**
 * Reads the states a group listing asks for (a name, a list, or comma-separated names); undefined for every
 * state. Throws ERR_ELMAH_QUERY naming the states for an unknown one.
 */
export function parseStatuses(input: string | readonly string[] | undefined): GroupStatus[] | undefined {
  if (input === undefined) return undefined;
  const names = (typeof input === 'string' ? input.split(',') : [...input]).map((s) => s.trim()).filter(Boolean);
  if (names.length === 0) return undefined;
  for (const n of names) {
    if (!isGroupStatus(n)) {
      throw new ElmahError('ERR_ELMAH_QUERY', `Unknown group state "${n}".`, { help: `Group states are: ${GROUP_STATUSES.join(', ')}.` });
    }
  }
  return GROUP_STATUSES.filter((s) => names.includes(s));
}

/** Where a group stands, and its history: who changed it last, and when and in which version it came back. */
export interface GroupState {
  status: GroupStatus;
  /** The version a resolution names ("fixed in"): occurrences of earlier versions do not reopen the group. */
  resolvedIn?: string | undefined;
  /**
   * Versions seen in the group before it was resolved in a version: their occurrences come from instances
   * that still run the old code and do not reopen it (for versions that are not semver, which cannot be ordered).
   */
  knownVersions?: string[] | undefined;
  /** Ignored until this ISO time: the first occurrence after it reopens the group. */
  ignoreUntil?: string | undefined;
  /** Ignored until the group's count reaches this: the occurrence that reaches it reopens the group. */
  ignoreUntilCount?: number | undefined;
  /** The id of the API key that last changed the state, and when (ISO). */
  changedBy?: string | undefined;
  changedAt?: string | undefined;
  /** True once a resolved group recurred (until the next change of state). */
  regressed: boolean;
  /** When the occurrence that reopened it happened (ISO), and its version. */
  regressedAt?: string | undefined;
  regressedIn?: string | undefined;
  /** What happened to the group, oldest first, at most {@link MAX_HISTORY} events (the oldest drop out). */
  history?: GroupEvent[] | undefined;
}

/**
 * One event of a group's history: a change someone made (`resolved`, `ignored`, `reopened`, with the key that
 * made it) or what an occurrence did (`regressed`, `unignored`).
 */
export interface GroupEvent {
  event: 'resolved' | 'ignored' | 'reopened' | 'regressed' | 'unignored';
  /** ISO time: of the change, or of the occurrence. */
  at: string;
  /** The id of the key that made the change. */
  by?: string | undefined;
  /** `resolved`: the version it was resolved in; `regressed`: the version of the occurrence that reopened it. */
  version?: string | undefined;
  /** `ignored`: until this ISO time, or until the count reaches this. */
  until?: string | undefined;
  untilCount?: number | undefined;
}

/** Most events a group's history keeps. */
export const MAX_HISTORY = 20;

/** `history` with `event` added at its end, the oldest dropped beyond {@link MAX_HISTORY}. */
function withEvent(history: readonly GroupEvent[] | undefined, event: GroupEvent): GroupEvent[] {
  const clean = Object.fromEntries(Object.entries(event).filter(([, v]) => v !== undefined)) as unknown as GroupEvent;
  return [...(history ?? []), clean].slice(-MAX_HISTORY);
}

/** The state of a group nobody has touched. */
export const OPEN_STATE: GroupState = Object.freeze({ status: 'open', regressed: false }) as GroupState;

/** A change of state a user asks for. An ignore without `until` or `occurrences` lasts for ever. */
export type GroupChange =
  | { status: 'open' }
  | { status: 'resolved'; inVersion?: string | undefined }
  | { status: 'ignored'; until?: string | undefined; occurrences?: number | undefined };

/** Most groups one change names. */
export const MAX_GROUPS_PER_CHANGE = 500;

function invalid(errors: FieldError[]): ElmahError {
  return new ElmahError(
    'ERR_ELMAH_INVALID_STATE',
    `Invalid change of group state: ${errors.map((e) => `${e.field} ${e.problem}`).join('; ')}.`,
    {
      details: errors,
      help: 'Send { "fingerprints": [...], "status": "resolved" | "ignored" | "open" } with, for resolved, an optional "inVersion" and, for ignored, an optional "until" (ISO time) or "occurrences" (a count); see docs/collector.md#group-state.',
    },
  );
}

/**
 * Checks a change of state as sent (`status`; `inVersion` for resolved; `until` or `occurrences` for ignored)
 * and the fingerprints it names. `until` must lie ahead of `now`. Throws ERR_ELMAH_INVALID_STATE listing every
 * field error.
 */
export function normalizeGroupChange(input: unknown, now: Date = new Date()): { fingerprints: string[]; change: GroupChange } {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid([{ field: '', problem: 'expected an object' }]);
  const raw = input as Record<string, unknown>;
  const errors: FieldError[] = [];
  const fps = raw.fingerprints;
  let fingerprints: string[] = [];
  if (!Array.isArray(fps) || fps.length === 0) errors.push({ field: 'fingerprints', problem: 'expected a non-empty list' });
  else if (fps.length > MAX_GROUPS_PER_CHANGE) errors.push({ field: 'fingerprints', problem: `more than ${MAX_GROUPS_PER_CHANGE}` });
  else if (!fps.every((f) => typeof f === 'string' && f.length > 0 && f.length <= 200))
    errors.push({ field: 'fingerprints', problem: 'expected strings of 1-200 characters' });
  else fingerprints = [...new Set(fps as string[])];
  const known = new Set(['fingerprints', 'status', 'inVersion', 'until', 'occurrences']);
  for (const k of Object.keys(raw)) if (!known.has(k)) errors.push({ field: k, problem: 'unknown field' });
  const status = raw.status;
  let change: GroupChange | undefined;
  const absent = (field: string): void => {
    if (raw[field] !== undefined && raw[field] !== null) errors.push({ field, problem: `not allowed with status ${String(status)}` });
  };
  if (status === 'open') {
    absent('inVersion');
    absent('until');
    absent('occurrences');
    change = { status };
  } else if (status === 'resolved') {
    absent('until');
    absent('occurrences');
    const v = raw.inVersion;
    if (v === undefined || v === null || v === '') change = { status };
    else if (typeof v !== 'string' || v.trim() === '' || v.length > 100 || /\p{Cc}/u.test(v))
      errors.push({ field: 'inVersion', problem: 'expected a version of 1-100 characters on one line' });
    else change = { status, inVersion: v.trim() };
  } else if (status === 'ignored') {
    absent('inVersion');
    let until: string | undefined;
    let occurrences: number | undefined;
    if (raw.until !== undefined && raw.until !== null) {
      const d = typeof raw.until === 'string' ? new Date(raw.until) : undefined;
      if (!d || Number.isNaN(d.getTime())) errors.push({ field: 'until', problem: 'expected an ISO 8601 date' });
      else if (d.getTime() <= now.getTime()) errors.push({ field: 'until', problem: 'already passed' });
      else until = d.toISOString();
    }
    if (raw.occurrences !== undefined && raw.occurrences !== null) {
      const n = raw.occurrences;
      if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 1e9)
        errors.push({ field: 'occurrences', problem: 'expected a whole number from 1' });
      else occurrences = n;
    }
    change = { status, until, occurrences };
  } else {
    errors.push({ field: 'status', problem: `expected one of ${GROUP_STATUSES.join(', ')}` });
  }
  if (errors.length > 0 || !change) throw invalid(errors);
  return { fingerprints, change };
}

/**
 * The state a change leaves a group in. `count` is the group's count now (an ignore for N more occurrences
 * ends when the count reaches count + N); `versions` are those seen in the group so far (kept only for a
 * resolution in a version); `before` is the state it had, whose history goes on. Any change clears the
 * regression mark: someone has looked at the group.
 */
export function applyChange(
  change: GroupChange,
  by: string,
  at: string,
  count: number,
  versions: readonly string[],
  before: GroupState = OPEN_STATE,
): GroupState {
  const base = { changedBy: by, changedAt: at, regressed: false };
  if (change.status === 'resolved') {
    const history = withEvent(before.history, { event: 'resolved', at, by, version: change.inVersion });
    if (change.inVersion === undefined) return { status: 'resolved', ...base, history };
    return {
      status: 'resolved',
      resolvedIn: change.inVersion,
      knownVersions: versions.filter((v) => v !== change.inVersion),
      ...base,
      history,
    };
  }
  if (change.status === 'ignored') {
    const ignoreUntilCount = change.occurrences === undefined ? undefined : count + change.occurrences;
    return {
      status: 'ignored',
      ignoreUntil: change.until,
      ignoreUntilCount,
      ...base,
      history: withEvent(before.history, { event: 'ignored', at, by, until: change.until, untilCount: ignoreUntilCount }),
    };
  }
  return { status: 'open', ...base, history: withEvent(before.history, { event: 'reopened', at, by }) };
}

/** One occurrence as the rules see it: when it happened, its version, and the group's count with it. */
export interface Occurrence {
  dateTime: string;
  version?: string | undefined;
  /** The group's count once this occurrence is counted. */
  count: number;
}

/** What an occurrence does to its group: nothing, reopens a resolved one, or ends an ignore. */
export type OccurrenceEffect = 'none' | 'regressed' | 'unignored';

/** Parses `1.2.3`, `v1.2.3`, `1.2.3-beta.1` (build metadata ignored); undefined when the text is not semver. */
export function parseSemver(text: string): { core: [number, number, number]; pre: string[] } | undefined {
  const m = /^v?(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$/.exec(text.trim());
  if (!m) return undefined;
  return { core: [Number(m[1]), Number(m[2]), Number(m[3])], pre: m[4] ? m[4].split('.') : [] };
}

/** Orders two semver versions (precedence as semver.org says): negative, 0 or positive; undefined when either is not semver. */
export function compareSemver(a: string, b: string): number | undefined {
  const x = parseSemver(a);
  const y = parseSemver(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < 3; i++) if (x.core[i] !== y.core[i]) return x.core[i]! - y.core[i]!;
  if (x.pre.length === 0 || y.pre.length === 0) return y.pre.length - x.pre.length;
  for (let i = 0; i < Math.min(x.pre.length, y.pre.length); i++) {
    const p = x.pre[i]!;
    const q = y.pre[i]!;
    if (p === q) continue;
    const pn = /^\d+$/.test(p);
    const qn = /^\d+$/.test(q);
    if (pn && qn) return Number(p) - Number(q);
    if (pn !== qn) return pn ? -1 : 1;
    return p < q ? -1 : 1;
  }
  return x.pre.length - y.pre.length;
}

/** True when an occurrence of `version` comes from code older than the fix in `resolvedIn`. */
function olderThanFix(state: GroupState, version: string | undefined): boolean {
  const fix = state.resolvedIn;
  if (fix === undefined || version === undefined || version === fix) return false;
  const order = compareSemver(version, fix);
  if (order !== undefined) return order < 0;
  return state.knownVersions?.includes(version) ?? false;
}

/**
 * What one more occurrence does to a group in `state`:
 * - resolved: `regressed`, unless it happened before the resolution, or the group was resolved in a version
 *   and the occurrence's version is older (semver order when both are semver, otherwise one of the versions
 *   seen before the resolution); an occurrence without a version counts as new code;
 * - ignored: `unignored` when it happened after `ignoreUntil` or brings the count to `ignoreUntilCount`;
 * - otherwise `none`.
 */
export function occurrenceEffect(state: GroupState, occurrence: Occurrence): OccurrenceEffect {
  if (state.status === 'resolved') {
    if (state.changedAt !== undefined && occurrence.dateTime < state.changedAt) return 'none';
    return olderThanFix(state, occurrence.version) ? 'none' : 'regressed';
  }
  if (state.status === 'ignored') {
    if (state.ignoreUntil !== undefined && occurrence.dateTime >= state.ignoreUntil) return 'unignored';
    if (state.ignoreUntilCount !== undefined && occurrence.count >= state.ignoreUntilCount) return 'unignored';
  }
  return 'none';
}

/** The state after an occurrence with `effect`. */
export function afterOccurrence(state: GroupState, effect: OccurrenceEffect, occurrence: Occurrence): GroupState {
  if (effect === 'regressed') {
    return {
      status: 'open',
      resolvedIn: state.resolvedIn,
      changedBy: state.changedBy,
      changedAt: state.changedAt,
      regressed: true,
      regressedAt: occurrence.dateTime,
      regressedIn: occurrence.version,
      history: withEvent(state.history, { event: 'regressed', at: occurrence.dateTime, version: occurrence.version }),
    };
  }
  if (effect === 'unignored') {
    return {
      ...state,
      status: 'open',
      ignoreUntil: undefined,
      ignoreUntilCount: undefined,
      history: withEvent(state.history, { event: 'unignored', at: occurrence.dateTime }),
    };
  }
  return state;
}

/**
 * Runs a group's occurrences of one write (in order) through the rules: the state after them, and the index
 * of the occurrence that reopened a resolved group (undefined when none did). Occurrences after a regression
 * or the end of an ignore find the group open and change nothing.
 */
export function replayOccurrences(state: GroupState, occurrences: readonly Occurrence[]): { state: GroupState; regressedAt?: number } {
  let s = state;
  let regressedAt: number | undefined;
  occurrences.forEach((o, i) => {
    const effect = occurrenceEffect(s, o);
    if (effect === 'regressed' && regressedAt === undefined) regressedAt = i;
    s = afterOccurrence(s, effect, o);
  });
  return regressedAt === undefined ? { state: s } : { state: s, regressedAt };
}
