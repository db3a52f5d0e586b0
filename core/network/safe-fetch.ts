/**
 * A `fetch` for URLs that arrive from the network: PDS endpoints in DID documents, did:web hosts,
 * handle `/.well-known` hosts, peer endpoints. Anyone can write such a URL, so it may point at
 * this computer (`http://127.0.0.1:…/admin`), the LAN, or a cloud metadata service
 * (`169.254.169.254`). Unless `allowPrivateNetwork` is set, those are refused:
 *
 * - only `http:` and `https:` URLs, without user name or password;
 * - a literal IP host is classified before anything is sent (Node does no DNS lookup for it);
 * - a host name is resolved *at connect time* by the socket's own `lookup`, which refuses the
 *   connection if any resolved address is not public. The socket then connects to exactly the
 *   addresses that were checked, so a DNS answer that changes between a check and the connect
 *   (DNS rebinding) cannot slip through: there is no separate check to race;
 * - redirects are followed by hand (at most {@link SafeFetchInit.maxRedirects}) and every hop
 *   goes through the same checks.
 *
 * Responses are bounded: a Content-Length above `maxBytes` is refused before reading, and the
 * body is counted as it streams. Time is bounded: `timeoutMs` for the answer's headers (all
 * redirect hops together), then `timeoutMs` for each chunk of the body (a server that stalls
 * mid-body fails; a large body arriving steadily does not).
 *
 * Transport is undici's `fetch` with undici `Agent`s (the `undici` package, not Node's bundled
 * copy, so the dispatcher and the fetch come from the same undici version).
 */
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import { Agent, fetch as undiciFetch } from 'undici'
import {
  AbortError,
  FetchFailedError,
  FetchTimeoutError,
  P2pdsError,
  ResponseTooLargeError,
  TooManyRedirectsError,
  UnsafeUrlError,
  type UnsafeUrlReason,
} from '../errors.js'

/** A `fetch`-compatible function (what `createSafeFetch` returns). */
export type SafeFetch = (input: string | URL | Request, init?: RequestInit) => Promise<Response>

/**
 * What the safe fetch sends each single request (one redirect hop) through. It receives undici's
 * `dispatcher` option and must honour it, or the connect-time address check is skipped: pass
 * undici's own `fetch` (possibly wrapped, e.g. to count calls), not Node's global `fetch`.
 */
export type TransportFetch = (
  url: string,
  init: RequestInit & { redirect: 'manual'; signal: AbortSignal; dispatcher: Agent },
) => Promise<Response>

/** Resolves a host name to every address it has (like `dns.lookup(name, { all: true })`). */
export type AddressLookup = (hostname: string) => Promise<LookupAddress[]>

/** How to build a {@link SafeFetch}. */
export interface SafeFetchInit {
  /**
   * Allow loopback, private, link-local and other non-public addresses (tests, home networks).
   * Config: `ALLOW_PRIVATE_NETWORK`.
   */
  allowPrivateNetwork: boolean
  /** Longest wait for the headers (all redirects included), then for each body chunk, in ms. */
  timeoutMs: number
  /** Largest response body accepted, in bytes (declared or streamed). */
  maxBytes: number
  /** Sends each request. @default undici's `fetch` */
  fetch?: TransportFetch
  /** Name resolution used at connect time (and by {@link checkUrlSafety}). @default `dns.lookup` with `all: true` */
  lookup?: AddressLookup
  /**
   * Origins (`http://localhost:2582`) exempt from the address rules, for endpoints the operator
   * configured (PLC directory, handle resolver) rather than ones that came from the network. A
   * redirect away from such an origin is checked as usual. @default []
   */
  trustedOrigins?: readonly string[]
  /** Redirects followed before giving up. @default 5 */
  maxRedirects?: number
}

// --- Address classification --------------------------------------------------------------------

/** What kind of address an IP is: `public`, or why it is refused. */
export type AddressKind = 'public' | Exclude<UnsafeUrlReason, 'protocol' | 'credentials'>

type Range = readonly [prefix: readonly number[], bits: number, kind: AddressKind]

