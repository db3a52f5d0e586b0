/**
 * Runtime input validation for every API method, used by every binding (IPC, local HTTP API,
 * CLI) before a call reaches the node. Keyed by method name; `tsc` fails if one is missing.
 */
import { z } from 'zod'
import type { ApiInput, ApiMethodName } from './api.js'

const noInput = z.undefined()

export const API_INPUT_SCHEMAS: { [N in ApiMethodName]: z.ZodType<ApiInput<N>> } = {
  'node.status': noInput,
  'node.info': noInput,
}
