import { API_INPUT_SCHEMAS } from './api-schema.js'
import { API_METHODS, type ApiMethodName, type ApiResult, type P2pdsApi } from './api.js'
import { InvalidInputError, toErrorDto, UnknownMethodError } from './errors.js'

/** Whether a string names a method of the contract. */
export function isApiMethod(name: string): name is ApiMethodName {
  return (API_METHODS as readonly string[]).includes(name)
}

/**
 * Validates the input and calls one API method by name, turning every failure into data.
 * The single entry point the IPC handlers and the local HTTP API use.
 */
export async function dispatchApiCall(api: P2pdsApi, method: string, input: unknown): Promise<ApiResult<unknown>> {
  try {
    if (!isApiMethod(method)) throw new UnknownMethodError(method)
    const parsed = API_INPUT_SCHEMAS[method].safeParse(input)
    if (!parsed.success) {
      const issue = parsed.error.issues[0]
      const where = issue?.path.length ? ` at ${issue.path.join('.')}` : ''
      throw new InvalidInputError(`Invalid input for ${method}${where}: ${issue?.message ?? 'rejected'}.`)
    }
    const [area, name] = method.split('.') as [keyof P2pdsApi, string]
    const group = api[area] as unknown as Record<string, (i: unknown) => Promise<unknown>>
    const fn = group[name]
    if (fn === undefined) throw new UnknownMethodError(method)
    const value = await fn.call(group, parsed.data)
    return { ok: true, value }
  } catch (err) {
    return { ok: false, error: toErrorDto(err) }
  }
}
