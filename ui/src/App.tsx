// The app shell: three tabs (Settings, History, Status), the mode banner and the theme toggle.
// Views stay mounted while hidden so an unsaved edit survives a look at the history.
// History and Status are separate chunks, loaded and mounted when first opened: the first view
// parses, renders and queries only what it shows (issue 5: start to interactive under 1.5 s).

import { lazy, Suspense, useCallback, useEffect, useRef, useState, type KeyboardEvent } from 'react';
import { api, events, type SettingsView } from './api';
import { Settings } from './settings/Settings';
import { subscription } from './subscription';
import { applyTheme, loadTheme, nextTheme, type ThemeChoice } from './theme';

const History = lazy(() => import('./history/History').then((m) => ({ default: m.History })));
const Status = lazy(() => import('./status/Status').then((m) => ({ default: m.Status })));

/** Set once the first view shows its data; the benchmark reads it (ui_e2e.rs). */
export const INTERACTIVE_MARK = 'eci:interactive';

const TABS = [
  { id: 'settings', label: 'Settings' },
  { id: 'history', label: 'History' },
  { id: 'status', label: 'Status' },
] as const;

export type TabId = (typeof TABS)[number]['id'];

export function App({ initialTab = 'settings' }: { initialTab?: TabId }) {
  const [tab, setTab] = useState<TabId>(initialTab);
  const [opened, setOpened] = useState<ReadonlySet<TabId>>(() => new Set([initialTab]));
  const [theme, setTheme] = useState<ThemeChoice>(loadTheme);
  const [view, setView] = useState<SettingsView | null>(null);
  const [pendingImage, setPendingImage] = useState<string | null>(null);
  const [openBlock, setOpenBlock] = useState<{ id: number; seq: number } | null>(null);
  const tabRefs = useRef<Record<string, HTMLButtonElement | null>>({});

  useEffect(() => applyTheme(theme), [theme]);

  useEffect(() => {
    setOpened((o) => (o.has(tab) ? o : new Set(o).add(tab)));
  }, [tab]);

  useEffect(() => {
    if (view !== null && performance.getEntriesByName(INTERACTIVE_MARK).length === 0) performance.mark(INTERACTIVE_MARK);
  }, [view]);

  const refresh = useCallback(() => {
    api.loadSettings().then(setView, () => undefined);
  }, []);

  useEffect(() => {
    refresh();
    return subscription(events.onPolicyChanged(() => refresh()));
  }, [refresh]);

  // A click on a block's notification: its History entry.
  useEffect(
    () =>
      subscription(
        events.onOpenBlock((id) => {
          setOpenBlock((o) => ({ id, seq: (o?.seq ?? 0) + 1 }));
          setTab('history');
        }),
      ),
    [],
  );

  const onTabKey = (e: KeyboardEvent, index: number) => {
    const delta = e.key === 'ArrowRight' ? 1 : e.key === 'ArrowLeft' ? -1 : 0;
    let next = index;
    if (delta !== 0) next = (index + delta + TABS.length) % TABS.length;
    else if (e.key === 'Home') next = 0;
    else if (e.key === 'End') next = TABS.length - 1;
    else return;
    e.preventDefault();
    const id = TABS[next]!.id;
    setTab(id);
    tabRefs.current[id]?.focus();
  };

  const takePending = useCallback(() => setPendingImage(null), []);

  return (
    <div className="app">
      <header className="topbar">
        <h1 className="brand">eci-guard</h1>
        <div role="tablist" aria-label="Views" className="tabs">
          {TABS.map((t, i) => (
            <button
              key={t.id}
              ref={(el) => {
                tabRefs.current[t.id] = el;
              }}
              type="button"
              role="tab"
              id={`tab-${t.id}`}
              data-testid={`tab-${t.id}`}
              aria-selected={tab === t.id}
              aria-controls={`panel-${t.id}`}
              tabIndex={tab === t.id ? 0 : -1}
              onClick={() => setTab(t.id)}
              onKeyDown={(e) => onTabKey(e, i)}
            >
              {t.label}
            </button>
          ))}
        </div>
        <span className="mode" data-testid="mode-badge" data-mode={view?.mode ?? ''}>
          {view === null ? '' : view.mode === 'admin' ? 'Admin mode' : 'User mode'}
          {view?.locked ? ' · locked' : ''}
        </span>
        <button
          type="button"
          className="theme-toggle"
          data-testid="theme-toggle"
          aria-label={`Theme: ${theme}. Switch to ${nextTheme(theme)}`}
          onClick={() => setTheme(nextTheme(theme))}
        >
          {theme === 'system' ? '◐ System' : theme === 'light' ? '☀ Light' : '☾ Dark'}
        </button>
      </header>
      <main>
        <div role="tabpanel" id="panel-settings" aria-labelledby="tab-settings" hidden={tab !== 'settings'}>
          <Settings pendingImage={pendingImage} onPendingImageTaken={takePending} onChanged={refresh} />
        </div>
        <div role="tabpanel" id="panel-history" aria-labelledby="tab-history" hidden={tab !== 'history'}>
          {(opened.has('history') || tab === 'history') && (
            <Suspense fallback={<Loading />}>
              <History
                mode={view?.mode ?? 'user'}
                policy={view?.effective ?? null}
                locked={view?.locked ?? false}
                onAllowImage={(image) => {
                  setPendingImage(image);
                  setTab('settings');
                }}
                onEditCommands={() => setTab('settings')}
                onSettingsChanged={refresh}
                open={openBlock}
              />
            </Suspense>
          )}
        </div>
        <div role="tabpanel" id="panel-status" aria-labelledby="tab-status" hidden={tab !== 'status'}>
          {(opened.has('status') || tab === 'status') && (
            <Suspense fallback={<Loading />}>
              <Status />
            </Suspense>
          )}
        </div>
      </main>
    </div>
  );
}

function Loading() {
  return <p className="muted">Loading…</p>;
}
