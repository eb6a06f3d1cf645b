import { describe, expect, it } from 'vitest';
import { samplePayload, sampleTopic, simplePath } from './sample';

describe('the dry run sample', () => {
  it('reads simple JSONPaths and refuses the others', () => {
    expect(simplePath('$.a.b[2]')).toEqual(['a', 'b', 2]);
    expect(simplePath("$['x y']")).toEqual(['x y']);
    expect(simplePath('$')).toEqual([]);
    expect(simplePath('$..a')).toBeNull();
    expect(simplePath('$.a[?@.b]')).toBeNull();
  });

  it('builds a payload with the match values, a mapped word and the good quality', () => {
    const payload = samplePayload({
      match: { '$.device': 'ts-1' },
      points: [
        { casdu: 1, ioa: 1, type: 'M_ME_TF_1', value: '$.temperature' },
        { casdu: 1, ioa: 2, type: 'M_SP_NA_1', value: '$.door', map: { open: true, closed: false } },
        { casdu: 1, ioa: 3, type: 'M_ME_NB_1', value: '$.load.now', quality: { path: '$.status', good: ['ok'] } },
      ],
    });
    expect(payload).toEqual({ device: 'ts-1', temperature: 21.5, door: 'open', load: { now: 100 }, status: 'ok' });
  });

  it('fills the wildcards of a topic filter', () => {
    expect(sampleTopic('sensors/+/climate/#')).toBe('sensors/sample/climate/sample');
    expect(sampleTopic('$share/g/a/+')).toBe('a/sample');
  });
});
