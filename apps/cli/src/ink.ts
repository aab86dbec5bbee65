/**
 * Ink (and the React it renders with) for the interactive views. Ink is an ES module with
 * top-level await, so it is loaded with import(), which this app's build (module node16) keeps
 * as a real dynamic import; React itself is CommonJS and shared with Ink through the module cache.
 */
export type Ink = typeof import('ink', { with: { 'resolution-mode': 'import' } });

export function loadInk(): Promise<Ink> {
  return import('ink');
}
