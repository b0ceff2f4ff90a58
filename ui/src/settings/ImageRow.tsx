// One entry of the image list: its text, its registry badge, and what the badge and the
// diagnostics say about it.

import type { Diagnostic } from '../api';
import { Diags } from './Diags';
import { badgeText, type Badge } from './model';

interface Props {
  /** The entry's place in the list, from 0. */
  index: number;
  /** The row's stable key, which names its description. */
  rowKey: number;
  text: string;
  badge: Badge | undefined;
  diagnostics: Diagnostic[] | undefined;
  readOnly: boolean;
  onChange: (text: string) => void;
  onRemove: () => void;
}

function BadgeView({ badge }: { badge: Badge | undefined }) {
  const b = badge ?? { state: 'checking' as const };
  const title = 'message' in b ? b.message : b.state === 'found' ? b.digest : undefined;
  return (
    <span className={`badge badge-${b.state}`} data-testid="image-badge" data-state={b.state} title={title} role="status">
      {badgeText(b)}
    </span>
  );
}

export function ImageRow({ index, rowKey, text, badge, diagnostics, readOnly, onChange, onRemove }: Props) {
  const descId = `image-${rowKey}-desc`;
  return (
    <li className="image-row" data-testid="image-row">
      <div className="row-line">
        <input
          type="text"
          aria-label={`Image entry ${index + 1}`}
          data-testid="image-entry"
          disabled={readOnly}
          value={text}
          spellCheck={false}
          aria-invalid={badge?.state === 'invalid' || diagnostics?.some((d) => d.severity === 'error')}
          aria-describedby={descId}
          onChange={(e) => onChange(e.target.value)}
        />
        <BadgeView badge={badge} />
        <button
          hidden={readOnly}
          type="button"
          aria-label={`Remove image entry ${index + 1}`}
          data-testid="image-remove"
          disabled={readOnly}
          onClick={onRemove}
        >
          Remove
        </button>
      </div>
      <div id={descId}>
        {badge?.state === 'invalid' && !diagnostics && <p className="diag diag-error">{badge.message}</p>}
        {badge && badge.state !== 'invalid' && 'message' in badge && <p className="help">{badge.message}</p>}
        {badge?.state === 'found' && (
          <p className="help" data-testid="image-platforms">
            {badge.platforms.length > 0 ? `platforms: ${badge.platforms.join(', ')}` : 'single-platform image'} ·{' '}
            <code>{badge.digest}</code>
          </p>
        )}
        <Diags list={diagnostics} />
      </div>
    </li>
  );
}
