import { boundaryOf, firstFilePart } from './multipart';

describe('multipart image extraction', () => {
  const body = (parts: string[], b = 'XyZ') =>
    Buffer.from(parts.map((p) => `--${b}\r\n${p}\r\n`).join('') + `--${b}--\r\n`, 'latin1');

  it('reads the boundary, quoted or not, only for multipart/form-data', () => {
    expect(boundaryOf('multipart/form-data; boundary=XyZ')).toBe('XyZ');
    expect(boundaryOf('multipart/form-data; boundary="a b"')).toBe('a b');
    expect(boundaryOf('image/png')).toBeUndefined();
    expect(boundaryOf(undefined)).toBeUndefined();
  });

  it('prefers the field named image or file, else the first file part', () => {
    const b = body([
      'Content-Disposition: form-data; name="note"\r\n\r\nhello',
      'Content-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\nPNGDATA',
    ]);
    expect(firstFilePart(b, 'XyZ')?.toString()).toBe('PNGDATA');
    const c = body(['Content-Disposition: form-data; name="other"; filename="x.jpg"\r\n\r\nJPG']);
    expect(firstFilePart(c, 'XyZ')?.toString()).toBe('JPG');
    expect(firstFilePart(body(['Content-Disposition: form-data; name="note"\r\n\r\nhi']), 'XyZ')).toBeUndefined();
    expect(firstFilePart(Buffer.from('garbage'), 'XyZ')).toBeUndefined();
  });
});
