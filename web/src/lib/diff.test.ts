import { describe, expect, it } from 'vitest';
import type { PatchOp } from '../api/types';
import { diffRows, jsonDiff, pointerToPath, resolvePointer } from './diff';

describe('diff rendering', () => {
  const previous = { broker: { host: 'a', port: 1883 }, mappings: [{ id: 'm1', topic: 't/1' }], 'a/b': 1 };

  it('shows each operation with its dotted path and the value before from the previous version', () => {
    const ops: PatchOp[] = [
      { op: 'replace', path: '/broker/port', value: 8883 },
      { op: 'remove', path: '/broker/host' },
      { op: 'add', path: '/broker/tls', value: true },
      { op: 'replace', path: '/mappings/0/topic', value: 't/2' },
    ];
    expect(diffRows(ops, previous)).toEqual([
      { op: 'replace', pointer: '/broker/port', path: 'broker.port', before: 1883, after: 8883 },
      { op: 'remove', pointer: '/broker/host', path: 'broker.host', before: 'a', after: undefined },
      { op: 'add', pointer: '/broker/tls', path: 'broker.tls', before: undefined, after: true },
      { op: 'replace', pointer: '/mappings/0/topic', path: 'mappings[0].topic', before: 't/1', after: 't/2' },
    ]);
  });

  it('unescapes ~1 and ~0 in pointers', () => {
    expect(resolvePointer(previous, '/a~1b')).toBe(1);
    expect(pointerToPath('/a~1b/x~0y')).toBe('["a/b"]["x~y"]');
  });

  it('computes the operations between two values, arrays element by element', () => {
    expect(jsonDiff({ a: 1, b: [1, 2, 3], c: { d: 1 } }, { a: 2, b: [1, 5], c: { d: 1 }, e: null })).toEqual([
      { op: 'replace', path: '/a', value: 2 },
      { op: 'replace', path: '/b/1', value: 5 },
      { op: 'remove', path: '/b/2' },
      { op: 'add', path: '/e', value: null },
    ]);
  });

  it('gives no operation for equal values and one add or remove for a value created or deleted', () => {
    expect(jsonDiff({ a: [1, { b: 2 }] }, { a: [1, { b: 2 }] })).toEqual([]);
    expect(jsonDiff(undefined, { a: 1 })).toEqual([{ op: 'add', path: '', value: { a: 1 } }]);
    expect(jsonDiff({ a: 1 }, undefined)).toEqual([{ op: 'remove', path: '' }]);
    expect(jsonDiff(null, { a: 1 })).toEqual([{ op: 'replace', path: '', value: { a: 1 } }]);
  });
});
