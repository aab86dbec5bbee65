'use strict';
/**
 * One REST call to the gateway for the scripts (demo, load-bench): bearer token, JSON bodies, raw
 * bytes or multipart as given, a bounded wait, and the problem+json detail in the error.
 */
async function gatewayApi(base, token, method, route, body, headers = {}, timeoutMs = 60_000) {
  const raw = body instanceof Uint8Array || body instanceof FormData;
  const res = await fetch(`${base}${route}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined && !raw ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : raw ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = { raw: text };
  }
  if (!res.ok)
    throw new Error(`${method} ${route} -> ${res.status}: ${json.detail || json.title || text.slice(0, 300)}`);
  return json;
}

module.exports = { gatewayApi };
