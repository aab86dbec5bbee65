/**
 * Text as both engines can store it: PostgreSQL's text cannot hold NUL (SQLite's can), so NUL
 * becomes U+FFFD. For text the gateway must keep whatever it says (worker errors, audit rows);
 * text from API requests is refused instead (NoNulCharactersPipe).
 */
export function storableText<T extends string | null | undefined>(s: T): T {
  return (typeof s === 'string' && s.includes('\u0000') ? s.replaceAll('\u0000', '\uFFFD') : s) as T;
}
