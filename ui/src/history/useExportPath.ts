// The file History exports to: the shell's default for the format (in the downloads folder) until
// the user types a path of their own.

import { useEffect, useState } from 'react';
import { api, type ExportFormat } from '../api';

export function useExportPath(format: ExportFormat) {
  const [path, setPath] = useState('');
  const [touched, setTouched] = useState(false);
  useEffect(() => {
    if (touched) return;
    let stale = false;
    void api.defaultExportPath(format).then((p) => !stale && setPath(p));
    return () => {
      stale = true;
    };
  }, [format, touched]);
  return {
    path,
    /** The user's own path: the default no longer follows the format. */
    choose: (p: string) => {
      setTouched(true);
      setPath(p);
    },
  };
}
