// Ends a subscription to a shell event (one of api.ts's `events`) when a component is done with
// it, even if that comes before the shell has confirmed the subscription.

import type { UnlistenFn } from './api';

/** Returns the cleanup for an effect: unsubscribes now, or as soon as the subscription is made. */
export function subscription(pending: Promise<UnlistenFn>): () => void {
  let unlisten: UnlistenFn | null = null;
  let gone = false;
  pending.then((u) => (gone ? u() : (unlisten = u))).catch(() => undefined);
  return () => {
    gone = true;
    unlisten?.();
  };
}
