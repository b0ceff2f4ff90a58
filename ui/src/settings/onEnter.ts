// Enter in a one-line field of the settings form does the field's own action (add, try) instead
// of submitting the form.

import type { KeyboardEvent } from 'react';

export const onEnter = (action: () => void) => (e: KeyboardEvent) => {
  if (e.key === 'Enter') {
    e.preventDefault();
    action();
  }
};
