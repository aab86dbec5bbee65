import type { IncomingMessage } from 'node:http';

/** How long what a client still sends of a refused body is read and dropped before the connection closes. */
export const REFUSED_BODY_LINGER_MS = 5000;

/**
 * For a request whose body is refused before or while it is read (413, a failed admission, a read
 * past its time bound): discards what the client still sends, for at most `lingerMs`, then closes
 * the connection. Closing at once, with
 * the client's bytes unread, makes the kernel reset the connection, and a client still sending
 * then loses the answer with it (it sees EPIPE or ECONNRESET instead of the 413). A body that ends
 * within the bound leaves the connection usable; one that does not (gigabytes, a slow sender)
 * cannot hold it longer.
 */
export function drainRefusedBody(req: IncomingMessage, lingerMs = REFUSED_BODY_LINGER_MS): void {
  if (req.complete) return;
  const timer = setTimeout(() => req.socket.destroy(), lingerMs);
  timer.unref();
  const done = () => clearTimeout(timer);
  req.once('end', done);
  req.once('close', done);
  req.resume();
}
