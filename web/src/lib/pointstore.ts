// The process image held by the browser: the points by address, in address
// order, updated in place from the live stream. Rendering reads a snapshot
// at most once per frame, so 1,000 updates/s cost one re-render per frame.

import type { DataPoint } from '../api/types';

export function addressKey(casdu: number, ioa: number): number {
  // IOA has 24 bits: one number orders by (casdu, ioa).
  return casdu * 16777216 + ioa;
}

export interface PointFilter {
  casdu: number | null;
  /** Free text: matches the IOA, the type, the source or the value. */
  text: string;
  /** Only points with any quality flag set. */
  flaggedOnly: boolean;
}

export function matches(p: DataPoint, f: PointFilter): boolean {
  if (f.casdu !== null && p.casdu !== f.casdu) return false;
  if (f.flaggedOnly && !Object.values(p.quality ?? {}).some(Boolean)) return false;
  const t = f.text.trim().toLowerCase();
  if (t === '') return true;
  return (
    String(p.ioa) === t ||
    `${p.casdu}/${p.ioa}` === t ||
    p.type.toLowerCase().includes(t) ||
    p.source.toLowerCase().includes(t) ||
    String(p.value).toLowerCase() === t
  );
}

export class PointStore {
  private points = new Map<number, DataPoint>();
  private order: number[] = [];
  /** Counts changes; a view re-reads when it moved. */
  revision = 0;

  get size(): number {
    return this.points.size;
  }

  clear(): void {
    this.points.clear();
    this.order = [];
    this.revision += 1;
  }

  /** Stores a point (the newer `received` wins); true when it changed the image. */
  upsert(p: DataPoint): boolean {
    const key = addressKey(p.casdu, p.ioa);
    const old = this.points.get(key);
    if (old && old.received > p.received) return false;
    this.points.set(key, p);
    if (!old) {
      // Binary search for the insertion place.
      let lo = 0;
      let hi = this.order.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((this.order[mid] as number) < key) lo = mid + 1;
        else hi = mid;
      }
      this.order.splice(lo, 0, key);
    }
    this.revision += 1;
    return true;
  }

  get(casdu: number, ioa: number): DataPoint | undefined {
    return this.points.get(addressKey(casdu, ioa));
  }

  /** The points passing the filter, in address order. */
  rows(f: PointFilter): DataPoint[] {
    const out: DataPoint[] = [];
    for (const k of this.order) {
      const p = this.points.get(k);
      if (p && matches(p, f)) out.push(p);
    }
    return out;
  }

  stations(): number[] {
    const s = new Set<number>();
    for (const p of this.points.values()) s.add(p.casdu);
    return [...s].sort((a, b) => a - b);
  }
}
