import { describe, expect, test } from 'vitest';
import { subscription } from './subscription';
import { deferred } from './test/harness';

describe('subscription', () => {
  test('a cleanup after the subscription is made unsubscribes at once, and only once', async () => {
    let calls = 0;
    const made = deferred<() => void>();
    const stop = subscription(made.promise);
    made.resolve(() => calls++);
    await made.promise;
    expect(calls).toBe(0);
    stop();
    expect(calls).toBe(1);
  });

  test('a cleanup before the subscription is made unsubscribes when it is', async () => {
    let calls = 0;
    const made = deferred<() => void>();
    subscription(made.promise)();
    expect(calls).toBe(0);
    made.resolve(() => calls++);
    await made.promise;
    await Promise.resolve();
    expect(calls).toBe(1);
  });

  test('a subscription the shell refused is nothing to clean up', async () => {
    const made = deferred<() => void>();
    const stop = subscription(made.promise);
    made.reject(new Error('no window'));
    await made.promise.catch(() => undefined);
    expect(() => stop()).not.toThrow();
  });
});
