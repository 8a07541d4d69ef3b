// Evaluates a parsed query against one message in memory: the reference semantics that the SQL
// backends must agree with (the conformance suite checks they do).
import type { ErrorMessage } from './message.js';
import { FREE_TEXT_FIELDS, tokenize, type QueryNode, type TextField } from './query.js';
import { OPEN_STATE, type GroupState } from './triage.js';

/** The state of a message's group, for `status:` and `is:` terms; undefined reads as plain open. */
export type GroupStateOf = (message: ErrorMessage) => GroupState | undefined;

/** True when the message matches the query. `stateOf` tells the state of its group (plain open when absent). */
export function matchesQuery(node: QueryNode, message: ErrorMessage, stateOf?: GroupStateOf): boolean {
  switch (node.kind) {
    case 'all':
      return true;
    case 'and':
      return node.children.every((c) => matchesQuery(c, message, stateOf));
    case 'or':
      return node.children.some((c) => matchesQuery(c, message, stateOf));
    case 'not':
      return !matchesQuery(node.child, message, stateOf);
    case 'state': {
      const state = stateOf?.(message) ?? OPEN_STATE;
      return node.value === 'regressed' ? state.regressed : state.status === node.value;
    }
    case 'text': {
      const fields: readonly TextField[] | readonly string[] = node.field ? [node.field] : FREE_TEXT_FIELDS;
      return fields.some((f) =>
        tokensMatch(tokenize(String((message as unknown as Record<string, unknown>)[f] ?? '')), node.tokens, node.prefix),
      );
    }
    case 'term': {
      const raw = (message as unknown as Record<string, unknown>)[node.field];
      if (raw === undefined || raw === null) return false;
      const have = asciiLower(String(raw));
      const want = asciiLower(node.value);
      return node.prefix ? have.startsWith(want) : have === want;
    }
    case 'range': {
      const raw = (message as unknown as Record<string, unknown>)[node.field];
      if (raw === undefined || raw === null) return false;
      if (node.field === 'statusCode') {
        const v = Number(raw);
        if (node.lo !== undefined && (node.loInclusive ? v < Number(node.lo) : v <= Number(node.lo))) return false;
        if (node.hi !== undefined && (node.hiInclusive ? v > Number(node.hi) : v >= Number(node.hi))) return false;
        return true;
      }
      const v = String(raw);
      if (node.lo !== undefined && (node.loInclusive ? v < node.lo : v <= node.lo)) return false;
      if (node.hi !== undefined && (node.hiInclusive ? v > node.hi : v >= node.hi)) return false;
      return true;
    }
  }
}

/** True when `text` holds the words of a text node (a phrase, the last word a prefix when `prefix`), as matchesQuery tests a field. */
export function textMatches(text: string | null | undefined, tokens: readonly string[], prefix: boolean): boolean {
  return tokensMatch(tokenize(String(text ?? '')), tokens as string[], prefix);
}

/** Phrase match: `want` appears as consecutive tokens of `have`; with `prefix` the last one may be a prefix. */
function tokensMatch(have: string[], want: string[], prefix: boolean): boolean {
  const last = want.length - 1;
  outer: for (let i = 0; i + want.length <= have.length; i++) {
    for (let j = 0; j <= last; j++) {
      const h = have[i + j]!;
      const w = want[j]!;
      if (j === last && prefix ? !h.startsWith(w) : h !== w) continue outer;
    }
    return true;
  }
  return false;
}

/** Lowercases ASCII letters only, as SQLite's NOCASE collation does, so every backend agrees. */
export function asciiLower(text: string): string {
  return text.replace(/[A-Z]+/g, (m) => m.toLowerCase());
}
