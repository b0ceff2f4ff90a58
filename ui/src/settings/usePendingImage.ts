// An image History asked to allow: added to the draft's list once the settings are loaded (unless
// read-only or already listed), then handed back as taken.

import { useEffect, useRef } from 'react';

interface Pending {
  image: string | null;
  /** The settings are loaded, so the draft is the one to add to. */
  loaded: boolean;
  readOnly: boolean;
  listed: readonly string[];
  add: (image: string) => void;
  taken: () => void;
}

export function usePendingImage({ image, loaded, readOnly, listed, add, taken }: Pending) {
  // The image last handled: the same request is taken once, however often the draft changes.
  const handled = useRef<string | null>(null);
  useEffect(() => {
    if (image === null) handled.current = null;
    if (!loaded || image === null || handled.current === image) return;
    handled.current = image;
    if (!readOnly && !listed.includes(image)) add(image);
    taken();
  }, [image, loaded, readOnly, listed, add, taken]);
}