// IANA special-purpose registries (RFC 6890 and successors). Anything not listed is public.
const IPV4_RANGES: readonly Range[] = [
  [[0], 8, 'unspecified'], // "this network"
  [[10], 8, 'private'],
  [[100, 64], 10, 'carrier-grade-nat'],
  [[127], 8, 'loopback'],
  [[169, 254], 16, 'link-local'], // includes the cloud metadata address 169.254.169.254
  [[172, 16], 12, 'private'],
  [[192, 0, 0], 24, 'reserved'], // IETF protocol assignments
  [[192, 0, 2], 24, 'reserved'], // TEST-NET-1
  [[192, 88, 99], 24, 'reserved'], // 6to4 relay anycast (deprecated)
  [[192, 168], 16, 'private'],
  [[198, 18], 15, 'reserved'], // benchmarking
  [[198, 51, 100], 24, 'reserved'], // TEST-NET-2
  [[203, 0, 113], 24, 'reserved'], // TEST-NET-3
  [[224], 4, 'multicast'],
  [[240], 4, 'reserved'], // includes broadcast 255.255.255.255
]

// IPv6 prefixes as bytes. IPv6 forms that embed an IPv4 address are handled in classifyV6.
const IPV6_RANGES: readonly Range[] = [
  [[0x00, 0x64, 0xff, 0x9b, 0x00, 0x01], 48, 'private'], // 64:ff9b:1::/48 local-use NAT64
  [[0x01, 0x00, 0, 0, 0, 0, 0, 0], 64, 'reserved'], // 100::/64 discard-only
  [[0x20, 0x01, 0x0d, 0xb8], 32, 'reserved'], // 2001:db8::/32 documentation
  [[0xfc], 7, 'unique-local'], // fc00::/7
  [[0xfe, 0x80], 10, 'link-local'], // fe80::/10
  [[0xfe, 0xc0], 10, 'private'], // fec0::/10 site-local (deprecated)
  [[0xff], 8, 'multicast'], // ff00::/8
]

function matches(bytes: Uint8Array, prefix: readonly number[], bits: number): boolean {
  for (let i = 0; i * 8 < bits; i++) {
    const take = Math.min(8, bits - i * 8)
    const mask = (0xff << (8 - take)) & 0xff
    if (((bytes[i] ?? 0) & mask) !== ((prefix[i] ?? 0) & mask)) return false
  }
  return true
}

function parseIpv4(s: string): Uint8Array | null {
  const parts = s.split('.')
  if (parts.length !== 4) return null
  const out = new Uint8Array(4)
  for (const [i, p] of parts.entries()) {
    if (!/^\d{1,3}$/.test(p) || Number(p) > 255) return null
    out[i] = Number(p)
  }
  return out
}

function parseIpv6(input: string): Uint8Array | null {
  let s = input
  const zone = s.indexOf('%') // fe80::1%eth0
  if (zone !== -1) s = s.slice(0, zone)
  // A trailing dotted IPv4 (::ffff:1.2.3.4) becomes two hextets.
  const lastColon = s.lastIndexOf(':')
  if (s.includes('.', lastColon)) {
    const v4 = parseIpv4(s.slice(lastColon + 1))
    if (v4 === null) return null
    s = `${s.slice(0, lastColon + 1)}${((v4[0]! << 8) | v4[1]!).toString(16)}:${((v4[2]! << 8) | v4[3]!).toString(16)}`
  }
  const halves = s.split('::')
  if (halves.length > 2) return null
  const parse = (part: string): number[] | null => {
    if (part === '') return []
    const groups = part.split(':')
    if (!groups.every((g) => /^[0-9a-f]{1,4}$/i.test(g))) return null
    return groups.map((g) => parseInt(g, 16))
  }
  const head = parse(halves[0] ?? '')
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : []
  if (head === null || tail === null) return null
  const missing = 8 - head.length - tail.length
  if (halves.length === 2 ? missing < 1 : missing !== 0) return null
  const groups = [...head, ...new Array<number>(missing).fill(0), ...tail]
  const out = new Uint8Array(16)
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8
    out[2 * i + 1] = g & 0xff
  })
  return out
}

function classifyV4(bytes: Uint8Array): AddressKind {
  for (const [prefix, bits, kind] of IPV4_RANGES) if (matches(bytes, prefix, bits)) return kind
  return 'public'
}

function classifyV6(bytes: Uint8Array): AddressKind {
  const zeros = (from: number, to: number) => bytes.subarray(from, to).every((b) => b === 0)
  if (zeros(0, 16)) return 'unspecified' // ::
  if (zeros(0, 15) && bytes[15] === 1) return 'loopback' // ::1
  // ::ffff:a.b.c.d (IPv4-mapped): the socket really talks IPv4 to a.b.c.d.
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return classifyV4(bytes.subarray(12))
  // ::a.b.c.d (IPv4-compatible, deprecated) and other ::/96 addresses.
  if (zeros(0, 12)) return 'reserved'
  // 64:ff9b::/96 (NAT64) and 2002::/16 (6to4) reach the embedded IPv4 address.
  if (matches(bytes, [0x00, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0], 96)) return classifyV4(bytes.subarray(12))
  if (matches(bytes, [0x20, 0x02], 16)) return classifyV4(bytes.subarray(2, 6))
  for (const [prefix, bits, kind] of IPV6_RANGES) if (matches(bytes, prefix, bits)) return kind
  return 'public'
}

