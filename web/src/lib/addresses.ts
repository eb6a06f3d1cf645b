// Address ownership: each (CASDU, IOA) has one owner (docs/contract.md).

import type { AddressRange } from '../api/types';

export interface Conflict {
  casdu: number;
  ioa_from: number;
  ioa_to: number;
  a: AddressRange;
  b: AddressRange;
}

function sameOwner(a: AddressRange, b: AddressRange): boolean {
  return a.connector === b.connector && a.mapping === b.mapping;
}

/** Every pair of ranges of different owners that share addresses, with the shared part. */
export function addressConflicts(ranges: AddressRange[]): Conflict[] {
  const sorted = [...ranges].sort((x, y) => x.casdu - y.casdu || x.ioa_from - y.ioa_from || x.ioa_to - y.ioa_to);
  const out: Conflict[] = [];
  for (let i = 0; i < sorted.length; i += 1) {
    const a = sorted[i]!;
    for (let j = i + 1; j < sorted.length; j += 1) {
      const b = sorted[j]!;
      if (b.casdu !== a.casdu || b.ioa_from > a.ioa_to) break;
      if (sameOwner(a, b)) continue;
      out.push({ casdu: a.casdu, ioa_from: b.ioa_from, ioa_to: Math.min(a.ioa_to, b.ioa_to), a, b });
    }
  }
  return out;
}

/** The owners of an address (one, unless there is a conflict). */
export function ownersOf(ranges: AddressRange[], casdu: number, ioa: number): AddressRange[] {
  return ranges.filter((r) => r.casdu === casdu && r.ioa_from <= ioa && ioa <= r.ioa_to);
}

export function ownerText(r: { connector: string; mapping: string | null }): string {
  return r.mapping ? `${r.connector} / ${r.mapping}` : `${r.connector} (whole station)`;
}
