// The row under a list of the settings form that adds an entry: its field (labelled for screen
// readers) and button, hidden when the list is read-only.

import type { ReactNode } from 'react';

interface Props {
  /** The id of the field, and its label's text. */
  field: string;
  label: string;
  hidden: boolean;
  children: ReactNode;
}

export function AddRow({ field, label, hidden, children }: Props) {
  return (
    <div className="row-line add-row" hidden={hidden}>
      <label htmlFor={field} className="sr-only">
        {label}
      </label>
      {children}
    </div>
  );
}