/**
 * Classifies an IP address (IPv4 dotted, or IPv6 with or without brackets and zone).
 * @throws RangeError when `address` is not an IP address
 */
export function classifyAddress(address: string): AddressKind {
  const s = address.startsWith('[') && address.endsWith(']') ? address.slice(1, -1) : address
  const v4 = parseIpv4(s)
  if (v4 !== null) return classifyV4(v4)
  const v6 = s.includes(':') ? parseIpv6(s) : null
  if (v6 !== null) return classifyV6(v6)
  throw new RangeError(`not an IP address: ${JSON.stringify(address)}`)
}

// --- URL checks --------------------------------------------------------------------------------

/** The host of a URL without IPv6 brackets. */
function bareHost(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
}

/**
 * Everything that can be decided from the URL alone: scheme, credentials and, unless private
 * addresses are allowed, a literal IP host. Throws {@link UnsafeUrlError}.
 */
function checkUrlSyntax(url: URL, allowPrivateNetwork: boolean): void {
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UnsafeUrlError(url.protocol.replace(/:$/, ''), 'protocol')
  if (url.username !== '' || url.password !== '') throw new UnsafeUrlError(url.hostname, 'credentials')
  if (allowPrivateNetwork) return
  const host = bareHost(url)
  if (isIP(host) !== 0) {
    const kind = classifyAddress(host)
    if (kind !== 'public') throw new UnsafeUrlError(url.hostname, kind)
  }
}

function checkAddresses(host: string, addresses: readonly LookupAddress[]): void {
  for (const { address } of addresses) {
    const kind = classifyAddress(address)
    if (kind !== 'public') throw new UnsafeUrlError(host, kind, address)
  }
}

const defaultLookup: AddressLookup = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, order: 'verbatim' }, (err, addresses) => (err ? reject(err) : resolve(addresses)))
  })

/** Options of {@link checkUrlSafety}. */
export interface CheckUrlOptions {
  allowPrivateNetwork: boolean
  /** @default `dns.lookup` with `all: true` */
  lookup?: AddressLookup
  signal?: AbortSignal
}

/**
 * Checks a URL against the safe-fetch rules now, resolving its host name: for refusing a bad URL
 * early (e.g. a PDS endpoint in a DID document) with a clear error. It grants nothing: the safe
 * fetch checks again at connect time.
 *
 * @throws UnsafeUrlError when the URL is refused
 * @throws FetchFailedError when the URL does not parse or its host name does not resolve
 */
export async function checkUrlSafety(url: string | URL, options: CheckUrlOptions): Promise<void> {
  const parsed = parseUrl(url)
  checkUrlSyntax(parsed, options.allowPrivateNetwork)
  const host = bareHost(parsed)
  if (options.allowPrivateNetwork || isIP(host) !== 0) return
  let addresses: LookupAddress[]
  try {
    addresses = await raceAbort((options.lookup ?? defaultLookup)(host), options.signal)
  } catch (err) {
    if (err instanceof P2pdsError) throw err
    throw new FetchFailedError(parsed.host, describeCause(err), { cause: err })
  }
  if (addresses.length === 0) throw new FetchFailedError(parsed.host, 'the name has no address')
  checkAddresses(parsed.hostname, addresses)
}

function parseUrl(url: string | URL): URL {
  if (url instanceof URL) return url
  try {
    return new URL(url)
  } catch (err) {
    throw new FetchFailedError(String(url).slice(0, 100), 'it is not a valid URL', { cause: err })
  }
}

/** The socket `lookup` of the guarded agent: resolves, refuses any non-public address, connects to the rest. */
function guardedLookup(resolveAll: AddressLookup) {
  return (
    hostname: string,
    options: LookupOptions,
    callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void,
  ): void => {
    resolveAll(hostname).then(
      (addresses) => {
        try {
          checkAddresses(hostname, addresses)
        } catch (err) {
          callback(err as UnsafeUrlError, [])
          return
        }
        const family = options.family === 4 || options.family === 6 ? options.family : undefined
        const usable = family === undefined ? addresses : addresses.filter((a) => a.family === family)
        const first = usable[0]
        if (first === undefined) {
          callback(Object.assign(new Error(`${hostname} has no usable address`), { code: 'ENOTFOUND' }), [])
        } else if (options.all === true) {
          callback(null, usable)
        } else {
          callback(null, first.address, first.family)
        }
      },
      (err: NodeJS.ErrnoException) => callback(err, []),
    )
  }
}

