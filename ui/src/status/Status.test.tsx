import { describe, expect, test } from 'vitest';
import { Status } from './Status';
import { $, $$, appStatus, backend, click, emitEvent, flush, render, setValue } from '../test/harness';

describe('Status', () => {
  test('shows sockets, engine, policy source, last reload, digest freshness and the DOCKER_HOST line', async () => {
    backend({
      status: () => appStatus(),
      docker_host_line: () => 'export DOCKER_HOST=unix:///run/user/1000/eci-guard/docker.sock',
    });
    const { container } = await render(<Status />);
    expect($(container, 'status-listening').textContent).toContain('/run/user/1000/eci-guard/docker.sock');
    expect($(container, 'status-protected').textContent).toContain('/run/containerd/containerd.sock host control socket');
    expect($(container, 'engine-version').textContent).toBe('20.10.24+dfsg1');
    expect($(container, 'status-engine').textContent).toContain('API 1.41');
    expect($(container, 'policy-source-images').textContent).toBe('admin settings, locked');
    expect($(container, 'last-reload').textContent).toContain('applied (policy 0123456789abcdef)');
    // The enforcer sends unix milliseconds; read as anything else they show "Invalid Date".
    expect($(container, 'last-reload').textContent).toContain(new Date(1_795_897_809_000).toLocaleString());
    expect($(container, 'last-reload').textContent).not.toContain('Invalid');
    const rows = $$(container, 'digest-row');
    expect(rows.map((r) => r.dataset.fresh)).toEqual(['true', 'false']);
    expect(rows[1]!.textContent).toContain('never fetched');
    expect(rows[1]!.textContent).toContain('connection refused');
    expect($<HTMLInputElement>(container, 'docker-host-line').value).toBe(
      'export DOCKER_HOST=unix:///run/user/1000/eci-guard/docker.sock',
    );
  });

  test('status://changed replaces what is shown; a rejected reload lists its errors', async () => {
    backend({ status: () => appStatus(), docker_host_line: () => 'export DOCKER_HOST=unix:///x' });
    const { container } = await render(<Status />);
    const next = appStatus();
    next.enforcer!.upstream_reachable = false;
    next.enforcer!.last_reload = {
      at: Date.parse('2026-11-28T21:00:00Z'),
      outcome: {
        outcome: 'rejected',
        kept_version: 'aaaabbbbccccdddd',
        errors: [
          {
            origin: 'admin',
            diagnostics: [{ severity: 'error', code: 'syntax', pointer: '', message: 'expected `,` or `}` at line 3' }],
          },
        ],
      },
    };
    await emitEvent('status://changed', next);
    expect($(container, 'engine-unreachable').textContent).toContain('Not reachable');
    expect($(container, 'last-reload').textContent).toContain('rejected');
    expect($(container, 'last-reload').textContent).toContain('aaaabbbbccccdddd stays in force');
    expect($(container, 'status-policy').textContent).toContain('expected `,` or `}` at line 3');
  });

  test('a policy reload refreshes the status from the shell', async () => {
    let n = 0;
    const be = backend({
      status: () => {
        n += 1;
        const s = appStatus();
        s.enforcer!.policy_version = n === 1 ? '1111111111111111' : '2222222222222222';
        return s;
      },
      docker_host_line: () => '',
    });
    const { container } = await render(<Status />);
    expect($(container, 'status-policy').textContent).toContain('1111111111111111');
    await emitEvent('policy://changed', { at: 1_000, outcome: { outcome: 'applied', version: '2222222222222222', warnings: [], user_ignored: false } });
    await flush();
    expect(be.of('status')).toHaveLength(2);
    expect($(container, 'status-policy').textContent).toContain('2222222222222222');
  });

  test('an enforcer that failed to start says why', async () => {
    backend({
      status: () => appStatus({ enforcer: null, enforcer_error: 'cannot bind /run/eci.sock: address in use' }),
      docker_host_line: () => '',
    });
    const { container } = await render(<Status />);
    expect($(container, 'enforcer-error').textContent).toContain('address in use');
    expect($<HTMLInputElement>(container, 'docker-host-line').value).toBe('export DOCKER_HOST=unix:///run/user/1000/eci-guard/docker.sock');
  });

  test('creating a docker context sends the name and shows the output or the error', async () => {
    const results: unknown[] = ['eci-guard', Promise.reject({ code: 'io', message: 'context "eci-guard" already exists' })];
    results.forEach((r) => r instanceof Promise && r.catch(() => undefined));
    const be = backend({ status: () => appStatus(), docker_host_line: () => '', create_docker_context: () => results.shift() });
    const { container } = await render(<Status />);
    await click($(container, 'create-context'));
    await flush();
    expect(be.last('create_docker_context')!.args).toEqual({ name: 'eci-guard' });
    expect($(container, 'context-output').textContent).toContain('docker context use eci-guard');
    await click($(container, 'create-context'));
    await flush();
    expect($(container, 'context-output').textContent).toContain('already exists');
    await setValue($<HTMLInputElement>(container, 'context-name'), 'bad name');
    expect($<HTMLButtonElement>(container, 'create-context').disabled).toBe(true);
  });
  test('start at login: off as the shell says, and the toggle asks the shell to change it', async () => {
    let on = false;
    const be = backend({
      status: () => appStatus(),
      docker_host_line: () => 'export DOCKER_HOST=unix:///x',
      autostart_enabled: () => on,
      set_autostart: (a) => (on = a.enabled as boolean),
    });
    const { container } = await render(<Status />);
    const toggle = $<HTMLInputElement>(container, 'autostart-toggle');
    expect(toggle.checked).toBe(false);
    await click(toggle);
    await flush();
    expect(be.last('set_autostart')!.args).toEqual({ enabled: true });
    expect($<HTMLInputElement>(container, 'autostart-toggle').checked).toBe(true);
  });

  test('pause: offered when not locked, shown while paused with a resume; never under a lock', async () => {
    const unlocked = appStatus();
    unlocked.enforcer!.policy_provenance = {
      value: { from: 'default' },
      images: { from: 'admin', locked: false },
      allowDerivedImages: { from: 'default' },
      commandList: { from: 'default' },
    };
    const paused = appStatus();
    paused.enforcer!.policy_provenance = unlocked.enforcer!.policy_provenance;
    paused.enforcer!.eci_enabled = false;
    paused.enforcer!.paused_until_ms = Date.now() + 600_000;
    let current = unlocked;
    const be = backend({
      status: () => current,
      docker_host_line: () => 'export DOCKER_HOST=unix:///x',
      autostart_enabled: () => false,
      pause_enforcing: () => ((current = paused), paused.enforcer!.paused_until_ms),
      resume_enforcing: () => ((current = unlocked), true),
    });
    const { container } = await render(<Status />);
    await click($(container, 'pause-enforcing'));
    await flush();
    expect(be.of('pause_enforcing')).toHaveLength(1);
    expect($(container, 'paused').textContent).toContain('paused');
    await click($(container, 'resume-enforcing'));
    await flush();
    expect(be.of('resume_enforcing')).toHaveLength(1);
    expect(container.querySelector('[data-testid="paused"]')).toBeNull();

    // The default fixture's policy is locked by the admin.
    backend({ status: () => appStatus(), docker_host_line: () => 'x', autostart_enabled: () => false });
    const locked = await render(<Status />);
    expect(locked.container.querySelector('[data-testid="pause-enforcing"]')).toBeNull();
  });

  test('attached to an eci-guard serve: says so, and offers no pause of the daemon', async () => {
    const attached = appStatus();
    attached.attached_to = '/run/eci-guard/control.sock';
    attached.enforcer!.policy_provenance = {
      value: { from: 'default' },
      images: { from: 'default' },
      allowDerivedImages: { from: 'default' },
      commandList: { from: 'default' },
    };
    backend({ status: () => attached, docker_host_line: () => 'x', autostart_enabled: () => false });
    const { container } = await render(<Status />);
    expect($(container, 'enforcer-attached').textContent).toContain('/run/eci-guard/control.sock');
    expect(container.querySelector('[data-testid="pause-enforcing"]')).toBeNull();

    // The same status embedded offers the pause and no attached line.
    const own = appStatus();
    own.enforcer!.policy_provenance = attached.enforcer!.policy_provenance;
    backend({ status: () => own, docker_host_line: () => 'x', autostart_enabled: () => false });
    const embedded = await render(<Status />);
    expect(embedded.container.querySelector('[data-testid="enforcer-attached"]')).toBeNull();
    expect(embedded.container.querySelector('[data-testid="pause-enforcing"]')).not.toBeNull();
  });
});
