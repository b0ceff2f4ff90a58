// Where a field not set in the edited file takes its value from, in the words of the form's help.

import type { Source } from '../api';

export function sourceLabel(s: Source): string {
  switch (s.from) {
    case 'admin':
      return s.locked ? 'the admin settings (locked)' : 'the admin settings';
    case 'user':
      return 'your settings';
    case 'default':
      return 'the default';
  }
}
