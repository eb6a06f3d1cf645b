import { describe, expect, it } from 'vitest';
import { addressConflicts, ownersOf } from './addresses';

describe('address conflicts', () => {
  const ranges = [
    { casdu: 1, ioa_from: 0, ioa_to: 16777215, connector: 'in-1', mapping: null },
    { casdu: 1, ioa_from: 10, ioa_to: 10, connector: 'mqtt-1', mapping: 'm1' },
    { casdu: 2, ioa_from: 1, ioa_to: 5, connector: 'mqtt-1', mapping: 'm2' },
    { casdu: 2, ioa_from: 5, ioa_to: 9, connector: 'mqtt-1', mapping: 'm3' },
    { casdu: 2, ioa_from: 6, ioa_to: 6, connector: 'mqtt-1', mapping: 'm3' },
    { casdu: 3, ioa_from: 1, ioa_to: 1, connector: 'mqtt-1', mapping: 'm4' },
  ];

  it('finds each pair of owners sharing addresses with the shared part, both owners named', () => {
    expect(addressConflicts(ranges).map((c) => [c.casdu, c.ioa_from, c.ioa_to, c.a.mapping ?? c.a.connector, c.b.mapping])).toEqual([
      [1, 10, 10, 'in-1', 'm1'],
      [2, 5, 5, 'm2', 'm3'],
    ]);
  });

  it('finds the owners of one address', () => {
    expect(ownersOf(ranges, 2, 7).map((r) => r.mapping)).toEqual(['m3']);
    expect(ownersOf(ranges, 9, 1)).toEqual([]);
  });
});