// --- The fetch ---------------------------------------------------------------------------------

const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308])
const NULL_BODY_STATUSES = new Set([101, 103, 204, 205, 304])
const CROSS_ORIGIN_DROPPED_HEADERS = ['authorization', 'cookie', 'proxy-authorization']

/** Builds a {@link SafeFetch}. The agents it holds live as long as the function. */
export function createSafeFetch(init: SafeFetchInit): SafeFetch {
  const transport = init.fetch ?? (undiciFetch as unknown as TransportFetch)
  const resolveAll = init.lookup ?? defaultLookup
  const maxRedirects = init.maxRedirects ?? 5
  const { allowPrivateNetwork, timeoutMs, maxBytes } = init
  const trusted = new Set((init.trustedOrigins ?? []).map((o) => new URL(o).origin))
  const openAgent = new Agent()
  const guardedAgent = allowPrivateNetwork ? openAgent : new Agent({ connect: { lookup: guardedLookup(resolveAll) } })

  return async function safeFetch(input, requestInit) {
    const first = parseUrl(input instanceof Request ? input.url : input)
    checkUrlSyntax(first, allowPrivateNetwork || trusted.has(first.origin))
    const request = input instanceof Request ? new Request(input, requestInit) : new Request(first, requestInit)
    if (request.signal.aborted) throw new AbortError()
    const mode = request.redirect
    // Read once so it can be re-sent on a 307/308. Network-supplied URLs get small requests.
    let body: ArrayBuffer | undefined = request.body === null ? undefined : await request.arrayBuffer()
    let method = request.method
    const headers = new Headers(request.headers)

    const timeout = new AbortController()
    const signal = AbortSignal.any([request.signal, timeout.signal])
    let url = first
    const fail = (err: unknown): never => {
      throw mapError(err, url, { timeout: timeout.signal, caller: request.signal, timeoutMs })
    }
    const timer = setTimeout(() => timeout.abort(new FetchTimeoutError(url.host, timeoutMs)), timeoutMs)
    try {
      for (let hop = 0; ; hop++) {
        checkUrlSyntax(url, allowPrivateNetwork || trusted.has(url.origin))
        const dispatcher = trusted.has(url.origin) ? openAgent : guardedAgent
        const res = await transport(url.href, { method, headers, body, redirect: 'manual', signal, dispatcher }).catch(fail)
        const location = res.headers.get('location')
        if (!REDIRECT_STATUSES.has(res.status) || location === null || mode === 'manual') {
          return wrapResponse(res, url, hop > 0, method, { maxBytes, timeoutMs, timeout, caller: request.signal, fail: (e) => fail(e) })
        }
        await res.body?.cancel().catch(() => undefined)
        if (mode === 'error') throw new FetchFailedError(url.host, 'it answered with a redirect, which this request does not follow')
        if (hop >= maxRedirects) throw new TooManyRedirectsError(url.host, maxRedirects)
        let next: URL
        try {
          next = new URL(location, url)
        } catch (err) {
          throw new FetchFailedError(url.host, 'it redirected to an invalid URL', { cause: err })
        }
        // Same method changes as the Fetch standard (§4.4 HTTP-redirect fetch).
        if ((res.status === 303 && method !== 'GET' && method !== 'HEAD') || ((res.status === 301 || res.status === 302) && method === 'POST')) {
          method = 'GET'
          body = undefined
          for (const h of ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-location']) headers.delete(h)
        }
        if (next.origin !== url.origin) for (const h of CROSS_ORIGIN_DROPPED_HEADERS) headers.delete(h)
        url = next
      }
    } catch (err) {
      return fail(err)
    } finally {
      clearTimeout(timer)
    }
  }
}

interface BodyLimits {
  maxBytes: number
  timeoutMs: number
  timeout: AbortController
  caller: AbortSignal
  fail: (err: unknown) => never
}

async function wrapResponse(res: Response, url: URL, redirected: boolean, method: string, limits: BodyLimits): Promise<Response> {
  const { maxBytes, timeoutMs, timeout } = limits
  const upstream = res.body
  let stream: ReadableStream<Uint8Array> | null = null
  if (NULL_BODY_STATUSES.has(res.status) || method === 'HEAD' || upstream === null) {
    await upstream?.cancel().catch(() => undefined)
  } else {
    const declared = res.headers.get('content-length')
    if (declared !== null && /^\d+$/.test(declared) && Number(declared) > maxBytes) {
      await upstream.cancel().catch(() => undefined)
      throw new ResponseTooLargeError(url.host, maxBytes, Number(declared))
    }
    const reader = upstream.getReader()
    let received = 0
    stream = new ReadableStream<Uint8Array>(
      {
        async pull(controller) {
          // The per-chunk timer runs only while waiting on the server, not while the reader is idle.
          const timer = setTimeout(() => timeout.abort(new FetchTimeoutError(url.host, timeoutMs)), timeoutMs)
          let chunk: ReadableStreamReadResult<Uint8Array>
          try {
            chunk = await reader.read()
          } catch (err) {
            limits.fail(err)
            return
          } finally {
            clearTimeout(timer)
          }
          if (chunk.done) {
            controller.close()
            return
          }
          received += chunk.value.byteLength
          if (received > maxBytes) {
            await reader.cancel().catch(() => undefined)
            throw new ResponseTooLargeError(url.host, maxBytes)
          }
          controller.enqueue(chunk.value)
        },
        cancel(reason) {
          return reader.cancel(reason)
        },
      },
      { highWaterMark: 0 },
    )
  }
  const out = new Response(stream, { status: res.status, statusText: res.statusText, headers: res.headers })
  Object.defineProperty(out, 'url', { value: url.href })
  Object.defineProperty(out, 'redirected', { value: redirected })
  return out
}

interface ErrorContext {
  timeout: AbortSignal
  caller: AbortSignal
  timeoutMs: number
}

/** Turns whatever undici, DNS or a stream threw into one of our errors. */
function mapError(err: unknown, url: URL, ctx: ErrorContext): P2pdsError {
  if (ctx.caller.aborted) {
    // A caller's `AbortSignal.timeout()` (as @atproto/identity passes) is a time limit, not a cancel.
    const reason: unknown = ctx.caller.reason
    return reason instanceof DOMException && reason.name === 'TimeoutError' ? new FetchTimeoutError(url.host, ctx.timeoutMs) : new AbortError()
  }
  if (ctx.timeout.aborted) return ctx.timeout.reason instanceof FetchTimeoutError ? ctx.timeout.reason : new FetchTimeoutError(url.host, ctx.timeoutMs)
  const ours = findCause(err, (e) => e instanceof P2pdsError)
  if (ours instanceof P2pdsError) return ours
  return new FetchFailedError(url.host, describeCause(err), { cause: err })
}

function findCause(err: unknown, test: (e: unknown) => boolean, depth = 0): unknown {
  if (depth > 8 || err === null || err === undefined) return undefined
  if (test(err)) return err
  if (err instanceof AggregateError) {
    for (const e of err.errors) {
      const found = findCause(e, test, depth + 1)
      if (found !== undefined) return found
    }
  }
  return err instanceof Error ? findCause(err.cause, test, depth + 1) : undefined
}

const CODE_TEXT: Record<string, string> = {
  ENOTFOUND: 'the name does not resolve (DNS)',
  EAI_AGAIN: 'the name could not be resolved right now (DNS)',
  ECONNREFUSED: 'the connection was refused',
  ECONNRESET: 'the connection was reset',
  EHOSTUNREACH: 'the host is unreachable',
  ENETUNREACH: 'the network is unreachable',
  ETIMEDOUT: 'the connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'the connection timed out',
  UND_ERR_SOCKET: 'the connection broke',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another name',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate cannot be verified',
}

function describeCause(err: unknown): string {
  const coded = findCause(err, (e) => typeof (e as { code?: unknown } | null)?.code === 'string') as { code: string; message?: string } | undefined
  if (coded !== undefined) return CODE_TEXT[coded.code] ?? `${coded.code}`
  const inner = findCause(err, (e) => e instanceof Error && e.cause === undefined)
  return inner instanceof Error && inner.message !== '' ? inner.message : 'the request failed'
}

/** Rejects with {@link AbortError} as soon as `signal` aborts, whatever `promise` does. */
export function raceAbort<T>(promise: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal === undefined) return promise
  if (signal.aborted) {
    promise.catch(() => undefined)
    return Promise.reject(new AbortError())
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(new AbortError())
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (v) => {
        signal.removeEventListener('abort', onAbort)
        resolve(v)
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort)
        reject(e as Error)
      },
    )
  })
}
