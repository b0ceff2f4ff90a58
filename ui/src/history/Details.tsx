// The details pane of the selected block: what was blocked (or audited) and why, how to fix it,
// and the request's facts.

import type { Mode, Policy, StoredBlock } from '../api';
import { fixFor } from './filter';
import { FixAdvice } from './FixAdvice';
import { KIND_LABEL } from './format';
import { AUDITED_LABEL } from './OutcomeBadge';

interface Props {
  block: StoredBlock;
  mode: Mode;
  policy: Policy | null;
  locked: boolean;
  onAllowImage: (image: string) => void;
  onEditCommands: () => void;
}

export function Details({ block, mode, policy, locked, onAllowImage, onEditCommands }: Props) {
  return (
    <div>
      <h3>
        {KIND_LABEL[block.kind]} {block.audited ? AUDITED_LABEL : 'blocked'}
      </h3>
      {block.audited && (
        <p className="muted" data-testid="detail-audited">
          Its rule family is in audit mode, so the request was forwarded. Once enforced, the client gets the message
          below.
        </p>
      )}
      <p className="reason" data-testid="detail-reason">
        {block.reason}
      </p>
      <FixAdvice
        block={block}
        fix={fixFor(block, mode, policy, locked)}
        mode={mode}
        onAllowImage={onAllowImage}
        onEditCommands={onEditCommands}
      />
      <dl>
        <dt>When</dt>
        <dd>{block.time}</dd>
        {block.image && (
          <>
            <dt>Image</dt>
            <dd>
              <code>{block.image}</code>
              {block.image_id && <div className="muted small">{block.image_id}</div>}
            </dd>
          </>
        )}
        {block.container_name && (
          <>
            <dt>Container</dt>
            <dd>{block.container_name}</dd>
          </>
        )}
        <dt>Request</dt>
        <dd>
          <code className="wrap">
            {block.method} {block.path}
          </code>
        </dd>
        <dt>Socket</dt>
        <dd>
          {block.socket} <span className="muted small">{block.socket_path}</span>
        </dd>
        <dt>Message sent</dt>
        <dd className="wrap small">{block.message}</dd>
        <dt>Policy version</dt>
        <dd>
          <code>{block.policy_version}</code>
        </dd>
      </dl>
    </div>
  );
}
