// Reading values that may fight back: throwing getters, revoked proxies, circular graphs, huge strings.
// Everything here returns something usable and never throws.
import { types } from 'node:util';

/** Reads `value[prop]`, or undefined when the read throws (getter, revoked proxy). */
export function safeGet(value: unknown, prop: PropertyKey): unknown {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
  try {
    return (value as Record<PropertyKey, unknown>)[prop];
  } catch {
    return undefined;
  }
}

/** Own enumerable string keys, or [] when they cannot be listed (revoked proxy, throwing trap). */
export function safeKeys(value: unknown): string[] {
  if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return [];
  try {
    return Object.keys(value as object);
  } catch {
    return [];
  }
}

/** True for an Error from any realm (vm contexts included), and for error-like objects with a string stack. */
export function isErrorLike(value: unknown): value is Error {
  if (value === null || typeof value !== 'object') return false;
  try {
    if (types.isNativeError(value) || value instanceof Error) return true;
  } catch {
    return false;
  }
  return typeof safeGet(value, 'stack') === 'string' && typeof safeGet(value, 'message') === 'string';
}

/** The constructor name of an object, when it has a usable one. */
export function constructorName(value: unknown): string | undefined {
  const ctor = safeGet(value, 'constructor');
  const name = safeGet(ctor, 'name');
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** A short type word for any value: `null`, `undefined`, `string`, `bigint`, `symbol`, `function`, `array`, `object`. */
export function primitiveType(value: unknown): string {
  if (value === null) return 'null';
  try {
    if (Array.isArray(value)) return 'array';
  } catch {
    return 'object';
  }
  return typeof value;
}

/** Options of {@link safeJson}. */
export interface SafeJsonOptions {
  /** Stop after about this many characters (output ends with `…`). Default 8192. */
  maxLength?: number;
  /** Deepest level walked. Default 6. */
  maxDepth?: number;
  /** Most members per object or array. Default 100. */
  maxItems?: number;
  /** Names whose values are replaced by `[Filtered]`. */
  redactKey?: (name: string) => boolean;
}

/**
 * A JSON-like text for any value, without calling toJSON or toString (they may throw or lie):
 * cycles become `[Circular]`, BigInt becomes `123n`, symbols and functions are named, throwing getters
 * become `[Unreadable]`, and the output is bounded in length, depth and width.
 */
export function safeJson(value: unknown, options: SafeJsonOptions = {}): string {
  const maxLength = options.maxLength ?? 8192;
  const maxDepth = options.maxDepth ?? 6;
  const maxItems = options.maxItems ?? 100;
  const parts: string[] = [];
  let length = 0;
  const seen = new Set<unknown>();
  const push = (s: string): boolean => {
    if (length >= maxLength) return false;
    const room = maxLength - length;
    const piece = s.length > room ? s.slice(0, room) + '…' : s;
    parts.push(piece);
    length += piece.length;
    return length < maxLength;
  };
  const walk = (v: unknown, depth: number): void => {
    if (length >= maxLength) return;
    switch (typeof v) {
      case 'string':
        push(JSON.stringify(v.length > maxLength ? v.slice(0, maxLength) : v));
        return;
      case 'number':
      case 'boolean':
        push(String(v));
        return;
      case 'bigint':
        push(`${v.toString()}n`);
        return;
      case 'undefined':
        push('undefined');
        return;
      case 'symbol':
        push(symbolText(v));
        return;
      case 'function': {
        const name = safeGet(v, 'name');
        push(`[Function${typeof name === 'string' && name ? `: ${name}` : ''}]`);
        return;
      }
    }
    if (v === null) {
      push('null');
      return;
    }
    if (seen.has(v)) {
      push('"[Circular]"');
      return;
    }
    if (depth >= maxDepth) {
      push('"[Object]"');
      return;
    }
    seen.add(v);
    try {
      if (v instanceof Date || types.isDate(v)) {
        const t = Date.prototype.getTime.call(v);
        push(Number.isNaN(t) ? '"Invalid Date"' : JSON.stringify(new Date(t).toISOString()));
        return;
      }
      if (isErrorLike(v)) {
        const name = safeGet(v, 'name');
        const message = safeGet(v, 'message');
        push(
          `"[${typeof name === 'string' ? name : 'Error'}: ${typeof message === 'string' ? message.slice(0, 500).replace(/["\\]/g, '') : ''}]"`,
        );
        return;
      }
      if (Buffer.isBuffer(v)) {
        push(`"[Buffer ${v.length} bytes]"`);
        return;
      }
      let isArray = false;
      try {
        isArray = Array.isArray(v);
      } catch {
        push('"[Unreadable]"');
        return;
      }
      if (isArray) {
        const arr = v as unknown[];
        const n = Number(safeGet(arr, 'length')) || 0;
        push('[');
        for (let i = 0; i < Math.min(n, maxItems); i++) {
          if (i > 0 && !push(',')) return;
          walk(safeGet(arr, i), depth + 1);
        }
        if (n > maxItems) push(`,"…${n - maxItems} more"`);
        push(']');
        return;
      }
      if (v instanceof Map || types.isMap(v)) {
        push(`"[Map ${Number(safeGet(v, 'size')) || 0} entries]"`);
        return;
      }
      if (v instanceof Set || types.isSet(v)) {
        push(`"[Set ${Number(safeGet(v, 'size')) || 0} entries]"`);
        return;
      }
      let keys: string[];
      try {
        keys = Object.keys(v as object);
      } catch {
        push('"[Unreadable]"');
        return;
      }
      push('{');
      let i = 0;
      for (const key of keys) {
        if (i >= maxItems) {
          push(`,"…":"${keys.length - maxItems} more"`);
          break;
        }
        if (i > 0 && !push(',')) return;
        i++;
        if (!push(`${JSON.stringify(key)}:`)) return;
        if (options.redactKey?.(key)) {
          push('"[Filtered]"');
          continue;
        }
        let member: unknown;
        try {
          member = (v as Record<string, unknown>)[key];
        } catch {
          push('"[Unreadable]"');
          continue;
        }
        walk(member, depth + 1);
      }
      push('}');
    } catch {
      push('"[Unreadable]"');
    } finally {
      seen.delete(v);
    }
  };
  try {
    walk(value, 0);
  } catch {
    push('"[Unreadable]"');
  }
  return parts.join('');
}

/** `Symbol(description)` without calling a possibly patched `toString`. */
export function symbolText(value: symbol): string {
  try {
    return String(value);
  } catch {
    return 'Symbol()';
  }
}

/**
 * A text for any value: strings as they are, primitives via String, objects via their own string
 * `message`, else {@link safeJson}. Never calls a user `toString`.
 */
export function safeText(value: unknown, maxLength = 8192): string {
  switch (typeof value) {
    case 'string':
      return value;
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(value);
    case 'symbol':
      return symbolText(value);
    default:
      if (value === null) return 'null';
      return safeJson(value, { maxLength });
  }
}
