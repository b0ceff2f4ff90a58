// Test environment: React's act() support, a clean Tauri mock and DOM after each test.
import { afterEach } from 'vitest';
import { clearMocks } from '@tauri-apps/api/mocks';
import { unmountAll } from './harness';

(globalThis as { IS_REACT_ACT_ENVIRONMENT?: boolean }).IS_REACT_ACT_ENVIRONMENT = true;

afterEach(async () => {
  await unmountAll();
  clearMocks();
  document.body.innerHTML = '';
});
