// "How to fix it" for a selected block: what the user (or, when locked, their administrator) can
// change so that the request goes through, with the buttons that make the change.

import { useState } from 'react';
import type { Mode, StoredBlock } from '../api';
import { AllowImage } from './AllowImage';
import type { Fix } from './filter';

interface Props {
  block: StoredBlock;
  fix: Fix;
  mode: Mode;
  onAllowImage: (image: string) => void;
  onEditCommands: () => void;
}

/** For admins: write the entry straight into the admin file, after seeing the diff. */
function AllowInFile({ image }: { image: string }) {
  const [shown, setShown] = useState(false);
  return shown ? (
    <AllowImage image={image} />
  ) : (
    <button type="button" data-testid="allow-image-file" onClick={() => setShown(true)}>
      Allow in the admin file (tag, any tag or digest)…
    </button>
  );
}

export function FixAdvice({ block, fix, mode, onAllowImage, onEditCommands }: Props) {
  return (
    <div className="fix" data-testid="detail-fix" data-fix={fix.kind}>
      <h4>How to fix it</h4>
      {fix.kind === 'allow-image' && (
        <>
          <p>This image is not in the allowed list.</p>
          <button type="button" className="primary" data-testid="allow-image" onClick={() => onAllowImage(fix.image)}>
            Allow this image
          </button>
          {mode === 'admin' && <AllowInFile key={block.id} image={fix.image} />}
        </>
      )}
      {fix.kind === 'pull-again' && (
        <p>
          This image is in the allowed list, so your local image differs from the registry’s: pull it again (
          <code>docker pull {fix.image}</code>). If the reason says the digests could not be fetched, the registry
          was not reachable.
        </p>
      )}
      {fix.kind === 'ask-admin' && (
        <p>This image is not in the allowed list, which is locked by your administrator: ask them to allow it.</p>
      )}
      {fix.kind === 'command' && (
        <>
          <p>
            The command list blocks <code>{fix.commands.join(', ') || block.path}</code> for containers using a
            filtered socket.
          </p>
          {fix.canEdit ? (
            <button type="button" data-testid="edit-commands" onClick={onEditCommands}>
              Edit the command list
            </button>
          ) : (
            <p>The command list is locked by your administrator.</p>
          )}
        </>
      )}
      {fix.kind === 'host-access' && (
        <p>
          The container asked for the host itself (a privilege, a host namespace or device, or a kernel filesystem),
          which reaches the engine socket without mounting it.{' '}
          {fix.canEdit
            ? 'To allow it through the main socket, list the image under eciGuard.hostAccess.images in the admin settings.'
            : 'Only your administrator can allow it.'}
        </p>
      )}
      {fix.kind === 'invalid-request' && (
        <p>The enforcer could not read this request unambiguously, so it refused it. Send a well-formed request.</p>
      )}
    </div>
  );
}
