/**
 * Minimal multipart/form-data reader for the image endpoints: returns the first file part
 * (or the part named `image`/`file`) from an already size-capped body, without copying it.
 */
export function boundaryOf(contentType: string | undefined): string | undefined {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return undefined;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return m ? (m[1] ?? m[2]) : undefined;
}

export function firstFilePart(body: Buffer, boundary: string): Buffer | undefined {
  const delim = Buffer.from(`--${boundary}`);
  let pos = body.indexOf(delim);
  let fallback: Buffer | undefined;
  while (pos >= 0) {
    const headStart = pos + delim.length;
    if (body.subarray(headStart, headStart + 2).toString() === '--') break; // closing delimiter
    const headEnd = body.indexOf('\r\n\r\n', headStart);
    if (headEnd < 0) break;
    const headers = body.toString('utf8', headStart, headEnd);
    const next = body.indexOf(Buffer.concat([Buffer.from('\r\n'), delim]), headEnd + 4);
    if (next < 0) break;
    const content = body.subarray(headEnd + 4, next);
    const name = /name="([^"]*)"/i.exec(headers)?.[1];
    const isFile = /filename=/i.test(headers);
    if (name === 'image' || name === 'file') return content;
    if (isFile && !fallback) fallback = content;
    pos = next + 2;
  }
  return fallback;
}
