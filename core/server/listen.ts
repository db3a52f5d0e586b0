import type { Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { createAdaptorServer, type HttpBindings } from '@hono/node-server'
import type { Hono } from 'hono'
import { P2pdsError } from '../errors.js'

/** A listening HTTP server. */
export interface Listening {
  /** The port actually bound (useful when 0 was asked for). */
  readonly port: number
  readonly host: string
  /** Stops accepting, ends open connections (event streams included) and resolves when closed. */
  close(): Promise<void>
}

/** A listener could not bind its address. */
export class ListenError extends P2pdsError {
  override name = 'ListenError'
  override readonly code = 'ERR_LISTEN'
}

/** Starts a Hono app on host:port; rejects with a sentence when the address cannot be bound. */
export async function listen(app: Hono<{ Bindings: HttpBindings }>, host: string, port: number, what: string): Promise<Listening> {
  const server = createAdaptorServer({ fetch: app.fetch, hostname: host }) as Server
  const sockets = new Set<Socket>()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const reason =
        err.code === 'EADDRINUSE'
          ? `port ${port} is already in use; choose another one`
          : err.code === 'EACCES'
            ? `port ${port} needs privileges; choose one above 1023`
            : err.message
      reject(new ListenError(`Could not start the ${what} on ${host}:${port}: ${reason}.`, { cause: err }))
    }
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  return {
    port: address.port,
    host,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeIdleConnections()
        // Long-lived responses (event streams) would keep close() waiting forever.
        for (const s of sockets) s.destroy()
      }),
  }
}
