// The group of images allowed to mount the engine socket: the entries with their badges, a field
// to add one, and whether images derived from allowed ones are allowed too.

import { useRef, useState } from 'react';
import type { Target } from '../api';
import { AddRow } from './AddRow';
import { CheckField } from './CheckField';
import type { EditorAction } from './editor';
import { Diags } from './Diags';
import type { GroupProps } from './groupProps';
import { ImageRow } from './ImageRow';
import { LockNote } from './Lock';
import { derived, images, setDerived, type Badge } from './model';
import { onEnter } from './onEnter';
import { sourceLabel } from './sourceLabel';

interface Props extends GroupProps {
  imageKeys: readonly number[];
  badges: ReadonlyMap<number, Badge>;
  target: Target;
  /** Whether derived images are allowed when the draft does not say. */
  inheritedDerived: boolean;
  dispatch: (action: EditorAction) => void;
}

export function ImageList({ draft, imageKeys, badges, target, effective: eff, inheritedDerived, readOnly, lockedByAdmin, diags, dispatch }: Props) {
  const [newImage, setNewImage] = useState('');
  const newImageRef = useRef<HTMLInputElement>(null);
  const imageList = images(draft);
  const add = () => {
    dispatch({ type: 'add-image', text: newImage });
    setNewImage('');
  };
  return (
    <fieldset disabled={readOnly} className="group">
      <legend>Images allowed to mount the engine socket</legend>
      <LockNote locked={lockedByAdmin} />
      {imageList === undefined && (
        <p className="help" data-testid="images-unset">
          Not set in this file: {eff.images.length} entr{eff.images.length === 1 ? 'y' : 'ies'} in force from{' '}
          {sourceLabel(eff.provenance.images)}
          {target === 'user' && eff.images.length > 0 ? '; a list here replaces it.' : '.'}
        </p>
      )}
      <ul className="image-list" aria-label="Image list">
        {(imageList ?? []).map((text, i) => {
          const key = imageKeys[i] ?? -1 - i;
          return (
            <ImageRow
              key={key}
              index={i}
              rowKey={key}
              text={text}
              badge={badges.get(key)}
              diagnostics={diags.get(`images/${i}`)}
              readOnly={readOnly}
              onChange={(value) => dispatch({ type: 'set-image', index: i, text: value })}
              onRemove={() => dispatch({ type: 'remove-image', index: i })}
            />
          );
        })}
      </ul>
      <Diags list={diags.get('images')} />
      <AddRow field="new-image" label="New image entry" hidden={readOnly}>
        <input
          id="new-image"
          ref={newImageRef}
          type="text"
          data-testid="new-image-input"
          disabled={readOnly}
          placeholder="name[:tag], name:*, name@sha256:…, or *"
          value={newImage}
          spellCheck={false}
          onChange={(e) => setNewImage(e.target.value)}
          onKeyDown={onEnter(add)}
        />
        <button
          type="button"
          data-testid="add-image"
          disabled={newImage.trim() === ''}
          onClick={() => {
            add();
            newImageRef.current?.focus();
          }}
        >
          Add image
        </button>
      </AddRow>
      <CheckField
        testId="derived-toggle"
        label="Allow images derived from allowed images"
        checked={derived(draft) ?? inheritedDerived}
        disabled={readOnly}
        onChange={(on) => dispatch({ type: 'edit', edit: (d) => setDerived(d, on) })}
      >
        <span className="help">Local images built on top of an allowed image (its full layer chain first).</span>
        <Diags list={diags.get('derived')} />
      </CheckField>
    </fieldset>
  );
}
