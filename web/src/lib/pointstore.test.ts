import { describe, expect, it } from 'vitest';
import type { DataPoint } from '../api/types';
import { PointStore } from './pointstore';

const q = { iv: false, nt: false, sb: false, bl: false, ov: false };
const p = (casdu: number, ioa: number, value: number, received: string, quality = q): DataPoint => ({
  casdu, ioa, type_id: 13, type: 'M_ME_NC_1', value, quality, time: null, cot: 3, source: 'mqtt-1', received,
});
const all = { casdu: null, text: '', flaggedOnly: false };

describe('the process image store', () => {
  it('keeps the points in address order whatever order they arrive in', () => {
    const s = new PointStore();
    s.upsert(p(2, 1, 0, 'a'));
    s.upsert(p(1, 300, 0, 'a'));
    s.upsert(p(1, 2, 0, 'a'));
    expect(s.rows(all).map((x) => `${x.casdu}/${x.ioa}`)).toEqual(['1/2', '1/300', '2/1']);
    expect(s.stations()).toEqual([1, 2]);
  });

  it('replaces a point by a newer one and ignores an older one', () => {
    const s = new PointStore();
    expect(s.upsert(p(1, 1, 1, '2026-01-01T00:00:01.000Z'))).toBe(true);
    expect(s.upsert(p(1, 1, 2, '2026-01-01T00:00:02.000Z'))).toBe(true);
    expect(s.upsert(p(1, 1, 0, '2026-01-01T00:00:00.000Z'))).toBe(false);
    expect(s.size).toBe(1);
    expect(s.get(1, 1)?.value).toBe(2);
  });

  it('filters by station, by text and by flagged quality', () => {
    const s = new PointStore();
    s.upsert(p(1, 1, 5, 'a'));
    s.upsert(p(1, 2, 6, 'a', { ...q, iv: true }));
    s.upsert(p(2, 1, 7, 'a'));
    expect(s.rows({ ...all, casdu: 1 }).length).toBe(2);
    expect(s.rows({ ...all, flaggedOnly: true }).map((x) => x.ioa)).toEqual([2]);
    expect(s.rows({ ...all, text: '2/1' }).map((x) => x.casdu)).toEqual([2]);
    expect(s.rows({ ...all, text: 'nc_1' }).length).toBe(3);
  });
});
