import { CappedOutput, trimIncompleteUtf8 } from '../../../runners/local/capped-output';

describe('CappedOutput', () => {
  it('keeps everything under the cap and is not truncated', () => {
    const out = new CappedOutput(10);
    out.push(Buffer.from('hello'));
    out.push(Buffer.from('world'));
    expect(out.text()).toBe('helloworld');
    expect(out.truncated).toBe(false);
    expect(out.totalBytes).toBe(10);
  });

  it('keeps the first cap bytes across chunks and counts the rest', () => {
    const out = new CappedOutput(7);
    out.push(Buffer.from('hello'));
    out.push(Buffer.from('world'));
    out.push(Buffer.from('!!!'));
    expect(out.text()).toBe('hellowo');
    expect(out.truncated).toBe(true);
    expect(out.totalBytes).toBe(13);
  });

  it('keeps the end of the stream in the tail even when the head is truncated', () => {
    const out = new CappedOutput(4, 8);
    for (let i = 0; i < 100; i++) out.push(Buffer.from(`line ${i}\n`));
    expect(out.tail()).toBe('line 99\n');
    expect(out.text()).toBe('line');
  });

  it('stores nothing with a zero cap but still counts', () => {
    const out = new CappedOutput(0);
    out.push(Buffer.from('x'));
    expect(out.text()).toBe('');
    expect(out.truncated).toBe(true);
  });
});

describe('trimIncompleteUtf8', () => {
  it.each([
    ['a 2-byte character', 'é', 1],
    ['a 3-byte character', '€', 2],
    ['a 4-byte character', '😀', 3],
  ])('drops %s cut short at the end', (_name, char, keep) => {
    const cut = Buffer.concat([Buffer.from('ab'), Buffer.from(char).subarray(0, keep)]);
    expect(trimIncompleteUtf8(cut).toString('utf8')).toBe('ab');
  });

  it('keeps complete characters', () => {
    const whole = Buffer.from('aé€😀');
    expect(trimIncompleteUtf8(whole)).toEqual(whole);
  });

  it('handles an empty buffer', () => {
    expect(trimIncompleteUtf8(Buffer.alloc(0))).toHaveLength(0);
  });
});
