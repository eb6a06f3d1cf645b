import type { StatusEntry } from '../api/types';
import { stateLabel, toneOf, type Tone } from '../lib/status';

export function ToneBadge({ tone, children }: { tone: Tone | 'unknown'; children: React.ReactNode }) {
  return <span className={`badge tone-${tone}`}>{children}</span>;
}

export function StatusBadge({ entry }: { entry: Pick<StatusEntry, 'enabled' | 'status'> }) {
  return <ToneBadge tone={toneOf(entry)}>{stateLabel(entry)}</ToneBadge>;
}
