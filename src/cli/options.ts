/**
 * Parsers for numeric command-line flags, validated the way the config schemas validate their keys (an integer
 * where a count is meant, a range where one applies), so that `--max-epochs abc` or `--tile -1` stops with a
 * clear message and a non-zero exit instead of running with NaN or doing nothing. Each parser is passed to
 * commander's `.option(flags, description, parser[, default])`; commander prefixes the message with the flag:
 *   error: option '--tile <n>' argument '-1' is invalid. '-1' is not a tile size, expected a positive integer
 */
import { InvalidArgumentError } from 'commander';

/** Bounds of a numeric flag; `min`/`max` are inclusive unless `exclusiveMin`/`exclusiveMax`. */
export interface NumberBounds {
  min?: number;
  max?: number;
  exclusiveMin?: boolean;
  exclusiveMax?: boolean;
}

/** Describes the accepted range in words, e.g. "an integer >= 1", "a number in (0, 1]". */
function describe(kind: 'an integer' | 'a number', b: NumberBounds): string {
  if (kind === 'an integer' && b.max === undefined && b.min === 1) return 'a positive integer';
  if (kind === 'an integer' && b.max === undefined && b.min === 0) return 'a whole number (0 or more)';
  if (kind === 'a number' && b.max === undefined && b.min === 0 && b.exclusiveMin) return 'a positive number';
  if (b.min !== undefined && b.max !== undefined) {
    return `${kind} in ${b.exclusiveMin ? '(' : '['}${b.min}, ${b.max}${b.exclusiveMax ? ')' : ']'}`;
  }
  if (b.min !== undefined) return `${kind} ${b.exclusiveMin ? '>' : '>='} ${b.min}`;
  if (b.max !== undefined) return `${kind} ${b.exclusiveMax ? '<' : '<='} ${b.max}`;
  return kind;
}

function inBounds(n: number, b: NumberBounds): boolean {
  if (b.min !== undefined && (b.exclusiveMin ? !(n > b.min) : !(n >= b.min))) return false;
  if (b.max !== undefined && (b.exclusiveMax ? !(n < b.max) : !(n <= b.max))) return false;
  return true;
}

/** Parses an integer flag (decimal digits with an optional sign; no `1e3`, `0x10` or `2.0`) within `bounds`. */
export function parseIntegerFlag(what: string, bounds: NumberBounds = {}): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!/^[+-]?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || !inBounds(n, bounds)) {
      throw new InvalidArgumentError(`'${v}' is not ${what}, expected ${describe('an integer', bounds)}`);
    }
    return n;
  };
}

/** Parses a finite number flag (no NaN, no Infinity, not empty) within `bounds`. */
export function parseNumberFlag(what: string, bounds: NumberBounds = {}): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (v.trim() === '' || !Number.isFinite(n) || !inBounds(n, bounds)) {
      throw new InvalidArgumentError(`'${v}' is not ${what}, expected ${describe('a number', bounds)}`);
    }
    return n;
  };
}

/** A count, a size or an epoch number: an integer >= 1. */
export const positiveInt = (what: string): ((v: string) => number) => parseIntegerFlag(what, { min: 1 });
/** A border or an offset: an integer >= 0. */
export const nonNegativeInt = (what: string): ((v: string) => number) => parseIntegerFlag(what, { min: 0 });
/** A width, a sigma or a learning rate: a finite number > 0. */
export const positiveNumber = (what: string): ((v: string) => number) =>
  parseNumberFlag(what, { min: 0, exclusiveMin: true });
/** A probability threshold or a fraction: a number in [0, 1]. */
export const unitInterval = (what: string): ((v: string) => number) => parseNumberFlag(what, { min: 0, max: 1 });
/** A random seed: any integer. */
export const seedInt = parseIntegerFlag('a seed');
