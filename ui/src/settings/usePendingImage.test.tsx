import { describe, expect, test } from 'vitest';
import { usePendingImage } from './usePendingImage';
import { render, rerender } from '../test/harness';

interface Args {
  image: string | null;
  loaded?: boolean;
  readOnly?: boolean;
  listed?: string[];
}

function setup() {
  const added: string[] = [];
  let taken = 0;
  const add = (i: string) => added.push(i);
  const take = () => taken++;
  function Probe({ image, loaded = true, readOnly = false, listed = [] }: Args) {
    usePendingImage({ image, loaded, readOnly, listed, add, taken: take });
    return null;
  }
  return { added, taken: () => taken, Probe };
}

describe('usePendingImage', () => {
  test('waits for the settings, adds the image once however often the list changes, then hands it back', async () => {
    const { added, taken, Probe } = setup();
    const r = await render(<Probe image="busybox" loaded={false} />);
    expect(added).toEqual([]);
    expect(taken()).toBe(0);
    await rerender(r, <Probe image="busybox" />);
    await rerender(r, <Probe image="busybox" listed={['other']} />);
    expect(added).toEqual(['busybox']);
    expect(taken()).toBe(1);
  });

  test('an image already listed, or settings that cannot be written, is taken without adding', async () => {
    const { added, taken, Probe } = setup();
    const r = await render(<Probe image="busybox" listed={['busybox']} />);
    await rerender(r, <Probe image={null} />);
    await rerender(r, <Probe image="alpine" readOnly />);
    expect(added).toEqual([]);
    expect(taken()).toBe(2);
  });

  test('the same image asked for again after it was taken is added again', async () => {
    const { added, Probe } = setup();
    const r = await render(<Probe image="busybox" />);
    await rerender(r, <Probe image={null} />);
    await rerender(r, <Probe image="busybox" />);
    expect(added).toEqual(['busybox', 'busybox']);
  });
});
