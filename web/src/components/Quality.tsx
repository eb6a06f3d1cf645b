import type { Quality } from '../api/types';

const FLAGS: [keyof Quality, string][] = [
  ['iv', 'invalid'],
  ['nt', 'not topical'],
  ['sb', 'substituted'],
  ['bl', 'blocked'],
  ['ov', 'overflow'],
];

/** The quality flags set, as badges; "good" when none is. */
export function QualityBadges({ q }: { q: Quality | undefined }) {
  const set = FLAGS.filter(([k]) => q?.[k]);
  if (set.length === 0) return <span className="badge tone-ok" title="no quality flag set">good</span>;
  return (
    <span className="quality">
      {set.map(([k, label]) => (
        <span key={k} className={`badge q-${k}`} title={label}>
          {k.toUpperCase()}
        </span>
      ))}
    </span>
  );
}
