// The History banner while any rule family is in audit mode: what enforcing would have refused
// over the last day, and "Enforce now", which turns audit mode off in the file that decides
// (after showing the text it will write).

import { useCallback, useEffect, useRef, useState } from 'react';
import { api, events, toApiError, type AuditCount, type Mode, type Policy } from '../api';
import { FAMILIES } from '../audit';
import { audited, enforcePlan, type EnforcePlan } from './enforce';
import { subscription } from '../subscription';

export const DAY_MS = 24 * 60 * 60 * 1000;
/** Audited requests arriving together cost one count. */
export const RECOUNT_MS = 500;

interface Props {
  mode: Mode;
  policy: Policy | null;
  locked: boolean;
  /** After a save, so the app reloads the settings without waiting for the enforcer's event. */
  onChanged?: () => void;
}

type Step =
  | { step: 'idle' }
  | { step: 'preparing' }
  | { step: 'confirm'; plan: Extract<EnforcePlan, { ok: true }>; text: string }
  | { step: 'saving' }
  | { step: 'done'; path: string }
  | { step: 'failed'; message: string };

const KIND_NAME: Record<string, string> = {
  socket_mount: 'socket mount',
  command: 'command',
  host_access: 'host access',
  invalid_request: 'invalid request',
};

function countText(c: AuditCount): string {
  if (c.total === 0) return 'Nothing would have been refused in the last 24 hours.';
  const kinds = c.by_kind.map((k) => `${KIND_NAME[k.kind] ?? k.kind}: ${k.count}`).join(', ');
  return `${c.total} request${c.total === 1 ? '' : 's'} would have been refused in the last 24 hours (${kinds}).`;
}

export function AuditBanner({ mode, policy, locked, onChanged }: Props) {
  const families = audited(policy);
  const on = families.length > 0;
  const [count, setCount] = useState<AuditCount | null>(null);
  const [countError, setCountError] = useState<string | null>(null);
  const [step, setStep] = useState<Step>({ step: 'idle' });

  const seq = useRef(0);
  const recount = useCallback(() => {
    const mine = ++seq.current;
    api.historyAuditCount(Date.now() - DAY_MS).then(
      (c) => {
        if (mine !== seq.current) return;
        setCount(c);
        setCountError(null);
      },
      (e: unknown) => mine === seq.current && setCountError(toApiError(e).message),
    );
  }, []);

  useEffect(() => {
    if (on) recount();
  }, [on, recount]);

  // A new audited request changes the count; refused ones do not.
  useEffect(() => {
    if (!on) return;
    let timer: ReturnType<typeof setTimeout> | null = null;
    const stop = subscription(
      events.onBlocked((b) => {
        if (!b.audited || timer !== null) return;
        timer = setTimeout(() => {
          timer = null;
          recount();
        }, RECOUNT_MS);
      }),
    );
    return () => {
      if (timer !== null) clearTimeout(timer);
      stop();
    };
  }, [on, recount]);

  const prepare = async () => {
    setStep({ step: 'preparing' });
    try {
      const plan = enforcePlan(await api.loadSettings());
      if (!plan.ok) {
        setStep({ step: 'failed', message: plan.reason });
        return;
      }
      const text = await api.previewSettings(plan.target, plan.section);
      setStep({ step: 'confirm', plan, text });
    } catch (e) {
      setStep({ step: 'failed', message: toApiError(e).message });
    }
  };

  const confirm = async (plan: Extract<EnforcePlan, { ok: true }>) => {
    setStep({ step: 'saving' });
    try {
      const saved = await api.saveSettings(plan.target, plan.section, plan.file.etag);
      setStep({ step: 'done', path: saved.path });
      onChanged?.();
    } catch (raw) {
      const e = toApiError(raw);
      setStep({
        step: 'failed',
        message:
          e.code === 'conflict'
            ? 'The settings file changed on disk meanwhile; nothing was written. Try again.'
            : `Not saved: ${e.message}`,
      });
    }
  };

  if (!on) {
    return step.step === 'done' ? (
      <p className="notice notice-ok" role="status" data-testid="enforce-done">
        Audit mode is off: requests the rules refuse are refused again (saved to {step.path}).
      </p>
    ) : null;
  }

  const lockedOut = locked && mode !== 'admin';
  const names = FAMILIES.filter((f) => families.includes(f.key)).map((f) => f.label.toLowerCase());
  return (
    <section className="notice notice-warn audit-banner" aria-label="Audit mode" data-testid="audit-banner">
      <p>
        <strong>Audit mode</strong> is on for {names.join(', ')}: requests these rules would refuse are forwarded, and
        recorded here as audited.
      </p>
      <p data-testid="audit-count" aria-live="polite">
        {countError !== null ? `Cannot count them: ${countError}` : count === null ? 'Counting…' : countText(count)}
      </p>
      {step.step === 'confirm' ? (
        <div className="enforce-confirm">
          <p>
            This writes <code>{step.plan.file.path}</code>, turning audit mode off for every family:
          </p>
          <pre data-testid="enforce-preview" tabIndex={0} aria-label="The file as it will be written">
            {step.text}
          </pre>
          <button type="button" className="primary" data-testid="enforce-confirm" onClick={() => void confirm(step.plan)}>
            Enforce
          </button>{' '}
          <button type="button" data-testid="enforce-cancel" onClick={() => setStep({ step: 'idle' })}>
            Cancel
          </button>
        </div>
      ) : (
        <p>
          <button
            type="button"
            className="primary"
            data-testid="enforce-now"
            disabled={lockedOut || step.step === 'preparing' || step.step === 'saving'}
            aria-describedby={lockedOut ? 'enforce-locked' : undefined}
            onClick={() => void prepare()}
          >
            {step.step === 'saving' ? 'Enforcing…' : 'Enforce now'}
          </button>
          {lockedOut && (
            <span id="enforce-locked" className="lock-note" data-testid="enforce-locked">
              {' '}
              Locked by your administrator: only they can turn audit mode off.
            </span>
          )}
        </p>
      )}
      {step.step === 'failed' && (
        <p role="alert" data-testid="enforce-error">
          {step.message}
        </p>
      )}
    </section>
  );
}
